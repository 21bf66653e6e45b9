// The thin line under the composer: speed, time to first token and context use of the last
// answer ("9.3 tokens/s · first token 0.42 s · context 812 / 4096"), or the model's loading
// state; the backend at the right.
import QtQuick
import QtQuick.Layouts
import LatentChat

Item {
    id: root

    required property ChatController chat
    required property ModelController modelController

    readonly property string statusText: {
        if (root.modelController.state === "loading")
            return qsTr("Loading the model… %1 %").arg(Math.round(root.modelController.progress * 100))
        const parts = []
        if (root.chat.generating)
            parts.push(qsTr("Generating"))
        if (root.chat.tokensPerSecond > 0)
            parts.push(qsTr("%1 tokens/s").arg(root.chat.tokensPerSecond.toFixed(1)))
        if (root.chat.timeToFirstTokenMs > 0)
            parts.push(qsTr("first token %1 s").arg((root.chat.timeToFirstTokenMs / 1000).toFixed(2)))
        if (root.chat.contextSize > 0)
            parts.push(qsTr("context %1 / %2").arg(root.chat.contextUsed).arg(root.chat.contextSize))
        if (parts.length > 0)
            return parts.join(" · ")
        return root.modelController.loaded ? qsTr("Ready") : qsTr("No model loaded")
    }

    implicitHeight: 26

    RowLayout {
        anchors.fill: parent
        anchors.leftMargin: 8
        anchors.rightMargin: 8
        spacing: Theme.spacing

        Text {
            objectName: "statusText"
            Layout.fillWidth: true
            text: root.statusText
            elide: Text.ElideRight
            color: Theme.textMuted
            font.pixelSize: Theme.fontSize - 3
        }
        Text {
            visible: root.modelController.loaded
            text: {
                const facts = root.modelController.facts
                return facts.backend ? qsTr("%1 · %2").arg(facts.fileName || facts.name || "").arg(String(facts.backend).toUpperCase())
                                     : ""
            }
            elide: Text.ElideMiddle
            Layout.maximumWidth: root.width / 2
            color: Theme.textMuted
            font.pixelSize: Theme.fontSize - 3
        }
    }
}
