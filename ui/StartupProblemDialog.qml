// Problems found before the main window existed (the data folder, the lock file or the log
// cannot be written), shown in a small window of their own: the app goes on without saving, and
// the main window's banner keeps saying so.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import LatentChat

Window {
    id: root

    property string text

    title: qsTr("Latent Chat cannot save your data")
    width: 520
    height: Math.min(column.implicitHeight + 40, 480)
    minimumWidth: 360
    color: Theme.background
    modality: Qt.ApplicationModal
    flags: Qt.Dialog
    visible: true

    ColumnLayout {
        id: column
        anchors.fill: parent
        anchors.margins: 20
        spacing: 14

        Text {
            Layout.fillWidth: true
            text: root.title
            font.pixelSize: Theme.fontSize + 2
            font.bold: true
            color: Theme.text
            wrapMode: Text.Wrap
        }
        Text {
            objectName: "startupProblemText"
            Layout.fillWidth: true
            Layout.fillHeight: true
            text: root.text
            color: Theme.text
            font.pixelSize: Theme.fontSize
            wrapMode: Text.Wrap
        }
        AppButton {
            objectName: "startupProblemOkButton"
            Layout.alignment: Qt.AlignRight
            accent: true
            text: qsTr("Continue")
            onClicked: root.close()
        }
    }
}
