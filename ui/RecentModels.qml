// A list of models: the recently opened ones (a click loads one, × forgets it; the file stays on
// disk), or, with removable false, the models of the shared folders an administrator set up.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import LatentChat

ColumnLayout {
    id: root

    property var paths: []
    property string title: qsTr("Recent models")
    property bool removable: true

    signal loadRequested(string path)
    signal removeRequested(string path)

    function fileName(path) {
        const parts = String(path).split(/[\\/]/)
        return parts[parts.length - 1]
    }
    function folder(path) {
        const text = String(path)
        const cut = Math.max(text.lastIndexOf("/"), text.lastIndexOf("\\"))
        return cut > 0 ? text.substring(0, cut) : ""
    }

    spacing: 2
    visible: paths.length > 0

    Text {
        Layout.bottomMargin: 4
        text: root.title
        color: Theme.textMuted
        font.pixelSize: Theme.fontSize - 2
        font.weight: Font.DemiBold
        font.capitalization: Font.AllUppercase
        font.letterSpacing: 0.5
    }

    Repeater {
        model: root.paths
        delegate: AbstractButton {
            id: row
            required property string modelData
            Layout.fillWidth: true
            implicitHeight: 46
            hoverEnabled: true
            onClicked: root.loadRequested(modelData)
            ToolTip.visible: hovered
            ToolTip.text: modelData
            ToolTip.delay: 800
            background: Rectangle {
                radius: Theme.radius
                color: row.hovered ? Theme.selection : "transparent"
            }
            contentItem: RowLayout {
                spacing: 6
                ColumnLayout {
                    Layout.fillWidth: true
                    Layout.leftMargin: 10
                    spacing: 1
                    Text {
                        Layout.fillWidth: true
                        text: root.fileName(row.modelData)
                        elide: Text.ElideMiddle
                        color: row.enabled ? Theme.text : Theme.textMuted
                        font.pixelSize: Theme.fontSize - 1
                    }
                    Text {
                        Layout.fillWidth: true
                        text: root.folder(row.modelData)
                        elide: Text.ElideMiddle
                        color: Theme.textMuted
                        font.pixelSize: Theme.fontSize - 3
                    }
                }
                IconButton {
                    objectName: "removeRecentButton"
                    Layout.rightMargin: 4
                    visible: row.hovered && root.removable
                    size: 24
                    text: "\u00D7"
                    tip: qsTr("Remove from this list (the file stays)")
                    onClicked: root.removeRequested(row.modelData)
                }
            }
        }
    }
}
