// MessageDelegate: user bubble vs full-width answer, Markdown and code as separate blocks,
// Copy on a code block, the thinking block, status texts, Regenerate's visibility, the edit flow,
// a long user message shown in parts.
import QtQuick
import QtTest
import LatentChat

Item {
    id: host
    width: 900
    height: 700

    Component {
        id: delegateComponent
        MessageDelegate {
            width: 800
            messageId: 7
            role: "assistant"
            content: ""
            reasoning: ""
            thinking: false
            status: "complete"
            errorText: ""
            blocks: []
            statsText: ""
            isLast: false
            saved: true
            sources: []
        }
    }

    SignalSpy { id: copySpy; signalName: "copyRequested" }
    SignalSpy { id: regenerateSpy; signalName: "regenerateRequested" }
    SignalSpy { id: editSpy; signalName: "editRequested" }
    SignalSpy { id: sourceSpy; signalName: "sourceRequested" }

    TestCase {
        name: "MessageDelegate"
        when: windowShown

        function make(properties) {
            const item = createTemporaryObject(delegateComponent, host, properties)
            verify(item !== null, "delegate created")
            for (const spy of [copySpy, regenerateSpy, editSpy, sourceSpy]) {
                spy.clear()
                spy.target = item
            }
            return item
        }

        // Every visible descendant whose objectName is `name`, in tree order.
        function findAll(item, name) {
            let found = []
            for (let i = 0; i < item.children.length; ++i) {
                const child = item.children[i]
                if (!child.visible)
                    continue
                if (child.objectName === name)
                    found.push(child)
                found = found.concat(findAll(child, name))
            }
            return found
        }

        function test_sourcesAreChipsThatOpenTheirPassage() {
            const sources = [
                { number: 1, label: "manual.pdf, p. 2", path: "/docs/manual.pdf", page: 2, start: 10, end: 40, text: "The fan runs." },
                { number: 2, label: "notes.md", path: "/docs/notes.md", page: 0, start: 0, end: 12, text: "Kestrel mode" },
            ]
            const item = make({ role: "assistant", content: "It runs [1][2].",
                                blocks: [{ kind: "markdown", text: "It runs [1][2].", language: "" }], sources: sources })
            const chips = findAll(item, "sourceChip")
            compare(chips.length, 2)
            compare(chips[0].contentItem.text, "[1] manual.pdf, p. 2")
            compare(chips[1].contentItem.text, "[2] notes.md")
            mouseClick(chips[1])
            compare(sourceSpy.count, 1)
            compare(sourceSpy.signalArguments[0][0].path, "/docs/notes.md")
            compare(sourceSpy.signalArguments[0][0].end, 12)

            // No chips on an answer without sources, nor on a user message.
            compare(findAll(make({ role: "assistant", content: "Hi." }), "sourceChip").length, 0)
            compare(findAll(make({ role: "user", content: "Hi.", sources: sources }), "sourceChip").length, 0)
        }

        function test_userMessageIsARightAlignedBubble() {
            const item = make({ role: "user", content: "How do I sort a list?" })
            const bubble = findChild(item, "userBubble")
            verify(bubble.visible)
            compare(findChild(item, "userText").text, "How do I sort a list?")
            const right = bubble.mapToItem(item, bubble.width, 0).x
            const left = bubble.mapToItem(item, 0, 0).x
            verify(bubble.width < item.width / 2, "a short message makes a narrow bubble")
            verify(left > item.width / 2, "the bubble sits on the right")
            verify(item.width - right < 60, "near the right edge")
            compare(findChild(item, "blocksColumn").visible, false)
        }

        function test_assistantMessageUsesTheFullColumn() {
            const item = make({ role: "assistant", content: "Hi.",
                                blocks: [{ kind: "markdown", text: "Hi.", language: "" }] })
            compare(findChild(item, "userBubble").visible, false)
            const blocksColumn = findChild(item, "blocksColumn")
            verify(blocksColumn.visible)
            verify(blocksColumn.width > item.width * 0.8, "full width of the content column")
        }

        function test_markdownAndCodeBlocksAreSeparateItems() {
            const code = "def add(a, b):\n    return a + b"
            const item = make({
                content: "Here:\n```python\n" + code + "\n```\nDone.",
                blocks: [{ kind: "markdown", text: "Here:", language: "" },
                         { kind: "code", text: code, language: "python" },
                         { kind: "markdown", text: "Done **now**.", language: "" }] })
            const markdown = findAll(item, "markdownBlock")
            const codeBlocks = findAll(item, "codeBlock")
            compare(markdown.length, 2)
            compare(codeBlocks.length, 1)
            compare(codeBlocks[0].code, code)
            compare(findChild(codeBlocks[0], "codeLanguage").text, "python")
            // Rendered as Markdown: the plain text has no asterisks left.
            compare(markdown[1].getText(0, markdown[1].length), "Done now.")
            const first = markdown[0].mapToItem(item, 0, 0).y
            const middle = codeBlocks[0].mapToItem(item, 0, 0).y
            const last = markdown[1].mapToItem(item, 0, 0).y
            verify(first < middle && middle < last, "blocks in order, one below the other")
        }

        function test_paragraphsAreSplit_data() {
            return [
                { tag: "two paragraphs", text: "First.\n\nSecond.", parts: ["First.", "Second."] },
                { tag: "heading then text", text: "## Title\n\nBody text.", parts: ["## Title", "Body text."] },
                { tag: "table stays whole", text: "| a | b |\n|---|---|\n| 1 | 2 |", parts: ["| a | b |\n|---|---|\n| 1 | 2 |"] },
                { tag: "loose list stays whole", text: "1. one\n\n2. two\n\n3. three\n\nAfter.",
                  parts: ["1. one\n\n2. two\n\n3. three", "After."] },
                { tag: "indented continuation", text: "- item\n\n  more of it\n- next", parts: ["- item\n\n  more of it\n- next"] },
                { tag: "blank lines trimmed", text: "\n\nOnly.\n\n\n", parts: ["Only."] },
            ]
        }
        function test_paragraphsAreSplit(data) {
            const item = make({ blocks: [{ kind: "markdown", text: data.text, language: "" }] })
            compare(findChild(item, "blocksColumn").splitParagraphs(data.text), data.parts)
            compare(findAll(item, "markdownBlock").length, data.parts.length)
        }

        function test_copyOnCodeBlockEmitsExactCode() {
            const code = "  indented\n\ttab\nlast line  "
            const item = make({ blocks: [{ kind: "code", text: code, language: "" }] })
            const block = findAll(item, "codeBlock")[0]
            compare(findChild(block, "codeLanguage").text, "code")
            mouseClick(findChild(block, "copyCodeButton"))
            compare(copySpy.count, 1)
            compare(copySpy.signalArguments[0][0], code)
        }

        function test_streamingUpdatesBlocksInPlace() {
            const item = make({ status: "streaming", blocks: [{ kind: "markdown", text: "One", language: "" }] })
            const before = findAll(item, "markdownBlock")[0]
            item.blocks = [{ kind: "markdown", text: "One two", language: "" }]
            const after = findAll(item, "markdownBlock")
            compare(after.length, 1)
            verify(after[0] === before, "the same item, new text")
            compare(after[0].getText(0, after[0].length), "One two")
            verify(findChild(item, "streamingIndicator").visible)
            item.blocks = [{ kind: "markdown", text: "One two", language: "" },
                           { kind: "code", text: "x = 1", language: "" }]
            compare(findAll(item, "codeBlock").length, 1)
            item.blocks = []
            compare(findAll(item, "markdownBlock").length, 0)
            compare(findAll(item, "codeBlock").length, 0)
        }

        function test_copyMessageEmitsContent() {
            const item = make({ content: "The whole *answer*.",
                                blocks: [{ kind: "markdown", text: "The whole *answer*.", language: "" }] })
            mouseClick(findChild(item, "copyButton"))
            compare(copySpy.count, 1)
            compare(copySpy.signalArguments[0][0], "The whole *answer*.")
        }

        function test_thinkingBlock() {
            const item = make({ status: "streaming", thinking: true, reasoning: "Let me see." })
            const block = findChild(item, "thinkingBlock")
            verify(block.visible)
            compare(findChild(block, "thinkingTitle").text, "Thinking…")
            verify(findChild(block, "thinkingText").visible, "open while thinking")
            compare(findChild(item, "streamingIndicator").visible, false)

            item.thinking = false
            item.status = "complete"
            compare(findChild(block, "thinkingTitle").text, "Thought for a while")
            compare(findChild(block, "thinkingText").visible, false, "folded once done")

            mouseClick(findChild(block, "thinkingToggle"))
            verify(findChild(block, "thinkingText").visible, "a click shows it")
            compare(findChild(block, "thinkingText").text, "Let me see.")
            mouseClick(findChild(block, "thinkingToggle"))
            compare(findChild(block, "thinkingText").visible, false, "a second click hides it")
        }

        function test_noThinkingBlockWithoutReasoning() {
            const item = make({ content: "Plain." })
            compare(findChild(item, "thinkingBlock").visible, false)
        }

        function test_statusText_data() {
            return [
                { tag: "complete", status: "complete", errorText: "", text: "" },
                { tag: "stopped", status: "stopped", errorText: "", text: "Stopped" },
                { tag: "stopped-model-changed", status: "stopped",
                  errorText: "the model file changed on disk; reload it: /m/x.gguf",
                  text: "Stopped: the model file changed on disk; reload it: /m/x.gguf" },
                { tag: "interrupted", status: "interrupted", errorText: "",
                  text: "Interrupted — the app closed while this answer was being written" },
                { tag: "error", status: "error", errorText: "out of memory", text: "Failed: out of memory" },
            ]
        }
        function test_statusText(data) {
            const item = make({ status: data.status, errorText: data.errorText, content: "partial" })
            const label = findChild(item, "statusLabel")
            compare(item.statusText, data.text)
            compare(label.text, data.text)
            compare(label.visible, data.text !== "")
        }

        function test_regenerateVisibility_data() {
            return [
                { tag: "last answer", role: "assistant", isLast: true, generating: false, visible: true },
                { tag: "older answer", role: "assistant", isLast: false, generating: false, visible: false },
                { tag: "while generating", role: "assistant", isLast: true, generating: true, visible: false },
                { tag: "user message", role: "user", isLast: true, generating: false, visible: false },
                { tag: "no model", role: "assistant", isLast: true, generating: false, canResend: false, visible: false },
            ]
        }
        function test_regenerateVisibility(data) {
            const item = make({ role: data.role, isLast: data.isLast, generating: data.generating, content: "x",
                                canResend: data.canResend !== false })
            const button = findChild(item, "regenerateButton")
            compare(button.visible, data.visible)
            if (data.visible) {
                mouseClick(button)
                compare(regenerateSpy.count, 1)
            }
        }

        function test_editFlowEmitsNewText() {
            const item = make({ role: "user", messageId: 42, content: "old question" })
            const editButton = findChild(item, "editButton")
            verify(editButton.visible)
            mouseClick(editButton)
            verify(item.editing)
            compare(findChild(item, "userBubble").visible, false)
            const area = findChild(item, "editArea")
            verify(area !== null)
            compare(area.text, "old question")
            tryCompare(area, "activeFocus", true)
            area.selectAll()
            for (const ch of "new question")
                keyClick(ch)
            mouseClick(findChild(item, "saveEditButton"))
            compare(editSpy.count, 1)
            compare(editSpy.signalArguments[0][0], 42)
            compare(editSpy.signalArguments[0][1], "new question")
            compare(item.editing, false)
        }

        function test_editCancelEmitsNothing() {
            const item = make({ role: "user", content: "keep me" })
            mouseClick(findChild(item, "editButton"))
            const area = findChild(item, "editArea")
            tryCompare(area, "activeFocus", true)
            keyClick("x")
            keyClick(Qt.Key_Escape)
            compare(item.editing, false)
            compare(editSpy.count, 0)
            verify(findChild(item, "userBubble").visible)
            compare(findChild(item, "userText").text, "keep me")
        }

        function test_editHiddenWhileGenerating() {
            const item = make({ role: "user", content: "q", generating: true })
            compare(findChild(item, "editButton").visible, false)
        }

        function test_notSavedMarkWhileTheDiskRefuses() {
            const saved = make({ content: "a" })
            compare(findChild(saved, "notSavedMark").visible, false)
            const answer = make({ content: "a", saved: false })
            verify(findChild(answer, "notSavedMark").visible)
            compare(findChild(answer, "notSavedMark").text, "Not saved")
            const question = make({ role: "user", content: "q", saved: false })
            verify(findChild(question, "notSavedMark").visible)
            // A streaming answer hides its footer, but not the mark.
            const streaming = make({ content: "a", status: "streaming", saved: false })
            verify(findChild(streaming, "notSavedMark").visible)
            compare(findChild(make({ content: "a", status: "streaming" }), "notSavedMark").visible, false)
        }

        function test_statsTextShownForAnswers() {
            const item = make({ statsText: "128 tokens · 9.3 tokens/s", content: "a" })
            const stats = findChild(item, "statsText")
            verify(stats.visible)
            compare(stats.text, "128 tokens · 9.3 tokens/s")
        }

        function test_longUserMessageShownInPartsCopiedWhole() {
            const content = "0123456789".repeat(7000) // 70,000 characters
            const item = make({ role: "user", content: content })
            const text = findChild(item, "userText")
            compare(text.text.length, item.shownLength + 1)
            verify(text.text.endsWith("…"))
            compare(text.text.substring(0, item.shownLength), content.substring(0, item.shownLength))
            const more = findChild(item, "showMoreButton")
            verify(more.visible)
            verify(more.text.indexOf("50") >= 0, more.text) // 50,000 more characters
            compare(findChild(item, "editButton").visible, true)
            mouseClick(more)
            compare(text.text, content)
            compare(more.visible, false)
            mouseClick(findChild(item, "copyButton"))
            compare(copySpy.count, 1)
            compare(copySpy.signalArguments[0][0], content)
        }

        function test_messageOfMegabytesIsNotEditedInPlace() {
            const item = make({ role: "user", content: "x".repeat(100001) })
            compare(findChild(item, "editButton").visible, false)
            compare(findChild(item, "showMoreButton").visible, true)
        }
    }
}
