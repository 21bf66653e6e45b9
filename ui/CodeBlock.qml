// A fenced code block of an answer: monospace text on the code background, the language as
// a label and a Copy button that emits the block's exact text.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import LatentChat

Rectangle {
    id: root

    property string code
    property string language

    signal copyRequested(string text)

    implicitHeight: header.height + codeText.implicitHeight + 1
    radius: Theme.radius
    color: Theme.codeBackground
    border.width: 1
    border.color: Theme.border
    clip: true

    Item {
        id: header
        width: parent.width
        height: 32

        Text {
            objectName: "codeLanguage"
            anchors.left: parent.left
            anchors.leftMargin: 12
            anchors.verticalCenter: parent.verticalCenter
            text: root.language !== "" ? root.language : qsTr("code")
            color: Theme.textMuted
            font.family: Theme.monoFont
            font.pixelSize: Theme.fontSize - 2
        }

        IconButton {
            id: copyButton
            objectName: "copyCodeButton"
            property bool copied: false
            anchors.right: parent.right
            anchors.rightMargin: 4
            anchors.verticalCenter: parent.verticalCenter
            size: 26
            font.pixelSize: Theme.fontSize - 2
            text: copied ? qsTr("Copied") : qsTr("Copy")
            tip: qsTr("Copy this code")
            onClicked: {
                root.copyRequested(root.code)
                copied = true
                copiedTimer.restart()
            }
            Timer {
                id: copiedTimer
                interval: 1500
                onTriggered: copyButton.copied = false
            }
        }

        Rectangle {
            anchors.bottom: parent.bottom
            width: parent.width
            height: 1
            color: Theme.border
        }
    }

    TextEdit {
        id: codeText
        objectName: "codeText"
        anchors.top: header.bottom
        anchors.left: parent.left
        anchors.right: parent.right
        padding: 12
        text: root.code
        textFormat: TextEdit.PlainText
        readOnly: true
        selectByMouse: true
        wrapMode: TextEdit.WrapAtWordBoundaryOrAnywhere
        font.family: Theme.monoFont
        font.pixelSize: Theme.fontSize - 1
        color: Theme.text
        selectionColor: Theme.accent
        selectedTextColor: Theme.accentText
    }
}
