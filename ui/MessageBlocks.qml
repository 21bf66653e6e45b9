// The body of an answer: its blocks (see markdownBlocks in controllers/text_helpers.h) as
// Markdown paragraphs and code blocks, one item each.
import QtQuick
import LatentChat

Column {
    id: root

    property var blocks: []          // [{kind: "markdown"|"code", text, language}]

    signal copyRequested(string text) // a code block's Copy

    spacing: 10

    onBlocksChanged: syncBlocks()
    Component.onCompleted: syncBlocks()

    // The blocks of the answer are mirrored into a ListModel updated in place, so a streaming
    // answer changes the text of its last block instead of rebuilding every block 30× a second.
    // Markdown blocks are further split into paragraphs: Qt's Markdown renderer puts no space
    // between paragraphs, and only the last paragraph is re-parsed while an answer streams.
    ListModel {
        id: blockModel
    }

    function isListItem(line) {
        return /^ {0,3}([-*+]|[0-9]{1,9}[.)])(\s|$)/.test(line)
    }

    // Splits Markdown at blank lines, except where the text after the blank line continues
    // the same construct (an indented line, or the next item of a list).
    function splitParagraphs(text) {
        const chunks = []
        let current = []
        let sawBlank = false
        let inList = false
        const flush = () => {
            const chunk = current.join("\n").replace(/^\n+/, "").replace(/\s+$/, "")
            if (chunk.length > 0)
                chunks.push(chunk)
            current = []
        }
        for (const line of text.split("\n")) {
            if (line.trim() === "") {
                sawBlank = current.length > 0
                current.push(line)
                continue
            }
            if (sawBlank) {
                const indented = /^\s/.test(line)
                if (!indented && !(inList && root.isListItem(line))) {
                    flush()
                    inList = false
                }
            }
            sawBlank = false
            if (root.isListItem(line))
                inList = true
            current.push(line)
        }
        flush()
        return chunks
    }

    function displayBlocks() {
        const list = root.blocks ? root.blocks : []
        const out = []
        for (let i = 0; i < list.length; ++i) {
            const text = list[i].text !== undefined ? String(list[i].text) : ""
            if (list[i].kind === "code") {
                out.push({ kind: "code", text: text, language: list[i].language !== undefined ? String(list[i].language) : "" })
                continue
            }
            for (const paragraph of root.splitParagraphs(text))
                out.push({ kind: "markdown", text: paragraph, language: "" })
        }
        return out
    }

    function syncBlocks() {
        const list = root.displayBlocks()
        for (let i = 0; i < list.length; ++i) {
            const block = list[i]
            if (i >= blockModel.count) {
                blockModel.append(block)
                continue
            }
            const current = blockModel.get(i)
            if (current.kind !== block.kind) {
                blockModel.set(i, block)
            } else {
                if (current.text !== block.text)
                    blockModel.setProperty(i, "text", block.text)
                if (current.language !== block.language)
                    blockModel.setProperty(i, "language", block.language)
            }
        }
        if (blockModel.count > list.length)
            blockModel.remove(list.length, blockModel.count - list.length)
    }


    Repeater {
        model: blockModel

        delegate: Loader {
            id: blockLoader
            required property string kind
            required property string text
            required property string language
            width: root.width
            sourceComponent: kind === "code" ? codeComponent : markdownComponent

            Component {
                id: markdownComponent
                TextEdit {
                    objectName: "markdownBlock"
                    text: blockLoader.text
                    textFormat: TextEdit.MarkdownText
                    readOnly: true
                    selectByMouse: true
                    wrapMode: TextEdit.Wrap
                    color: Theme.text
                    font.pixelSize: Theme.fontSize
                    selectionColor: Theme.accent
                    selectedTextColor: Theme.accentText
                    onLinkActivated: (link) => Qt.openUrlExternally(link)
                    HoverHandler {
                        enabled: parent.hoveredLink !== ""
                        cursorShape: Qt.PointingHandCursor
                    }
                }
            }
            Component {
                id: codeComponent
                CodeBlock {
                    objectName: "codeBlock"
                    code: blockLoader.text
                    language: blockLoader.language
                    onCopyRequested: (code) => root.copyRequested(code)
                }
            }
        }
    }
}
