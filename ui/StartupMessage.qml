// A message shown before (or instead of) the main window: why Latent Chat cannot start, or why
// a second start could not reach the running one. One button closes it; the app then exits.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import LatentChat

ApplicationWindow {
    id: window

    required property string heading
    required property string message

    title: qsTr("Latent Chat")
    width: 480
    height: Math.max(180, column.implicitHeight + 40)
    visible: true
    color: Theme.surface

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
            Layout.alignment: Qt.AlignRight
            accent: true
            text: qsTr("Close")
            focus: true
            onClicked: window.close()
            Keys.onReturnPressed: window.close()
            Keys.onEscapePressed: window.close()
        }
    }
}
