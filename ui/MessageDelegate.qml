// One message of the chat. User messages are right-aligned bubbles (editable: Save & resend
// replaces the later turns); assistant messages use the full column: the thinking block, the
// answer as Markdown and code blocks, the status (stopped / interrupted / failed), the stats
// and the actions (Copy, Regenerate on the last answer), and "Not saved" while the message waits
// to reach the disk. An answer from documents shows its sources as chips ("[1] manual.pdf,
// p. 3") that open the passage in the viewer. Usable with plain properties.
// A very long user message (a big paste) shows its first shownLength characters and a
// "Show more" button, so the window never lays out megabytes at once; Copy copies it all.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import LatentChat

Item {
    id: root

    required property double messageId
    required property string role
    required property string content
    required property string reasoning
    required property bool thinking
    required property string status
    required property string errorText
    required property var blocks
    required property string statsText
    required property bool isLast
    required property bool saved         // false while the disk refuses its write (kept, retried)
    required property var sources        // an answer's document passages: [{number, label, path, page, start, end, text}]
    property bool generating: false     // an answer is being generated somewhere in the chat
    property bool canResend: true       // a model is loaded: Regenerate and Edit can run
    property int maxContentWidth: 820
    property int shownLength: 20000     // characters of a user message shown; "Show more" adds more
    readonly property int contentLength: root.content.length

    signal copyRequested(string text)
    signal regenerateRequested()
    signal editRequested(double messageId, string newText)
    signal sourceRequested(var source)

    readonly property bool isUser: role === "user"
    readonly property bool streaming: status === "streaming"
    readonly property bool editing: editor.active
    readonly property string statusText: {
        switch (root.status) {
        case "stopped": return root.errorText !== "" ? qsTr("Stopped: %1").arg(root.errorText) : qsTr("Stopped")
        case "interrupted": return qsTr("Interrupted — the app closed while this answer was being written")
        case "error": return root.errorText !== "" ? qsTr("Failed: %1").arg(root.errorText) : qsTr("Failed")
        default: return ""
        }
    }

    function startEdit() {
        editor.active = true
    }

    implicitWidth: 600
    implicitHeight: column.implicitHeight + 20

    Column {
        id: column
        width: Math.min(root.width - 32, root.maxContentWidth)
        x: (root.width - width) / 2
        y: 10
        spacing: 8

        // ---- user message -------------------------------------------------------------
        Rectangle {
            id: bubble
            objectName: "userBubble"
            visible: root.isUser && !root.editing
            anchors.right: parent.right
            width: Math.min(userText.implicitWidth + 2, column.width * 0.8)
            height: userText.implicitHeight
            radius: 16
            color: Theme.userBubble

            TextEdit {
                id: userText
                objectName: "userText"
                width: parent.width
                padding: 12
                leftPadding: 16
                rightPadding: 16
                text: !root.isUser ? ""
                      : root.contentLength > root.shownLength ? root.content.substring(0, root.shownLength) + "…"
                      : root.content
                textFormat: TextEdit.PlainText
                readOnly: true
                selectByMouse: true
                wrapMode: TextEdit.Wrap
                color: Theme.text
                font.pixelSize: Theme.fontSize
                selectionColor: Theme.accent
                selectedTextColor: Theme.accentText
            }
        }

        AppButton {
            objectName: "showMoreButton"
            visible: root.isUser && !root.editing && root.contentLength > root.shownLength
            anchors.right: parent.right
            text: qsTr("Show more (%1 more characters)")
                      .arg((root.contentLength - root.shownLength).toLocaleString(Qt.locale(), "f", 0))
            onClicked: root.shownLength += 50000
        }

        Loader {
            id: editor
            active: false
            visible: active
            width: column.width
            sourceComponent: MessageEditor {
                text: root.content
                onSaveRequested: (newText) => {
                    editor.active = false
                    root.editRequested(root.messageId, newText)
                }
                onCancelRequested: editor.active = false
            }
        }

        // ---- assistant message --------------------------------------------------------
        ThinkingBlock {
            objectName: "thinkingBlock"
            visible: !root.isUser && (root.reasoning !== "" || root.thinking)
            width: column.width
            text: root.reasoning
            thinking: root.thinking
        }

        MessageBlocks {
            id: blocksColumn
            objectName: "blocksColumn"
            visible: !root.isUser
            width: column.width
            blocks: root.isUser ? [] : root.blocks
            onCopyRequested: (code) => root.copyRequested(code)
        }

        Flow {
            objectName: "sourceChips"
            visible: !root.isUser && root.sources.length > 0
            width: column.width
            spacing: 6

            Repeater {
                model: root.isUser ? [] : root.sources
                AbstractButton {
                    id: chip
                    required property var modelData
                    objectName: "sourceChip"
                    hoverEnabled: true
                    implicitHeight: 26
                    implicitWidth: Math.min(chipLabel.implicitWidth + 20, column.width)
                    onClicked: root.sourceRequested(chip.modelData)
                    ToolTip.visible: hovered
                    ToolTip.text: chip.modelData.text.length > 300 ? chip.modelData.text.substring(0, 300) + "…" : chip.modelData.text
                    ToolTip.delay: 500

                    background: Rectangle {
                        radius: 13
                        color: chip.down ? Theme.border : chip.hovered ? Theme.selection : Theme.surface
                        border.width: 1
                        border.color: Theme.border
                    }
                    contentItem: Text {
                        id: chipLabel
                        leftPadding: 10
                        rightPadding: 10
                        text: "[" + chip.modelData.number + "] " + chip.modelData.label
                        elide: Text.ElideMiddle
                        verticalAlignment: Text.AlignVCenter
                        color: Theme.text
                        font.pixelSize: Theme.fontSize - 2
                    }
                }
            }
        }

        Row {
            objectName: "streamingIndicator"
            visible: !root.isUser && root.streaming && !root.thinking
            spacing: 5
            height: 14
            Repeater {
                model: 3
                Rectangle {
                    required property int index
                    width: 7
                    height: 7
                    radius: 3.5
                    anchors.verticalCenter: parent.verticalCenter
                    color: Theme.textMuted
                    SequentialAnimation on opacity {
                        running: root.streaming
                        loops: Animation.Infinite
                        PauseAnimation { duration: index * 160 }
                        NumberAnimation { from: 0.25; to: 1; duration: 320 }
                        NumberAnimation { from: 1; to: 0.25; duration: 320 }
                        PauseAnimation { duration: (2 - index) * 160 }
                    }
                }
            }
        }

        Rectangle {
            visible: root.statusText !== ""
            width: Math.min(statusLabel.implicitWidth + 20, column.width)
            height: statusLabel.implicitHeight + 10
            radius: 6
            color: "transparent"
            border.width: 1
            border.color: root.status === "error" ? Theme.danger : Theme.warning

            Text {
                id: statusLabel
                objectName: "statusLabel"
                anchors.centerIn: parent
                width: Math.min(implicitWidth, column.width - 20)
                text: root.statusText
                wrapMode: Text.Wrap
                color: root.status === "error" ? Theme.danger : Theme.warning
                font.pixelSize: Theme.fontSize - 2
            }
        }

        // ---- footer: actions and stats ---------------------------------------------------
        RowLayout {
            width: column.width
            visible: !root.editing && (!(root.streaming && !root.isUser) || !root.saved)
            layoutDirection: root.isUser ? Qt.RightToLeft : Qt.LeftToRight
            spacing: Theme.spacing

            Row {
                id: actions
                Layout.leftMargin: root.isUser ? 0 : -6
                spacing: 2

                IconButton {
                    id: copyButton
                    objectName: "copyButton"
                    property bool copied: false
                    font.pixelSize: Theme.fontSize - 2
                    text: copied ? qsTr("Copied") : qsTr("Copy")
                    tip: qsTr("Copy the message")
                    onClicked: {
                        root.copyRequested(root.content)
                        copied = true
                        copiedTimer.restart()
                    }
                    Timer {
                        id: copiedTimer
                        interval: 1500
                        onTriggered: copyButton.copied = false
                    }
                }
                IconButton {
                    objectName: "editButton"
                    // Editing lays out the whole text: not for a message of megabytes.
                    visible: root.isUser && !root.generating && root.canResend && root.contentLength <= 100000
                    font.pixelSize: Theme.fontSize - 2
                    text: qsTr("Edit")
                    tip: qsTr("Edit and resend; the later messages are replaced")
                    onClicked: root.startEdit()
                }
                IconButton {
                    objectName: "regenerateButton"
                    visible: root.role === "assistant" && root.isLast && !root.generating && root.canResend
                    font.pixelSize: Theme.fontSize - 2
                    text: qsTr("Regenerate")
                    tip: qsTr("Write this answer again")
                    onClicked: root.regenerateRequested()
                }
            }

            Text {
                objectName: "notSavedMark"
                visible: !root.saved
                // A user message has no stats: the mark takes their place, beside the actions.
                Layout.fillWidth: root.isUser
                horizontalAlignment: Text.AlignRight
                text: qsTr("Not saved")
                color: Theme.warning
                font.pixelSize: Theme.fontSize - 3
                font.weight: Font.DemiBold
                ToolTip.visible: notSavedArea.containsMouse
                ToolTip.text: qsTr("Kept in memory and saved as soon as the disk allows")
                MouseArea {
                    id: notSavedArea
                    anchors.fill: parent
                    hoverEnabled: true
                }
            }

            Text {
                objectName: "statsText"
                visible: !root.isUser && root.statsText !== ""
                Layout.fillWidth: true
                text: root.statsText
                elide: Text.ElideRight
                color: Theme.textMuted
                font.pixelSize: Theme.fontSize - 3
            }
        }
    }
}
