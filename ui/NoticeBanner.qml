// A message from the app shown above the chat: a one-time notice (a damaged history repaired or
// moved aside, a migration backup) until dismissed, or a lasting state (messages not saved yet, a
// read-only history) with no Dismiss, possibly with an action ("Retry now"), gone when the
// state is.
import QtQuick
import QtQuick.Layouts
import LatentChat

Rectangle {
    id: root

    property string text
    property string actionText: ""    // a button before Dismiss when set
    property color dotColor: Theme.warning
    property bool dismissible: true

    signal dismissed()
    signal actionTriggered()

    visible: text !== ""
    implicitHeight: visible ? row.implicitHeight + 20 : 0
    color: Theme.thinkingBackground

    RowLayout {
        id: row
        anchors.fill: parent
        anchors.leftMargin: 20
        anchors.rightMargin: 12
        anchors.topMargin: 10
        anchors.bottomMargin: 10
        spacing: 10

        Rectangle {
            Layout.alignment: Qt.AlignVCenter
            width: 8
            height: 8
            radius: 4
            color: root.dotColor
        }
        Text {
            objectName: "noticeText"
            Layout.fillWidth: true
            text: root.text
            wrapMode: Text.Wrap
            color: Theme.text
            font.pixelSize: Theme.fontSize - 1
        }
        AppButton {
            objectName: "noticeActionButton"
            visible: root.actionText !== ""
            text: root.actionText
            onClicked: root.actionTriggered()
        }
        AppButton {
            objectName: "dismissNoticeButton"
            visible: root.dismissible
            flat: true
            text: qsTr("Dismiss")
            onClicked: root.dismissed()
        }
    }

    Rectangle {
        anchors.bottom: parent.bottom
        width: parent.width
        height: 1
        color: Theme.border
    }
}
