// Documents for Q&A: the collections, their files with status and reason, and indexing with
// progress and cancel. Bound to the DocumentsController; indexing runs on its own thread.
// Files and folders can also be dropped on the panel.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import QtQuick.Dialogs
import QtCore
import LatentChat

Dialog {
    id: root

    required property DocumentsController documents

    title: qsTr("Documents")
    modal: true
    anchors.centerIn: parent
    width: Math.min(720, parent ? parent.width - 80 : 720)
    height: Math.min(640, parent ? parent.height - 60 : 640)
    padding: 20

    background: Rectangle {
        color: Theme.surface
        border.color: Theme.border
        radius: Theme.radius
    }

    header: Text {
        text: root.title
        padding: 20
        bottomPadding: 4
        color: Theme.text
        font.pixelSize: Theme.fontSize + 6
        font.weight: Font.DemiBold
    }

    DropArea {
        anchors.fill: parent
        onDropped: (drop) => { if (drop.hasUrls) root.documents.addUrls(drop.urls) }
    }

    ColumnLayout {
        anchors.fill: parent
        spacing: Theme.spacing

        Text {
            Layout.fillWidth: true
            wrapMode: Text.WordWrap
            color: Theme.textMuted
            text: qsTr("Files stay on this computer: they are read and indexed here, and nothing is sent anywhere. "
                       + "Text, code, Markdown, HTML, PDF, DOCX, ODT and EPUB.")
        }

        RowLayout {
            Layout.fillWidth: true
            spacing: Theme.spacing
            ComboBox {
                id: collectionBox
                objectName: "collectionBox"
                Layout.fillWidth: true
                editable: true
                model: root.documents.collections
                textRole: "name"
                editText: root.documents.selectedCollection
                onAccepted: root.documents.selectedCollection = editText
                onActivated: root.documents.selectedCollection = currentText
            }
            AppButton {
                objectName: "addFolderButton"
                text: qsTr("Add folder…")
                onClicked: folderDialog.open()
            }
            AppButton {
                objectName: "addFilesButton"
                text: qsTr("Add files…")
                onClicked: filesDialog.open()
            }
            AppButton {
                objectName: "rescanButton"
                flat: true
                text: qsTr("Rescan")
                enabled: !root.documents.indexing
                onClicked: root.documents.rescan()
            }
        }

        RowLayout {
            Layout.fillWidth: true
            visible: root.documents.indexing
            spacing: Theme.spacing
            ProgressBar {
                objectName: "indexingProgress"
                Layout.fillWidth: true
                value: root.documents.progress
            }
            AppButton {
                objectName: "cancelIndexingButton"
                flat: true
                text: qsTr("Cancel")
                onClicked: root.documents.cancel()
            }
        }

        Text {
            Layout.fillWidth: true
            elide: Text.ElideMiddle
            color: Theme.textMuted
            text: root.documents.indexing ? qsTr("Reading %1").arg(root.documents.currentFile) : root.documents.lastSummary
        }

        ListView {
            id: list
            objectName: "documentList"
            Layout.fillWidth: true
            Layout.fillHeight: true
            clip: true
            model: root.documents.documents
            ScrollBar.vertical: ScrollBar {}
            delegate: ItemDelegate {
                id: row
                required property string fileName
                required property string path
                required property string status
                required property string reason
                required property int chunks
                width: ListView.view.width
                contentItem: ColumnLayout {
                    spacing: 2
                    RowLayout {
                        Text {
                            Layout.fillWidth: true
                            text: row.fileName
                            color: Theme.text
                            elide: Text.ElideRight
                        }
                        Text {
                            text: row.status === "indexed" ? qsTr("%n passage(s)", "", row.chunks) : row.status
                            color: row.status === "failed" ? Theme.danger : row.status === "skipped" ? Theme.warning : Theme.textMuted
                        }
                    }
                    Text {
                        Layout.fillWidth: true
                        visible: row.reason !== ""
                        text: row.reason
                        color: Theme.textMuted
                        wrapMode: Text.WordWrap
                        font.pixelSize: Theme.fontSize - 2
                    }
                }
                ToolTip.visible: hovered
                ToolTip.text: row.path
                ToolTip.delay: 600
            }
            Text {
                anchors.centerIn: parent
                visible: list.count === 0
                color: Theme.textMuted
                text: qsTr("No documents yet: add a folder or files, or drop them here.")
            }
        }
    }

    footer: Item {
        implicitHeight: 64
        AppButton {
            objectName: "closeDocumentsButton"
            anchors.right: parent.right
            anchors.rightMargin: 20
            anchors.verticalCenter: parent.verticalCenter
            text: qsTr("Close")
            onClicked: root.close()
        }
    }

    FolderDialog {
        id: folderDialog
        title: qsTr("Add a folder to “%1”").arg(root.documents.selectedCollection)
        currentFolder: StandardPaths.writableLocation(StandardPaths.DocumentsLocation)
        onAccepted: root.documents.addFolder(selectedFolder)
    }

    FileDialog {
        id: filesDialog
        title: qsTr("Add files to “%1”").arg(root.documents.selectedCollection)
        fileMode: FileDialog.OpenFiles
        currentFolder: StandardPaths.writableLocation(StandardPaths.DocumentsLocation)
        onAccepted: root.documents.addFiles(selectedFiles)
    }
}
