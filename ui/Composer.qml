// The message box under the chat: multi-line, grows up to ~8 lines. Enter sends (when
// canSend and the text is not blank; the box is cleared), Shift+Enter starts a new line, Esc
// asks to stop while an answer is being generated. Decides nothing: it emits sendRequested and
// stopRequested. With a DraftController (`draft`), a long paste is held as a pasted-text block
// instead of in the text area, a paste over the message limit is refused with a note, and the
// draft's token count is shown when it is long or too long for the model's context.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import LatentChat

Rectangle {
    id: root

    property bool canSend: false
    property bool generating: false
    // Why sending is impossible right now ("Open a model to start chatting"), shown as the
    // placeholder while canSend is false.
    property string disabledReason: ""
    property alias text: input.text
    property DraftController draft: null
    readonly property bool inputFocused: input.activeFocus

    signal sendRequested(string text)
    signal stopRequested()

    function focusInput() {
        input.forceActiveFocus()
    }

    // Sends the text (and the pasted-text block) when possible; returns whether it did.
    function trySend() {
        if (!root.canSend)
            return false
        const text = root.draft ? root.draft.compose(input.text) : input.text
        if (text.trim().length === 0)
            return false
        input.clear()
        if (root.draft)
            root.draft.clear()
        root.sendRequested(text)
        return true
    }

    // Puts a message back (its send failed); a long one goes into the pasted-text block.
    function restore(text) {
        input.text = root.draft ? root.draft.restore(text) : text
    }

    // Text that reached the text area some other way than a key paste (a middle click, an input
    // method) and is too long for it moves to the pasted-text block, or is undone when it makes
    // the message too long.
    property bool movingText: false
    property int lastLength: 0
    function checkLength() {
        // Typing may go on past inlineLength; only a jump (text arriving at once) is moved.
        const jumped = input.length - root.lastLength > 256
        root.lastLength = input.length
        if (!root.draft || input.length <= root.draft.inlineLength || !jumped)
            return
        root.movingText = true
        if (root.draft.insert(input.text, 0, 0) && root.draft.refusal !== "")
            input.undo()
        if (input.length > root.draft.inlineLength || root.draft.refusal === "")
            input.clear()  // moved to the block, or refused and not undoable (it was set, not typed)
        root.lastLength = input.length
        root.movingText = false
    }

    function insertNewline() {
        if (input.selectedText.length > 0)
            input.remove(input.selectionStart, input.selectionEnd)
        input.insert(input.cursorPosition, "\n")
    }

    readonly property real inputHeight: Math.min(input.implicitHeight,
                                                 metrics.lineSpacing * 8 + input.topPadding + input.bottomPadding)

    readonly property bool hasPasted: root.draft !== null && root.draft.pastedLength > 0
    readonly property string note: {
        if (!root.draft)
            return ""
        if (root.draft.refusal !== "")
            return root.draft.refusal
        if (root.draft.tooLong)
            return qsTr("Too long for the model's context: %1 tokens, and an answer leaves room for %2. "
                        + "Shorten it, or raise the context length in Settings.")
                       .arg(root.draft.tokens).arg(root.draft.tokenLimit)
        if (!root.hasPasted && input.length < 2000)
            return ""
        if (root.draft.tokens >= 0)
            return qsTr("%1 tokens").arg(root.draft.tokens)
        return root.canSend || root.generating ? qsTr("Counting tokens…") : "" // no model: nothing to count with
    }

    // Summed here rather than read from the layout, which settles only at the next polish.
    implicitHeight: Math.max(52, inputHeight + 16 + (pastedChip.visible ? pastedChip.implicitHeight + column.spacing : 0)
                                 + (noteText.visible ? noteText.implicitHeight + column.spacing : 0))
    radius: 14
    color: Theme.surface
    border.width: 1
    border.color: input.activeFocus ? Theme.accent : Theme.border
    Behavior on border.color { ColorAnimation { duration: 120 } }

    FontMetrics {
        id: metrics
        font: input.font
    }

    ColumnLayout {
        id: column
        anchors.fill: parent
        anchors.leftMargin: 10
        anchors.rightMargin: 8
        anchors.topMargin: 8
        anchors.bottomMargin: 8
        spacing: 6

        PastedText {
            id: pastedChip
            objectName: "pastedText"
            visible: root.hasPasted
            Layout.fillWidth: true
            length: root.draft ? root.draft.pastedLength : 0
            lines: root.draft ? root.draft.pastedLines : 0
            preview: root.draft ? root.draft.pastedPreview : ""
            onRemoveRequested: root.draft.removePasted()
        }

        RowLayout {
            Layout.fillWidth: true
            Layout.fillHeight: true
            spacing: Theme.spacing

            ScrollView {
                id: scroll
                Layout.fillWidth: true
                Layout.alignment: Qt.AlignVCenter
                Layout.preferredHeight: root.inputHeight
                clip: true

                TextArea {
                    id: input
                    objectName: "composerInput"
                    wrapMode: TextEdit.Wrap
                    textFormat: TextEdit.PlainText
                    font.pixelSize: Theme.fontSize + 1
                    color: Theme.text
                    selectByMouse: true
                    persistentSelection: true
                    background: null
                    padding: 4
                    placeholderTextColor: Theme.textMuted
                    placeholderText: !root.canSend && !root.generating && root.disabledReason !== ""
                                     ? root.disabledReason
                                     : qsTr("Message Latent Chat  (Enter to send, Shift+Enter for a new line)")

                    onTextChanged: {
                        if (root.movingText)
                            return
                        root.checkLength()
                        if (root.draft)
                            root.draft.typedChanged(input.text)
                    }

                    Keys.onPressed: (event) => {
                        if (event.matches(StandardKey.Paste) && root.draft) {
                            event.accepted = root.draft.paste(input.length, input.selectedText.length)
                            return
                        }
                        if (event.key === Qt.Key_Return || event.key === Qt.Key_Enter) {
                            if (input.inputMethodComposing) {
                                event.accepted = false
                                return
                            }
                            event.accepted = true
                            if (event.modifiers & Qt.ShiftModifier)
                                root.insertNewline()
                            else
                                root.trySend()
                        } else if (event.key === Qt.Key_Escape) {
                            if (root.generating) {
                                root.stopRequested()
                                event.accepted = true
                            } else {
                                event.accepted = false
                            }
                        }
                    }
                }
            }

            AppButton {
                id: sendButton
                objectName: "sendButton"
                Layout.alignment: Qt.AlignBottom
                visible: !root.generating
                accent: true
                text: qsTr("Send")
                enabled: root.canSend && (root.hasPasted || input.text.trim().length > 0)
                onClicked: {
                    root.trySend()
                    root.focusInput()
                }
            }

            AppButton {
                id: stopButton
                objectName: "stopButton"
                Layout.alignment: Qt.AlignBottom
                visible: root.generating
                danger: true
                text: qsTr("Stop")
                focusPolicy: Qt.NoFocus
                onClicked: root.stopRequested()
                ToolTip.visible: hovered
                ToolTip.text: qsTr("Stop the answer (Esc)")
                ToolTip.delay: 600
            }
        }

        Text {
            id: noteText
            objectName: "draftNote"
            visible: root.note !== ""
            Layout.fillWidth: true
            text: root.note
            wrapMode: Text.Wrap
            color: root.draft && (root.draft.refusal !== "" || root.draft.tooLong) ? Theme.danger : Theme.textMuted
            font.pixelSize: Theme.fontSize - 3
        }
    }
}
