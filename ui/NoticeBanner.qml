// A one-time message from the app (a damaged history moved aside, a migration backup), shown
// above the chat until dismissed.
import QtQuick
import QtQuick.Layouts
import LatentChat

Rectangle {
    id: root

    property string text

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
