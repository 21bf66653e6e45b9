// The bar above the chat: the conversation's title, the documents button (the collections the
// conversation answers from: a menu of the collections with a check mark each, and the way to
// the documents panel) and the model button (name and state; opens the model drawer).
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import QtQml.Models
import LatentChat

Rectangle {
    id: root

    property string title
    required property ModelController modelController
    property ChatController chat: null             // the conversation whose collections are chosen
    property DocumentsController documents: null   // the collections there are

    signal modelButtonClicked()
    signal documentsRequested()                    // "Add or manage documents…"

    readonly property var usedCollections: root.chat ? root.chat.collections : []

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
            id: collectionsButton
            objectName: "collectionsButton"
            visible: root.chat !== null && root.documents !== null
            hoverEnabled: true
            implicitHeight: 34
            implicitWidth: Math.min(collectionsLabel.implicitWidth + 28, root.width * 0.3)
            onClicked: collectionsMenu.open()
            ToolTip.visible: hovered
            ToolTip.text: root.usedCollections.length > 0
                          ? qsTr("Questions are answered from these document collections")
                          : qsTr("Answer questions from your documents")
            ToolTip.delay: 600

            background: Rectangle {
                radius: 17
                color: collectionsButton.down ? Theme.border
                       : root.usedCollections.length > 0 ? Theme.selection
                       : collectionsButton.hovered ? Theme.selection : Theme.surface
                border.width: 1
                border.color: root.usedCollections.length > 0 ? Theme.accent : Theme.border
            }
            contentItem: Text {
                id: collectionsLabel
                objectName: "collectionsLabel"
                leftPadding: 14
                rightPadding: 14
                text: root.usedCollections.length === 0 ? qsTr("Documents")
                      : qsTr("Documents: %1").arg(root.usedCollections.join(", "))
                elide: Text.ElideRight
                verticalAlignment: Text.AlignVCenter
                color: root.usedCollections.length > 0 ? Theme.text : Theme.textMuted
                font.pixelSize: Theme.fontSize - 1
            }

            Menu {
                id: collectionsMenu
                objectName: "collectionsMenu"
                y: collectionsButton.height + 4
                x: collectionsButton.width - width
                width: 320

                Instantiator {
                    model: root.documents ? root.documents.collections : null
                    delegate: MenuItem {
                        required property string name
                        required property int indexed
                        objectName: "collectionItem_" + name
                        text: indexed === 1 ? qsTr("%1 (1 document)").arg(name)
                                            : qsTr("%1 (%2 documents)").arg(name).arg(indexed)
                        checkable: true
                        checked: root.usedCollections.indexOf(name) >= 0
                        onTriggered: {
                            root.chat.setCollectionUsed(name, checked)
                            // Clicking broke the binding: the conversation decides again.
                            checked = Qt.binding(() => root.usedCollections.indexOf(name) >= 0)
                        }
                    }
                    onObjectAdded: (index, object) => collectionsMenu.insertItem(index, object)
                    onObjectRemoved: (index, object) => collectionsMenu.removeItem(object)
                }
                MenuItem {
                    enabled: false
                    visible: !root.documents || root.documents.collections.count === 0
                    height: visible ? implicitHeight : 0
                    text: qsTr("No document collections yet")
                }
                MenuSeparator {}
                MenuItem {
                    // Also the way out of a collection that was removed since it was chosen.
                    objectName: "noDocumentsItem"
                    visible: root.usedCollections.length > 0
                    height: visible ? implicitHeight : 0
                    text: qsTr("Answer without documents")
                    onTriggered: root.chat.setCollections([])
                }
                MenuItem {
                    objectName: "manageDocumentsItem"
                    text: qsTr("Add or manage documents…")
                    onTriggered: root.documentsRequested()
                }
            }
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
