// The left column: New chat, search over titles and message text, the conversations newest
// first (Up/Down/Enter, F2 rename, Delete), export and delete dialogs, the Settings button.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import QtQuick.Dialogs
import QtCore
import LatentChat

Rectangle {
    id: root

    required property ChatController chat

    signal newChatRequested()
    signal settingsRequested()
    signal documentsRequested()
    signal conversationOpened()

    function focusSearch() {
        searchField.forceActiveFocus()
        searchField.selectAll()
    }

    function openConversation(id) {
        root.chat.selectConversation(id)
        root.conversationOpened()
    }

    function askDelete(id, title) {
        deleteDialog.conversationId = id
        deleteDialog.conversationTitle = title
        deleteDialog.open()
    }

    function askExport(id, title, format) {
        exportDialog.conversationId = id
        exportDialog.format = format
        const safe = (title || "conversation").replace(/[\\/:*?"<>|\n\r\t]+/g, " ").trim().substring(0, 60)
        exportDialog.selectedFile = exportDialog.currentFolder + "/" + encodeURIComponent(safe || "conversation")
                                    + (format === "json" ? ".json" : ".md")
        exportDialog.open()
    }

    color: Theme.sidebar

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: 12
        spacing: 10

        RowLayout {
            Layout.fillWidth: true
            Layout.topMargin: 4
            Layout.bottomMargin: 4
            spacing: 8
            Rectangle {
                width: 26
                height: 26
                radius: 7
                color: Theme.accent
                Text {
                    anchors.centerIn: parent
                    text: "L"
                    color: Theme.accentText
                    font.pixelSize: 15
                    font.bold: true
                }
            }
            Text {
                Layout.fillWidth: true
                text: "Latent Chat"
                color: Theme.text
                font.pixelSize: Theme.fontSize + 3
                font.weight: Font.DemiBold
            }
        }

        AppButton {
            objectName: "newChatButton"
            Layout.fillWidth: true
            text: qsTr("+  New chat")
            onClicked: root.newChatRequested()
            ToolTip.visible: hovered
            ToolTip.text: qsTr("Start a new conversation (Ctrl+N)")
            ToolTip.delay: 600
        }

        TextField {
            id: searchField
            objectName: "searchField"
            Layout.fillWidth: true
            placeholderText: qsTr("Search chats  (Ctrl+F)")
            selectByMouse: true
            font.pixelSize: Theme.fontSize - 1
            rightPadding: clearSearch.visible ? clearSearch.width + 8 : padding
            background: Rectangle {
                implicitHeight: 34
                radius: Theme.radius - 2
                color: Theme.surface
                border.width: 1
                border.color: searchField.activeFocus ? Theme.accent : Theme.border
            }
            onTextEdited: searchDebounce.restart()
            Keys.onEscapePressed: {
                searchField.clear()
                root.chat.searchQuery = ""
                conversationList.forceActiveFocus()
            }
            Keys.onDownPressed: {
                const target = root.chat.searchQuery !== "" ? resultList : conversationList
                if (target.count > 0 && target.currentIndex < 0)
                    target.currentIndex = 0
                target.forceActiveFocus()
            }
            Timer {
                id: searchDebounce
                interval: 150
                onTriggered: root.chat.searchQuery = searchField.text.trim()
            }
            IconButton {
                id: clearSearch
                visible: searchField.text !== ""
                anchors.right: parent.right
                anchors.rightMargin: 4
                anchors.verticalCenter: parent.verticalCenter
                size: 24
                text: "\u00D7"
                tip: qsTr("Clear the search")
                onClicked: {
                    searchField.clear()
                    root.chat.searchQuery = ""
                }
            }
        }

        SearchResults {
            id: resultList
            visible: root.chat.searchQuery !== ""
            Layout.fillWidth: true
            Layout.fillHeight: true
            chat: root.chat
            onOpenRequested: (conversationId) => root.openConversation(conversationId)
        }

        // ---- conversations -------------------------------------------------------------
        ListView {
            id: conversationList
            objectName: "conversationList"
            visible: root.chat.searchQuery === ""
            Layout.fillWidth: true
            Layout.fillHeight: true
            clip: true
            spacing: 2
            currentIndex: -1
            keyNavigationWraps: false
            highlightMoveDuration: 0
            model: root.chat.conversations
            ScrollBar.vertical: ScrollBar {}

            function syncToCurrent() {
                const row = root.chat.conversations.indexOf(root.chat.currentConversationId)
                conversationList.currentIndex = row
                if (row >= 0)
                    conversationList.positionViewAtIndex(row, ListView.Contain)
            }

            Connections {
                target: root.chat
                function onCurrentConversationChanged() { conversationList.syncToCurrent() }
            }
            Connections {
                target: root.chat.conversations
                function onCountChanged() { Qt.callLater(conversationList.syncToCurrent) }
                function onRowsMoved() { Qt.callLater(conversationList.syncToCurrent) }
                function onModelReset() { Qt.callLater(conversationList.syncToCurrent) }
            }

            Keys.onReturnPressed: if (currentIndex >= 0) root.openConversation(root.chat.conversations.idAt(currentIndex))
            Keys.onEnterPressed: if (currentIndex >= 0) root.openConversation(root.chat.conversations.idAt(currentIndex))
            Keys.onDeletePressed: if (currentItem) root.askDelete(currentItem.conversationId, currentItem.title)
            Keys.onPressed: (event) => {
                if (event.key === Qt.Key_F2 && currentItem) {
                    currentItem.startRename()
                    event.accepted = true
                }
            }

            delegate: ConversationDelegate {
                width: conversationList.width
                selected: conversationId === root.chat.currentConversationId
                keyboardCurrent: ListView.isCurrentItem && conversationList.activeFocus
                onOpenRequested: {
                    conversationList.currentIndex = index
                    root.openConversation(conversationId)
                }
                onRenameCommitted: (newTitle) => root.chat.renameConversation(conversationId, newTitle)
                onExportRequested: (format) => root.askExport(conversationId, title, format)
                onDeleteRequested: root.askDelete(conversationId, title)
            }

            Text {
                anchors.centerIn: parent
                width: parent.width - 24
                visible: conversationList.count === 0
                horizontalAlignment: Text.AlignHCenter
                wrapMode: Text.Wrap
                text: qsTr("No conversations yet.\nThey appear here once you send a message.")
                color: Theme.textMuted
                font.pixelSize: Theme.fontSize - 1
            }
        }

        Rectangle {
            Layout.fillWidth: true
            height: 1
            color: Theme.border
        }

        AppButton {
            objectName: "documentsButton"
            Layout.fillWidth: true
            flat: true
            text: qsTr("Documents")
            onClicked: root.documentsRequested()
            ToolTip.visible: hovered
            ToolTip.text: qsTr("Folders and files to ask questions about (indexed on this computer)")
            ToolTip.delay: 600
        }

        AppButton {
            objectName: "settingsButton"
            Layout.fillWidth: true
            flat: true
            text: qsTr("Settings")
            onClicked: root.settingsRequested()
            ToolTip.visible: hovered
            ToolTip.text: qsTr("Generation, model and appearance settings (Ctrl+,)")
            ToolTip.delay: 600
        }
    }

    Rectangle {
        anchors.right: parent.right
        width: 1
        height: parent.height
        color: Theme.border
    }

    DeleteConversationDialog {
        id: deleteDialog
        parent: Overlay.overlay
        onAccepted: root.chat.deleteConversation(conversationId)
    }

    FileDialog {
        id: exportDialog
        property double conversationId: 0
        property string format: "markdown"
        title: format === "json" ? qsTr("Export conversation as JSON") : qsTr("Export conversation as Markdown")
        fileMode: FileDialog.SaveFile
        acceptLabel: qsTr("Export")
        defaultSuffix: format === "json" ? "json" : "md"
        nameFilters: format === "json" ? [qsTr("JSON (*.json)")] : [qsTr("Markdown (*.md)")]
        currentFolder: StandardPaths.writableLocation(StandardPaths.DocumentsLocation)
        onAccepted: root.chat.exportConversation(conversationId, selectedFile, format)
    }
}
