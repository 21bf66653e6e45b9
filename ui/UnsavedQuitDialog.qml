// Asked when the window is closed (Ctrl+Q, the close button) while messages wait to reach the
// disk: save them elsewhere (an export of the unsaved conversations, then quit), wait (retry;
// the app quits once everything is saved) or quit anyway. The choices are AppController's.
import QtQuick
import QtQuick.Controls
import QtQuick.Dialogs
import QtCore
import LatentChat

Dialog {
    id: root
    objectName: "unsavedQuitDialog"

    required property AppController app

    anchors.centerIn: parent
    width: 500
    modal: true
    closePolicy: Popup.CloseOnEscape
    padding: 20
    topPadding: 8
    title: qsTr("Some messages are not saved")
    onRejected: root.app.cancelQuit()
    background: Rectangle { color: Theme.surface; border.color: Theme.border; radius: Theme.radius }
    header: Text {
        text: root.title
        padding: 20
        bottomPadding: 0
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
                objectName: "quitAnywayButton"
                danger: true
                text: qsTr("Quit anyway")
                onClicked: {
                    root.close()
                    root.app.quitAnyway()
                }
            }
            AppButton {
                objectName: "waitButton"
                enabled: !root.app.waitingToQuit
                text: root.app.waitingToQuit ? qsTr("Waiting…") : qsTr("Wait")
                onClicked: root.app.waitThenQuit()
            }
            AppButton {
                objectName: "saveElsewhereButton"
                accent: true
                text: qsTr("Save elsewhere…")
                onClicked: exportDialog.open()
            }
        }
    }

    Label {
        objectName: "unsavedQuitText"
        width: parent.width
        wrapMode: Text.Wrap
        color: Theme.textMuted
        font.pixelSize: Theme.fontSize - 1
        text: (root.app.unsavedMessages > 1
               ? qsTr("%1 messages could not be saved yet: %2.").arg(root.app.unsavedMessages).arg(root.app.unsavedReason)
               : root.app.unsavedMessages === 1 ? qsTr("1 message could not be saved yet: %1.").arg(root.app.unsavedReason)
               : qsTr("Some changes could not be saved yet: %1.").arg(root.app.unsavedReason))
              + " " + (root.app.waitingToQuit
                       ? qsTr("Trying again; Latent Chat quits as soon as everything is saved.")
                       : qsTr("Quitting now loses them. Save them to another place as a file, or wait while the app tries again."))
    }

    FileDialog {
        id: exportDialog
        title: qsTr("Save the unsaved conversations")
        fileMode: FileDialog.SaveFile
        defaultSuffix: "md"
        nameFilters: [qsTr("Markdown (*.md)"), qsTr("JSON (*.json)")]
        currentFolder: StandardPaths.writableLocation(StandardPaths.DocumentsLocation)
        onAccepted: {
            const path = selectedFile.toString()
            root.app.chat.exportUnsaved(selectedFile, path.toLowerCase().endsWith(".json") ? "json" : "markdown")
        }
    }

    // A successful export holds everything that was waiting: the app may quit.
    Connections {
        target: root.app.chat
        enabled: root.opened
        function onExportFinished(path, ok, message) {
            if (ok) {
                root.close()
                root.app.quitAnyway()
            }
        }
    }
}
