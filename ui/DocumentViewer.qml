// The viewer of a cited passage, opened from an answer's source chip: the PDF page with the
// passage highlighted (previous/next page), or the document's text scrolled to the passage,
// highlighted; "Open in default app"; a plain message when the file is gone or has changed.
// Follows the DocumentViewerController: opens when it becomes active, closes it when dismissed.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import QtQuick.Window
import LatentChat

Dialog {
    id: root

    required property DocumentViewerController viewer

    // Set when a load finishes: the passage is scrolled into view once its view has been laid
    // out (a view that was hidden has no size yet when the content arrives).
    property bool scrollPending: false

    function scrollToPassage() {
        if (!root.scrollPending)
            return
        if (root.viewer.kind === "pdf") {
            if (pdfFlick.height <= 0 || pageItem.height <= 0)
                return
            const boxes = root.viewer.highlights
            const top = boxes.length > 0 ? boxes[0].y * pageItem.height - 60 : 0
            pdfFlick.contentY = Math.max(0, Math.min(top, pdfFlick.contentHeight - pdfFlick.height))
        } else if (root.viewer.kind === "text") {
            if (textFlick.height <= 0 || textView.height <= 0)
                return
            const top = root.viewer.highlightStart >= 0 ? textView.positionToRectangle(root.viewer.highlightStart).y - 60 : 0
            textFlick.contentY = Math.max(0, Math.min(top, textFlick.contentHeight - textFlick.height))
        }
        root.scrollPending = false
    }

    modal: true
    anchors.centerIn: parent
    width: Math.min(900, parent ? parent.width - 60 : 900)
    height: parent ? parent.height - 40 : 700
    padding: 12
    onClosed: root.viewer.close()

    background: Rectangle {
        color: Theme.surface
        border.color: Theme.border
        radius: Theme.radius
    }

    header: RowLayout {
        spacing: Theme.spacing
        Text {
            objectName: "viewerTitle"
            Layout.fillWidth: true
            Layout.leftMargin: 16
            Layout.topMargin: 10
            text: root.viewer.fileName
            elide: Text.ElideMiddle
            color: Theme.text
            font.pixelSize: Theme.fontSize + 2
            font.weight: Font.DemiBold
        }
        IconButton {
            objectName: "previousPageButton"
            Layout.topMargin: 10
            visible: root.viewer.kind === "pdf"
            enabled: root.viewer.page > 1 && !root.viewer.loading
            text: "‹"
            tip: qsTr("Previous page")
            onClicked: root.viewer.showPage(root.viewer.page - 1)
        }
        Text {
            objectName: "pageLabel"
            Layout.topMargin: 10
            visible: root.viewer.kind === "pdf"
            text: qsTr("Page %1 of %2").arg(root.viewer.page).arg(root.viewer.pageCount)
            color: Theme.textMuted
            font.pixelSize: Theme.fontSize - 1
        }
        IconButton {
            objectName: "nextPageButton"
            Layout.topMargin: 10
            visible: root.viewer.kind === "pdf"
            enabled: root.viewer.page < root.viewer.pageCount && !root.viewer.loading
            text: "›"
            tip: qsTr("Next page")
            onClicked: root.viewer.showPage(root.viewer.page + 1)
        }
        AppButton {
            objectName: "openExternallyButton"
            Layout.topMargin: 10
            text: qsTr("Open in default app")
            onClicked: root.viewer.openInDefaultApp()
        }
        AppButton {
            objectName: "closeViewerButton"
            Layout.topMargin: 10
            Layout.rightMargin: 12
            flat: true
            text: qsTr("Close")
            onClicked: root.close()
        }
    }

    // Pages are drawn for the width they are shown at, in device pixels.
    Binding {
        target: root.viewer
        property: "renderWidth"
        value: Math.round(Math.max(root.availableWidth, 600) * Screen.devicePixelRatio)
    }

    Connections {
        target: root.viewer
        function onActiveChanged() {
            if (root.viewer.active)
                root.open()
            else
                root.close()
        }
        function onLoaded() {
            root.scrollPending = true
            Qt.callLater(root.scrollToPassage)
        }
    }

    ColumnLayout {
        anchors.fill: parent
        spacing: Theme.spacing

        Text {
            objectName: "viewerMessage"
            Layout.fillWidth: true
            visible: text !== ""
            text: root.viewer.message
            wrapMode: Text.Wrap
            color: Theme.warning
        }

        BusyIndicator {
            Layout.alignment: Qt.AlignHCenter
            visible: root.viewer.loading
            running: visible
        }

        Flickable {
            id: pdfFlick
            objectName: "pdfView"
            Layout.fillWidth: true
            Layout.fillHeight: true
            visible: root.viewer.kind === "pdf"
            clip: true
            contentWidth: width
            contentHeight: pageItem.height
            ScrollBar.vertical: ScrollBar {}
            onContentHeightChanged: Qt.callLater(root.scrollToPassage)
            onHeightChanged: Qt.callLater(root.scrollToPassage)

            DocumentPage {
                id: pageItem
                objectName: "documentPage"
                viewer: root.viewer
                width: pdfFlick.width
                height: pdfFlick.width * root.viewer.pageAspect
            }
        }

        Flickable {
            id: textFlick
            objectName: "textView"
            Layout.fillWidth: true
            Layout.fillHeight: true
            visible: root.viewer.kind === "text"
            clip: true
            contentWidth: width
            contentHeight: textView.height
            ScrollBar.vertical: ScrollBar {}
            onContentHeightChanged: Qt.callLater(root.scrollToPassage)
            onHeightChanged: Qt.callLater(root.scrollToPassage)

            TextEdit {
                id: textView
                objectName: "viewerText"
                width: textFlick.width - 12
                readOnly: true
                selectByMouse: true
                wrapMode: TextEdit.Wrap
                textFormat: TextEdit.RichText
                text: root.viewer.kind === "text" ? root.viewer.highlightedHtml : ""
                color: Theme.text
                font.pixelSize: Theme.fontSize
                selectionColor: Theme.accent
                selectedTextColor: Theme.accentText
            }
        }
    }
}
