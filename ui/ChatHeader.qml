// The bar above the chat: the conversation's title and the model button (name and state; opens
// the model drawer).
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import LatentChat

Rectangle {
    id: root

    property string title
    required property ModelController modelController

    signal modelButtonClicked()

    implicitHeight: 56
    color: Theme.background

    RowLayout {
        anchors.fill: parent
        anchors.leftMargin: 20
        anchors.rightMargin: 12
        spacing: Theme.spacing

        Text {
            objectName: "chatTitle"
            Layout.fillWidth: true
            text: root.title
            elide: Text.ElideRight
            color: Theme.text
            font.pixelSize: Theme.fontSize + 2
            font.weight: Font.DemiBold
        }

        AbstractButton {
            id: modelButton
            objectName: "modelButton"
            hoverEnabled: true
            implicitHeight: 34
            implicitWidth: Math.min(modelRow.implicitWidth + 24, root.width * 0.5)
            onClicked: root.modelButtonClicked()
            ToolTip.visible: hovered
            ToolTip.text: qsTr("Open, unload or inspect the model")
            ToolTip.delay: 600

            background: Rectangle {
                radius: 17
                color: modelButton.down ? Theme.border : modelButton.hovered ? Theme.selection : Theme.surface
                border.width: 1
                border.color: Theme.border
            }
            contentItem: RowLayout {
                id: modelRow
                spacing: 8
                Rectangle {
                    Layout.leftMargin: 12
                    width: 8
                    height: 8
                    radius: 4
                    color: root.modelController.loaded ? "#2eaa5c"
                           : root.modelController.state === "loading" ? Theme.warning : Theme.textMuted
                }
                Text {
                    Layout.fillWidth: true
                    Layout.rightMargin: 12
                    text: root.modelController.loaded ? (root.modelController.facts.name || qsTr("Model loaded"))
                          : root.modelController.state === "loading"
                            ? qsTr("Loading… %1 %").arg(Math.round(root.modelController.progress * 100))
                            : qsTr("No model — open one")
                    elide: Text.ElideRight
                    color: Theme.text
                    font.pixelSize: Theme.fontSize - 1
                }
            }
        }
    }

    Rectangle {
        anchors.bottom: parent.bottom
        width: parent.width
        height: 1
        color: Theme.border
    }
}
