// Composer keys: Enter sends and clears, Shift+Enter is a newline, blank text and canSend
// false do not send, Esc stops only while generating, Stop replaces Send while generating.
import QtQuick
import QtTest
import LatentChat

Item {
    id: host
    width: 700
    height: 300

    Component {
        id: composerComponent
        Composer {
            width: 600
        }
    }

    SignalSpy {
        id: sendSpy
        signalName: "sendRequested"
    }
    SignalSpy {
        id: stopSpy
        signalName: "stopRequested"
    }

    TestCase {
        name: "Composer"
        when: windowShown

        function makeComposer(properties) {
            const composer = createTemporaryObject(composerComponent, host, properties)
            verify(composer !== null, "composer created")
            sendSpy.clear()
            stopSpy.clear()
            sendSpy.target = composer
            stopSpy.target = composer
            composer.focusInput()
            const input = findChild(composer, "composerInput")
            verify(input !== null, "input found")
            tryCompare(input, "activeFocus", true)
            return composer
        }

        function typeText(text) {
            for (let i = 0; i < text.length; ++i)
                keyClick(text[i])
        }

        function test_enterSendsAndClears() {
            const composer = makeComposer({ canSend: true })
            typeText("hello")
            compare(composer.text, "hello")
            keyClick(Qt.Key_Return)
            compare(sendSpy.count, 1)
            compare(sendSpy.signalArguments[0][0], "hello")
            compare(composer.text, "")
        }

        function test_keypadEnterSends() {
            const composer = makeComposer({ canSend: true })
            typeText("hi")
            keyClick(Qt.Key_Enter)
            compare(sendSpy.count, 1)
            compare(sendSpy.signalArguments[0][0], "hi")
        }

        function test_shiftEnterInsertsNewline() {
            const composer = makeComposer({ canSend: true })
            typeText("line one")
            keyClick(Qt.Key_Return, Qt.ShiftModifier)
            typeText("two")
            compare(sendSpy.count, 0)
            compare(composer.text, "line one\ntwo")
            keyClick(Qt.Key_Return)
            compare(sendSpy.count, 1)
            compare(sendSpy.signalArguments[0][0], "line one\ntwo")
        }

        function test_blankTextDoesNotSend_data() {
            return [
                { tag: "empty", text: "" },
                { tag: "spaces", text: "   " },
            ]
        }
        function test_blankTextDoesNotSend(data) {
            const composer = makeComposer({ canSend: true })
            typeText(data.text)
            keyClick(Qt.Key_Return)
            compare(sendSpy.count, 0)
            const sendButton = findChild(composer, "sendButton")
            compare(sendButton.enabled, false)
        }

        function test_cannotSendKeepsText() {
            const composer = makeComposer({ canSend: false, disabledReason: "Open a model to start chatting" })
            typeText("question")
            keyClick(Qt.Key_Return)
            compare(sendSpy.count, 0)
            compare(composer.text, "question")
            compare(findChild(composer, "sendButton").enabled, false)
            compare(findChild(composer, "composerInput").placeholderText, "Open a model to start chatting")
        }

        function test_sendButtonSends() {
            const composer = makeComposer({ canSend: true })
            typeText("via button")
            const sendButton = findChild(composer, "sendButton")
            compare(sendButton.enabled, true)
            mouseClick(sendButton)
            compare(sendSpy.count, 1)
            compare(sendSpy.signalArguments[0][0], "via button")
            compare(composer.text, "")
        }

        function test_escapeStopsOnlyWhileGenerating_data() {
            return [
                { tag: "idle", generating: false, stops: 0 },
                { tag: "generating", generating: true, stops: 1 },
            ]
        }
        function test_escapeStopsOnlyWhileGenerating(data) {
            makeComposer({ canSend: !data.generating, generating: data.generating })
            keyClick(Qt.Key_Escape)
            compare(stopSpy.count, data.stops)
        }

        function test_stopButtonWhileGenerating() {
            const composer = makeComposer({ canSend: true, generating: false })
            const sendButton = findChild(composer, "sendButton")
            const stopButton = findChild(composer, "stopButton")
            compare(sendButton.visible, true)
            compare(stopButton.visible, false)
            composer.generating = true
            composer.canSend = false
            compare(sendButton.visible, false)
            compare(stopButton.visible, true)
            mouseClick(stopButton)
            compare(stopSpy.count, 1)
            // Typing while generating is allowed; Enter does not send it.
            typeText("next")
            keyClick(Qt.Key_Return)
            compare(sendSpy.count, 0)
            compare(composer.text, "next")
        }

        function test_focusInput() {
            const composer = makeComposer({ canSend: true })
            const input = findChild(composer, "composerInput")
            input.focus = false
            host.forceActiveFocus()
            compare(input.activeFocus, false)
            composer.focusInput()
            compare(input.activeFocus, true)
        }

        function test_growsWithLinesUpToALimit() {
            const composer = makeComposer({ canSend: true })
            const oneLine = composer.height
            composer.text = "a\nb\nc"
            verify(composer.height > oneLine, "three lines are taller than one")
            composer.text = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16\n17\n18\n19\n20"
            const capped = composer.height
            composer.text += "\n21\n22\n23"
            compare(composer.height, capped)
        }
    }
}
