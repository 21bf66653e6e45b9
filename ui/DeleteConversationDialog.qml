// Asks before a conversation is deleted, naming it; accepted() deletes.
import QtQuick
import QtQuick.Controls
import LatentChat

Dialog {
    id: deleteDialog
    objectName: "deleteDialog"

    property double conversationId: 0
    property string conversationTitle: ""

    anchors.centerIn: parent
    width: 440
    modal: true
    padding: 20
    topPadding: 8
    title: qsTr("Delete “%1”?").arg(conversationTitle)
    onOpened: cancelDeleteButton.forceActiveFocus()
    background: Rectangle { color: Theme.surface; border.color: Theme.border; radius: Theme.radius }
    header: Text {
        text: deleteDialog.title
        padding: 20
        bottomPadding: 0
        elide: Text.ElideRight
        color: Theme.text
        font.pixelSize: Theme.fontSize + 3
        font.weight: Font.DemiBold
    }
    footer: Item {
        implicitHeight: 64
        Row {
            anchors.right: parent.right
            anchors.rightMargin: 20
            anchors.verticalCenter: parent.verticalCenter
            spacing: Theme.spacing
            AppButton {
                id: cancelDeleteButton
                text: qsTr("Cancel")
                onClicked: deleteDialog.reject()
            }
            AppButton {
                objectName: "confirmDeleteButton"
                danger: true
                text: qsTr("Delete")
                onClicked: deleteDialog.accept()
            }
        }
    }
    Label {
        width: parent.width
        wrapMode: Text.Wrap
        color: Theme.textMuted
        font.pixelSize: Theme.fontSize - 1
        text: qsTr("The conversation and all its messages are removed from this computer. This cannot be undone.")
    }
}
