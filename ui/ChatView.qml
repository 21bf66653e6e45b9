// The open conversation: its messages, following the newest text while an answer streams
// unless the user has scrolled up; a note when old turns no longer fit the model's context;
// a welcome placeholder for an empty chat with a model loaded.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import LatentChat

Item {
    id: root

    required property ChatController chat
    property string modelName: ""
    property bool modelLoaded: false

    signal suggestionPicked(string text)
    signal answerRequested()   // regenerate or edit-and-resend: the composer takes the focus back
    signal sourceRequested(var source) // an answer's source chip: {path, page, start, end, text}

    // True while the view should stay at the newest text.
    property bool followBottom: true
    property bool autoScrolling: false

    function scrollToEnd() {
        root.autoScrolling = true
        list.positionViewAtEnd()
        root.autoScrolling = false
        root.followBottom = true
    }

    Connections {
        target: root.chat
        function onCurrentConversationChanged() {
            root.followBottom = true
            Qt.callLater(root.scrollToEnd)
        }
    }

    ColumnLayout {
        anchors.fill: parent
        spacing: 0

        Rectangle {
            objectName: "droppedTurnsNotice"
            visible: root.chat.droppedTurns > 0
            Layout.fillWidth: true
            Layout.preferredHeight: droppedText.implicitHeight + 16
            color: Theme.thinkingBackground

            Text {
                id: droppedText
                anchors.verticalCenter: parent.verticalCenter
                anchors.left: parent.left
                anchors.right: parent.right
                anchors.leftMargin: 20
                anchors.rightMargin: 20
                wrapMode: Text.Wrap
                horizontalAlignment: Text.AlignHCenter
                color: Theme.textMuted
                font.pixelSize: Theme.fontSize - 2
                text: (root.chat.droppedTurns === 1
                       ? qsTr("1 earlier message is not in the model's context (it holds %1 tokens).")
                       : qsTr("%1 earlier messages are not in the model's context (it holds %2 tokens).")
                             .arg(root.chat.droppedTurns))
                      .arg(root.chat.contextSize) + " " + qsTr("They stay in your history.")
            }
            Rectangle {
                anchors.bottom: parent.bottom
                width: parent.width
                height: 1
                color: Theme.border
            }
        }

        ListView {
            id: list
            objectName: "messageList"
            Layout.fillWidth: true
            Layout.fillHeight: true
            clip: true
            model: root.chat.messages
            cacheBuffer: 2000
            boundsBehavior: Flickable.StopAtBounds
            topMargin: 12
            bottomMargin: 12
            ScrollBar.vertical: ScrollBar { policy: ScrollBar.AsNeeded }

            delegate: MessageDelegate {
                width: list.width
                generating: root.chat.generating
                canResend: root.modelLoaded
                onCopyRequested: (text) => root.chat.copyToClipboard(text)
                onSourceRequested: (source) => root.sourceRequested(source)
                onRegenerateRequested: {
                    root.chat.regenerate()
                    root.answerRequested()
                }
                onEditRequested: (messageId, newText) => {
                    root.chat.editAndResend(messageId, newText)
                    root.scrollToEnd()
                    root.answerRequested()
                }
            }

            // Only the user's own scrolling (drag, flick, wheel, scroll bar) decides whether to
            // keep following; layout changes while text streams in do not.
            onContentYChanged: {
                if (!root.autoScrolling && (list.moving || list.dragging || scrollBarActive()))
                    root.followBottom = list.atYEnd
            }
            onMovementEnded: root.followBottom = list.atYEnd
            onContentHeightChanged: {
                if (root.followBottom)
                    Qt.callLater(root.scrollToEnd)
            }
            onCountChanged: {
                if (root.followBottom)
                    Qt.callLater(root.scrollToEnd)
            }

            function scrollBarActive() {
                return list.ScrollBar.vertical && list.ScrollBar.vertical.pressed
            }
        }
    }

    // Welcome placeholder for an empty conversation.
    ColumnLayout {
        objectName: "emptyPlaceholder"
        visible: root.modelLoaded && list.count === 0
        anchors.centerIn: parent
        width: Math.min(parent.width - 48, 560)
        spacing: 14

        Text {
            Layout.alignment: Qt.AlignHCenter
            text: qsTr("What can I help with?")
            color: Theme.text
            font.pixelSize: 26
            font.weight: Font.DemiBold
        }
        Text {
            Layout.alignment: Qt.AlignHCenter
            Layout.fillWidth: true
            horizontalAlignment: Text.AlignHCenter
            wrapMode: Text.Wrap
            text: qsTr("%1 runs on this computer. Nothing you write leaves it.").arg(root.modelName)
            color: Theme.textMuted
            font.pixelSize: Theme.fontSize
        }
        ColumnLayout {
            Layout.fillWidth: true
            Layout.topMargin: 10
            spacing: Theme.spacing
            Repeater {
                model: [qsTr("Explain multi-head latent attention in simple terms"),
                        qsTr("Write a Python function that merges two sorted lists"),
                        qsTr("Summarise the pros and cons of mixture-of-experts models")]
                delegate: AbstractButton {
                    id: chip
                    required property string modelData
                    hoverEnabled: true
                    Layout.alignment: Qt.AlignHCenter
                    Layout.maximumWidth: parent.width
                    implicitWidth: chipText.implicitWidth + 24
                    implicitHeight: chipText.implicitHeight + 16
                    onClicked: root.suggestionPicked(modelData)
                    background: Rectangle {
                        radius: 16
                        color: chip.hovered ? Theme.selection : Theme.surface
                        border.width: 1
                        border.color: Theme.border
                    }
                    contentItem: Text {
                        id: chipText
                        text: chip.modelData
                        color: Theme.text
                        elide: Text.ElideRight
                        font.pixelSize: Theme.fontSize - 1
                        horizontalAlignment: Text.AlignHCenter
                        verticalAlignment: Text.AlignVCenter
                    }
                }
            }
        }
    }

    // Back to the newest text after scrolling up.
    RoundButton {
        objectName: "jumpToEndButton"
        visible: !root.followBottom && list.count > 0 && !list.atYEnd
        anchors.right: parent.right
        anchors.bottom: parent.bottom
        anchors.margins: 16
        width: 38
        height: 38
        text: "\u2193"
        font.pixelSize: Theme.fontSize + 2
        hoverEnabled: true
        onClicked: root.scrollToEnd()
        palette.button: Theme.surface
        palette.buttonText: Theme.text
        ToolTip.visible: hovered
        ToolTip.text: qsTr("Jump to the newest message")
        ToolTip.delay: 600
    }
}
