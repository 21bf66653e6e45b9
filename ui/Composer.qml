// The message box under the chat: multi-line, grows up to ~8 lines. Enter sends (when
// canSend and the text is not blank; the box is cleared), Shift+Enter starts a new line, Esc
// asks to stop while an answer is being generated. Decides nothing: it emits sendRequested and
// stopRequested.
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
    readonly property bool inputFocused: input.activeFocus

    signal sendRequested(string text)
    signal stopRequested()

    function focusInput() {
        input.forceActiveFocus()
    }

    // Sends the text when possible; returns whether it did.
    function trySend() {
        if (!root.canSend || input.text.trim().length === 0)
            return false
        const text = input.text
        input.clear()
        root.sendRequested(text)
        return true
    }

    function insertNewline() {
        if (input.selectedText.length > 0)
            input.remove(input.selectionStart, input.selectionEnd)
        input.insert(input.cursorPosition, "\n")
    }

    readonly property real inputHeight: Math.min(input.implicitHeight,
                                                 metrics.lineSpacing * 8 + input.topPadding + input.bottomPadding)

    implicitHeight: Math.max(52, inputHeight + 16)
    radius: 14
    color: Theme.surface
    border.width: 1
    border.color: input.activeFocus ? Theme.accent : Theme.border
    Behavior on border.color { ColorAnimation { duration: 120 } }

    FontMetrics {
        id: metrics
        font: input.font
    }

    RowLayout {
        anchors.fill: parent
        anchors.leftMargin: 10
        anchors.rightMargin: 8
        anchors.topMargin: 8
        anchors.bottomMargin: 8
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

                Keys.onPressed: (event) => {
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
            enabled: root.canSend && input.text.trim().length > 0
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
}
