// A message from the app shown above the chat: one-time (a damaged history repaired or moved
// aside) until dismissed, or persistent (a read-only history) with no Dismiss button.
import QtQuick
import QtQuick.Layouts
import LatentChat

Rectangle {
    id: root

    property string text
    property bool dismissible: true

    signal dismissed()

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
            color: Theme.warning
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
