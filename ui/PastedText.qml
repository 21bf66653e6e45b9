// A long paste held beside the composer's text (see DraftController): its size and first
// words, and a button that removes it. It is sent after what is typed.
import QtQuick
import QtQuick.Layouts
import LatentChat

Rectangle {
    id: root

    property int length: 0
    property int lines: 0
    property string preview: ""

    signal removeRequested()

    implicitHeight: row.implicitHeight + 12
    radius: 8
    color: Theme.thinkingBackground
    border.width: 1
    border.color: Theme.border

    RowLayout {
        id: row
        anchors.fill: parent
        anchors.leftMargin: 10
        anchors.rightMargin: 4
        spacing: Theme.spacing

        Text {
            objectName: "pastedTextSize"
            text: qsTr("Pasted text · %1 characters · %2 lines")
                      .arg(root.length.toLocaleString(Qt.locale(), "f", 0))
                      .arg(root.lines.toLocaleString(Qt.locale(), "f", 0))
            color: Theme.text
            font.pixelSize: Theme.fontSize - 2
            font.weight: Font.DemiBold
        }
        Text {
            Layout.fillWidth: true
            text: root.preview
            elide: Text.ElideRight
            color: Theme.textMuted
            font.pixelSize: Theme.fontSize - 2
        }
        IconButton {
            objectName: "removePastedButton"
            text: qsTr("Remove")
            font.pixelSize: Theme.fontSize - 2
            tip: qsTr("Remove the pasted text from the message")
            onClicked: root.removeRequested()
        }
    }
}
