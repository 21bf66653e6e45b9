// A message shown outside the main window: why a second start could not reach the running one
// (the app then exits), or problems found before the main window existed — the data folder, the
// lock file or the log cannot be written — while the app goes on without saving and the main
// window's banner keeps saying so. One button closes it.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import LatentChat

Window {
    id: window

    required property string heading
    required property string message
    property string buttonText: qsTr("Close")

    title: window.heading
    width: 520
    height: Math.min(Math.max(180, column.implicitHeight + 40), 480)
    minimumWidth: 360
    visible: true
    color: Theme.surface
    flags: Qt.Dialog

    ColumnLayout {
        id: column
        anchors.fill: parent
        anchors.margins: 20
        spacing: 12

        Text {
            objectName: "startupHeading"
            Layout.fillWidth: true
            text: window.heading
            wrapMode: Text.Wrap
            color: Theme.text
            font.pixelSize: Theme.fontSize + 3
            font.weight: Font.DemiBold
        }
        Text {
            objectName: "startupMessage"
            Layout.fillWidth: true
            Layout.fillHeight: true
            text: window.message
            wrapMode: Text.Wrap
            color: Theme.text
            font.pixelSize: Theme.fontSize
        }
        AppButton {
            objectName: "startupCloseButton"
            Layout.alignment: Qt.AlignRight
            accent: true
            text: window.buttonText
            focus: true
            onClicked: window.close()
            Keys.onReturnPressed: window.close()
            Keys.onEscapePressed: window.close()
        }
    }
}
