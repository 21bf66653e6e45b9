// Short notifications stacked at the bottom of the chat area; each closes by itself after a
// few seconds (errors stay longer) or with ×.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import LatentChat

Column {
    id: root

    // kind: "info" | "error"
    function show(text, kind) {
        toastModel.append({ message: text, kind: kind || "info" })
        if (toastModel.count > 4)
            toastModel.remove(0)
    }

    spacing: Theme.spacing
    width: 460

    ListModel {
        id: toastModel
    }

    Repeater {
        model: toastModel
        delegate: Rectangle {
            id: toast
            required property int index
            required property string message
            required property string kind
            width: root.width
            implicitHeight: toastRow.implicitHeight + 20
            radius: Theme.radius
            color: Theme.surface
            border.width: 1
            border.color: kind === "error" ? Theme.danger : Theme.border

            Timer {
                running: true
                interval: toast.kind === "error" ? 9000 : 4500
                onTriggered: toastModel.remove(toast.index)
            }

            RowLayout {
                id: toastRow
                anchors.fill: parent
                anchors.margins: 10
                anchors.leftMargin: 14
                Rectangle {
                    Layout.alignment: Qt.AlignVCenter
                    width: 8
                    height: 8
                    radius: 4
                    color: toast.kind === "error" ? Theme.danger : Theme.accent
                }
                Text {
                    objectName: "toastText"
                    Layout.fillWidth: true
                    text: toast.message
                    wrapMode: Text.Wrap
                    color: Theme.text
                    font.pixelSize: Theme.fontSize - 1
                }
                IconButton {
                    Layout.alignment: Qt.AlignTop
                    size: 24
                    text: "\u00D7"
                    tip: qsTr("Dismiss")
                    onClicked: toastModel.remove(toast.index)
                }
            }
        }
    }
}
