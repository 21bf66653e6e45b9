// The sidebar's search hits (titles and message text): the conversation's title, its date and
// the matching text with the match in bold; a click or Enter opens the conversation.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import LatentChat

ListView {
    id: resultList
    objectName: "searchResults"

    required property ChatController chat

    signal openRequested(double conversationId)

    // The storage marks the match in [brackets]; shown in bold, the rest escaped.
    function snippetToStyledText(snippet) {
        return snippet.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
                      .replace(/\[/g, "<b>").replace(/\]/g, "</b>")
    }


    clip: true
    spacing: 4
    currentIndex: -1
    model: resultList.chat.searchResults
    ScrollBar.vertical: ScrollBar {}
    Keys.onReturnPressed: if (currentItem) currentItem.clicked()
    Keys.onEnterPressed: if (currentItem) currentItem.clicked()

    delegate: AbstractButton {
        id: hit
        required property int index
        required property double conversationId
        required property string title
        required property string snippet
        required property string dateText
        width: resultList.width
        implicitHeight: hitColumn.implicitHeight + 14
        hoverEnabled: true
        focusPolicy: Qt.NoFocus
        onClicked: {
            resultList.currentIndex = index
            resultList.openRequested(conversationId)
        }
        background: Rectangle {
            radius: Theme.radius
            color: hit.conversationId === resultList.chat.currentConversationId ? Theme.selection
                   : hit.hovered ? Qt.rgba(Theme.selection.r, Theme.selection.g, Theme.selection.b, 0.55) : "transparent"
            border.width: hit.ListView.isCurrentItem && resultList.activeFocus ? 1 : 0
            border.color: Theme.accent
        }
        contentItem: ColumnLayout {
            id: hitColumn
            spacing: 2
            RowLayout {
                Layout.fillWidth: true
                Layout.leftMargin: 10
                Layout.rightMargin: 10
                Text {
                    Layout.fillWidth: true
                    text: hit.title
                    elide: Text.ElideRight
                    color: Theme.text
                    font.pixelSize: Theme.fontSize - 1
                    font.weight: Font.DemiBold
                }
                Text {
                    text: hit.dateText
                    color: Theme.textMuted
                    font.pixelSize: Theme.fontSize - 3
                }
            }
            Text {
                Layout.fillWidth: true
                Layout.leftMargin: 10
                Layout.rightMargin: 10
                visible: hit.snippet !== ""
                text: resultList.snippetToStyledText(hit.snippet)
                textFormat: Text.StyledText
                wrapMode: Text.Wrap
                maximumLineCount: 2
                elide: Text.ElideRight
                color: Theme.textMuted
                font.pixelSize: Theme.fontSize - 2
            }
        }
    }

    Text {
        anchors.centerIn: parent
        visible: resultList.count === 0
        text: qsTr("No matches")
        color: Theme.textMuted
        font.pixelSize: Theme.fontSize - 1
    }
}
