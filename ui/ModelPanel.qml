// The model drawer (from the header's model button): open a GGUF, recent models, loading
// progress with Cancel, the loaded model's facts, Reload and Unload, the last load error.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import LatentChat

Drawer {
    id: root

    required property ModelController modelController
    property bool generating: false
    property var sharedPaths: [] // models of the shared folders (SharedModelListModel.paths)

    signal openModelRequested()

    edge: Qt.RightEdge
    width: Math.min(460, parent ? parent.width * 0.9 : 460)
    height: parent ? parent.height : 600

    background: Rectangle {
        color: Theme.surface
        Rectangle {
            width: 1
            height: parent.height
            color: Theme.border
        }
    }

    ScrollView {
        anchors.fill: parent
        contentWidth: availableWidth
        clip: true

        ColumnLayout {
            width: parent.width
            spacing: 16

            RowLayout {
                Layout.fillWidth: true
                Layout.margins: 20
                Layout.bottomMargin: 0
                Text {
                    Layout.fillWidth: true
                    text: qsTr("Model")
                    color: Theme.text
                    font.pixelSize: Theme.fontSize + 6
                    font.weight: Font.DemiBold
                }
                IconButton {
                    text: "\u00D7"
                    font.pixelSize: Theme.fontSize + 4
                    tip: qsTr("Close")
                    onClicked: root.close()
                }
            }

            // Last load failure.
            Rectangle {
                objectName: "modelError"
                visible: root.modelController.errorText !== ""
                Layout.fillWidth: true
                Layout.leftMargin: 20
                Layout.rightMargin: 20
                implicitHeight: errorRow.implicitHeight + 20
                radius: Theme.radius
                color: "transparent"
                border.color: Theme.danger
                RowLayout {
                    id: errorRow
                    anchors.fill: parent
                    anchors.margins: 10
                    Text {
                        Layout.fillWidth: true
                        text: root.modelController.errorText
                        wrapMode: Text.Wrap
                        color: Theme.danger
                        font.pixelSize: Theme.fontSize - 1
                    }
                    IconButton {
                        Layout.alignment: Qt.AlignTop
                        text: "\u00D7"
                        tip: qsTr("Dismiss")
                        onClicked: root.modelController.clearError()
                    }
                }
            }

            // Loading.
            ColumnLayout {
                visible: root.modelController.state === "loading"
                Layout.fillWidth: true
                Layout.leftMargin: 20
                Layout.rightMargin: 20
                spacing: 8
                Text {
                    Layout.fillWidth: true
                    text: qsTr("Loading %1").arg(root.modelController.loadingPath.split(/[\\/]/).pop())
                    elide: Text.ElideMiddle
                    color: Theme.text
                    font.pixelSize: Theme.fontSize
                }
                RowLayout {
                    Layout.fillWidth: true
                    spacing: 10
                    ProgressBar {
                        objectName: "loadProgress"
                        Layout.fillWidth: true
                        from: 0
                        to: 1
                        value: root.modelController.progress
                    }
                    Text {
                        text: Math.round(root.modelController.progress * 100) + " %"
                        color: Theme.textMuted
                        font.pixelSize: Theme.fontSize - 2
                    }
                    AppButton {
                        objectName: "cancelLoadButton"
                        text: qsTr("Cancel")
                        onClicked: root.modelController.cancelLoad()
                    }
                }
            }

            // Loaded.
            ModelFacts {
                visible: root.modelController.loaded
                Layout.fillWidth: true
                Layout.leftMargin: 20
                Layout.rightMargin: 20
                facts: root.modelController.facts
            }
            RowLayout {
                visible: root.modelController.loaded
                Layout.leftMargin: 20
                Layout.rightMargin: 20
                spacing: Theme.spacing
                AppButton {
                    objectName: "reloadButton"
                    text: qsTr("Reload")
                    enabled: !root.generating
                    onClicked: root.modelController.reload()
                    ToolTip.visible: hovered
                    ToolTip.text: qsTr("Load it again with the current context, thread and backend settings")
                    ToolTip.delay: 600
                }
                AppButton {
                    objectName: "unloadButton"
                    text: qsTr("Unload")
                    enabled: !root.generating
                    onClicked: root.modelController.unload()
                }
            }

            Text {
                visible: root.modelController.state === "empty"
                Layout.fillWidth: true
                Layout.leftMargin: 20
                Layout.rightMargin: 20
                wrapMode: Text.Wrap
                text: qsTr("No model is loaded. Open a DeepSeek-architecture model in GGUF format.")
                color: Theme.textMuted
                font.pixelSize: Theme.fontSize - 1
            }

            AppButton {
                objectName: "openModelButton"
                Layout.leftMargin: 20
                accent: !root.modelController.loaded
                text: qsTr("Open model…")
                onClicked: root.openModelRequested()
            }

            Rectangle {
                Layout.fillWidth: true
                Layout.leftMargin: 20
                Layout.rightMargin: 20
                height: 1
                color: Theme.border
                visible: recent.visible || shared.visible
            }

            RecentModels {
                id: shared
                objectName: "sharedModels"
                Layout.fillWidth: true
                Layout.leftMargin: 14
                Layout.rightMargin: 14
                title: qsTr("Shared models")
                removable: false
                paths: root.sharedPaths
                onLoadRequested: (path) => root.modelController.load(path)
            }

            RecentModels {
                id: recent
                Layout.fillWidth: true
                Layout.leftMargin: 14
                Layout.rightMargin: 14
                Layout.bottomMargin: 20
                paths: root.modelController.recentModels
                onLoadRequested: (path) => root.modelController.load(path)
                onRemoveRequested: (path) => root.modelController.removeRecent(path)
            }
        }
    }
}
