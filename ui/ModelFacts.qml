// The facts of the loaded model as a two-column grid (label, value).
import QtQuick
import QtQuick.Layouts
import LatentChat

GridLayout {
    id: root

    property var facts: ({})

    function number(value) {
        const n = Number(value)
        return isNaN(n) ? "" : n.toLocaleString(Qt.locale(), "f", 0)
    }

    readonly property var rows: {
        const f = root.facts
        if (!f || !f.name)
            return []
        const list = []
        list.push([qsTr("Name"), f.name])
        list.push([qsTr("File"), f.fileSize ? qsTr("%1 (%2)").arg(f.fileName).arg(f.fileSize) : f.fileName])
        list.push([qsTr("Architecture"), f.architecture])
        if (f.chatFormat)
            list.push([qsTr("Chat format"), f.chatFormat])
        list.push([qsTr("Parameters"), f.activeParams ? qsTr("%1 total, %2 active per token").arg(f.totalParams).arg(f.activeParams)
                                                      : f.totalParams])
        list.push([qsTr("Quantisation"), f.quantization])
        list.push([qsTr("Context"), qsTr("%1 tokens allocated of %2 trained").arg(number(f.contextSize)).arg(number(f.trainedContext))])
        list.push([qsTr("Layers"), number(f.layers)])
        if (f.experts > 0) {
            const shared = f.sharedExperts > 0 ? qsTr(" + %1 shared").arg(f.sharedExperts) : ""
            list.push([qsTr("Experts"), qsTr("%1 of %2 routed per token%3").arg(f.expertsUsed).arg(f.experts).arg(shared)])
        } else {
            list.push([qsTr("Experts"), qsTr("none (dense model)")])
        }
        list.push([qsTr("KV cache per token"),
                   f.kvReduction ? qsTr("%1 with latent attention (MLA) vs %2 uncompressed: %3 smaller")
                                       .arg(f.kvPerTokenMla).arg(f.kvPerTokenMha).arg(f.kvReduction)
                                 : f.kvPerTokenMla])
        list.push([qsTr("KV cache, whole context"), f.kvCacheTotal])
        list.push([qsTr("Backend"), f.backendNote ? qsTr("%1 (%2)").arg(String(f.backend).toUpperCase()).arg(f.backendNote)
                                                  : String(f.backend).toUpperCase()])
        return list
    }

    columns: 2
    columnSpacing: 14
    rowSpacing: 7

    Repeater {
        model: root.rows.length * 2
        delegate: Text {
            required property int index
            readonly property bool isLabel: index % 2 === 0
            readonly property var row: root.rows[Math.floor(index / 2)]
            Layout.alignment: Qt.AlignTop
            Layout.fillWidth: !isLabel
            Layout.preferredWidth: isLabel ? implicitWidth : 10
            text: row ? String(row[isLabel ? 0 : 1] === undefined ? "" : row[isLabel ? 0 : 1]) : ""
            wrapMode: isLabel ? Text.NoWrap : Text.Wrap
            color: isLabel ? Theme.textMuted : Theme.text
            font.pixelSize: Theme.fontSize - 1
        }
    }
}
