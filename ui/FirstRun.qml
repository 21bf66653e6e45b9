// Shown while no model is loaded or loading and the open chat is empty: what Latent Chat is,
// what to do, an Open model… button and the recently used models.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import LatentChat

Item {
    id: root

    required property ModelController modelController
    property var sharedPaths: [] // models of the shared folders (SharedModelListModel.paths)

    signal openModelRequested()

    Flickable {
        anchors.fill: parent
        contentWidth: width
        contentHeight: Math.max(height, content.implicitHeight + 80)
        boundsBehavior: Flickable.StopAtBounds
        clip: true
        ScrollBar.vertical: ScrollBar {}

        ColumnLayout {
            id: content
            width: Math.min(parent.width - 64, 600)
            x: (parent.width - width) / 2
            y: Math.max(40, (parent.height - implicitHeight) / 2)
            spacing: 16

            Rectangle {
                Layout.alignment: Qt.AlignHCenter
                width: 56
                height: 56
                radius: 16
                color: Theme.accent
                Text {
                    anchors.centerIn: parent
                    text: "L"
                    color: Theme.accentText
                    font.pixelSize: 30
                    font.bold: true
                }
            }
            Text {
                objectName: "firstRunTitle"
                Layout.alignment: Qt.AlignHCenter
                text: qsTr("Welcome to Latent Chat")
                color: Theme.text
                font.pixelSize: 28
                font.weight: Font.DemiBold
            }
            Text {
                Layout.fillWidth: true
                horizontalAlignment: Text.AlignHCenter
                wrapMode: Text.Wrap
                text: qsTr("A private assistant that runs entirely on this computer. What you type never leaves it: no account, no internet connection, no telemetry. Your conversations are kept in a local database.")
                color: Theme.textMuted
                font.pixelSize: Theme.fontSize + 1
                lineHeight: 1.2
            }

            Rectangle {
                Layout.fillWidth: true
                Layout.topMargin: 8
                implicitHeight: steps.implicitHeight + 36
                radius: Theme.radius + 4
                color: Theme.surface
                border.color: Theme.border

                ColumnLayout {
                    id: steps
                    anchors.fill: parent
                    anchors.margins: 18
                    spacing: 12

                    Text {
                        text: qsTr("To start")
                        color: Theme.text
                        font.pixelSize: Theme.fontSize + 1
                        font.weight: Font.DemiBold
                    }
                    Repeater {
                        model: [
                            qsTr("Download a DeepSeek-architecture model in GGUF format. DeepSeek-V2-Lite-Chat in Q4_K_M (about 10 GB) runs well on a recent desktop or laptop; DeepSeek-V2, V2.5, V3, R1, Moonlight and their fine-tunes work too if you have the memory."),
                            qsTr("Click Open model… below and choose the .gguf file. Loading takes a few seconds to a minute."),
                            qsTr("Type a question at the bottom and press Enter. Shift+Enter starts a new line.")
                        ]
                        delegate: RowLayout {
                            required property int index
                            required property string modelData
                            Layout.fillWidth: true
                            spacing: 12
                            Rectangle {
                                Layout.alignment: Qt.AlignTop
                                width: 24
                                height: 24
                                radius: 12
                                color: Theme.selection
                                Text {
                                    anchors.centerIn: parent
                                    text: index + 1
                                    color: Theme.accent
                                    font.pixelSize: Theme.fontSize - 2
                                    font.bold: true
                                }
                            }
                            Text {
                                Layout.fillWidth: true
                                text: modelData
                                wrapMode: Text.Wrap
                                color: Theme.text
                                font.pixelSize: Theme.fontSize
                                lineHeight: 1.15
                            }
                        }
                    }
                }
            }

            Text {
                visible: root.modelController.errorText !== ""
                Layout.fillWidth: true
                horizontalAlignment: Text.AlignHCenter
                wrapMode: Text.Wrap
                text: root.modelController.errorText
                color: Theme.danger
                font.pixelSize: Theme.fontSize - 1
            }

            AppButton {
                objectName: "firstRunOpenButton"
                Layout.alignment: Qt.AlignHCenter
                Layout.topMargin: 4
                accent: true
                font.pixelSize: Theme.fontSize + 1
                horizontalPadding: 28
                text: qsTr("Open model…")
                onClicked: root.openModelRequested()
            }

            AppButton {
                objectName: "firstRunDemoButton"
                visible: root.modelController.demoModelPath !== ""
                Layout.alignment: Qt.AlignHCenter
                flat: true
                text: qsTr("Try the built-in demo model (a tiny dictionary model, not a general assistant)")
                onClicked: root.modelController.loadDemo()
            }

            RecentModels {
                objectName: "firstRunSharedModels"
                Layout.fillWidth: true
                Layout.topMargin: 8
                title: qsTr("Shared models")
                removable: false
                paths: root.sharedPaths
                onLoadRequested: (path) => root.modelController.load(path)
            }

            RecentModels {
                Layout.fillWidth: true
                Layout.topMargin: 8
                paths: root.modelController.recentModels
                onLoadRequested: (path) => root.modelController.load(path)
                onRemoveRequested: (path) => root.modelController.removeRecent(path)
            }
        }
    }
}
