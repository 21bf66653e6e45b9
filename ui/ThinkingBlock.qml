// An answer's reasoning ("<think>…</think>" of R1-style models): open while the model is
// thinking, folded away once it is done; a click on the header shows or hides it.
import QtQuick
import QtQuick.Controls
import LatentChat

Rectangle {
    id: root

    property string text
    property bool thinking: false
    // Once the user has toggled the block, their choice wins over the automatic one.
    property bool userToggled: false
    property bool userExpanded: false
    readonly property bool expanded: userToggled ? userExpanded : thinking

    function toggle() {
        const next = !root.expanded
        root.userToggled = true
        root.userExpanded = next
    }

    implicitHeight: toggleButton.height + (body.visible ? body.implicitHeight : 0)
    radius: Theme.radius
    color: Theme.thinkingBackground
    border.width: 1
    border.color: Theme.border
    clip: true

    AbstractButton {
        id: toggleButton
        objectName: "thinkingToggle"
        width: parent.width
        height: 36
        hoverEnabled: true
        focusPolicy: Qt.TabFocus
        onClicked: root.toggle()

        background: Rectangle {
            radius: Theme.radius
            color: toggleButton.hovered ? Theme.selection : "transparent"
        }

        contentItem: Item {
            Text {
                id: chevron
                anchors.left: parent.left
                anchors.leftMargin: 12
                anchors.verticalCenter: parent.verticalCenter
                text: root.expanded ? "\u25BE" : "\u25B8"
                color: Theme.textMuted
                font.pixelSize: Theme.fontSize
            }
            Rectangle {
                id: pulse
                visible: root.thinking
                anchors.left: chevron.right
                anchors.leftMargin: 8
                anchors.verticalCenter: parent.verticalCenter
                width: 8
                height: 8
                radius: 4
                color: Theme.accent
                SequentialAnimation on opacity {
                    running: root.thinking
                    loops: Animation.Infinite
                    NumberAnimation { from: 1; to: 0.25; duration: 600; easing.type: Easing.InOutQuad }
                    NumberAnimation { from: 0.25; to: 1; duration: 600; easing.type: Easing.InOutQuad }
                }
            }
            Text {
                objectName: "thinkingTitle"
                anchors.left: root.thinking ? pulse.right : chevron.right
                anchors.leftMargin: 8
                anchors.verticalCenter: parent.verticalCenter
                text: root.thinking ? qsTr("Thinking…") : qsTr("Thought for a while")
                color: Theme.text
                font.pixelSize: Theme.fontSize - 1
                font.weight: Font.DemiBold
            }
            Text {
                anchors.right: parent.right
                anchors.rightMargin: 12
                anchors.verticalCenter: parent.verticalCenter
                text: root.expanded ? qsTr("Hide thinking") : qsTr("Show thinking")
                color: Theme.textMuted
                font.pixelSize: Theme.fontSize - 2
            }
        }
    }

    TextEdit {
        id: body
        objectName: "thinkingText"
        visible: root.expanded
        anchors.top: toggleButton.bottom
        anchors.left: parent.left
        anchors.right: parent.right
        leftPadding: 14
        rightPadding: 14
        topPadding: 2
        bottomPadding: 12
        text: root.text
        textFormat: TextEdit.PlainText
        readOnly: true
        selectByMouse: true
        wrapMode: TextEdit.Wrap
        color: Theme.textMuted
        font.pixelSize: Theme.fontSize - 1
        selectionColor: Theme.accent
        selectedTextColor: Theme.accentText
    }
}
