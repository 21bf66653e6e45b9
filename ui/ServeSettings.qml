// Settings → Model source → Serve this model to other apps on this computer: starts and stops
// `latent serve` on 127.0.0.1 (ServeController) and shows the address and the API key other
// programs need, with buttons to copy them. Disabled with the reason when no local model is
// loaded or the administrator forbids it.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import LatentChat

ColumnLayout {
    id: root

    required property ServeController serve

    spacing: 10

    Text {
        Layout.fillWidth: true
        wrapMode: Text.Wrap
        text: qsTr("Let editors, scripts and agents on this computer use the loaded model through the OpenAI API. Only programs on this computer can reach it, and they need the key shown here. It runs on the CPU until you stop it or quit the app.")
        color: Theme.textMuted
        font.pixelSize: Theme.fontSize - 2
    }
    RowLayout {
        Layout.fillWidth: true
        Label { text: qsTr("Port") }
        SpinBox {
            objectName: "servePortBox"
            from: 1024; to: 65535
            editable: true
            enabled: root.serve.allowed && root.serve.state === "stopped"
            value: root.serve.port
            textFromValue: (value) => String(value) // no thousands separator in a port
            onValueModified: root.serve.port = value
        }
        Item { Layout.fillWidth: true }
        AppButton {
            objectName: "serveButton"
            text: root.serve.state === "stopped" ? qsTr("Start serving")
                  : root.serve.state === "starting" ? qsTr("Cancel")
                  : root.serve.state === "stopping" ? qsTr("Stopping…") : qsTr("Stop serving")
            // A start can be cancelled (loading a big model takes a while).
            enabled: root.serve.state === "running" || root.serve.state === "starting"
                     || (root.serve.state === "stopped" && root.serve.unavailableNote.length === 0)
            onClicked: root.serve.state === "stopped" ? root.serve.start() : root.serve.stop()
        }
    }
    Text {
        Layout.fillWidth: true
        wrapMode: Text.Wrap
        visible: root.serve.state === "stopped" && root.serve.unavailableNote.length > 0
        text: root.serve.unavailableNote
        color: Theme.textMuted
        font.pixelSize: Theme.fontSize - 2
    }
    Text {
        Layout.fillWidth: true
        wrapMode: Text.Wrap
        visible: root.serve.running
        text: qsTr("Serving %1. Base URL and key for OpenAI clients (model name \"%1\"):").arg(root.serve.modelId)
        font.pixelSize: Theme.fontSize - 2
    }
    // A read-only value with a Copy button.
    component CopyRow: RowLayout {
        property alias value: field.text
        property alias fieldName: field.objectName
        Layout.fillWidth: true
        TextField {
            id: field
            Layout.fillWidth: true
            readOnly: true
            selectByMouse: true
        }
        AppButton {
            text: qsTr("Copy")
            onClicked: {
                field.selectAll()
                field.copy()
                field.deselect()
            }
        }
    }
    CopyRow {
        visible: root.serve.running
        fieldName: "serveUrlField"
        value: root.serve.url
    }
    CopyRow {
        visible: root.serve.running
        fieldName: "serveKeyField"
        value: root.serve.apiKey
    }
    Text {
        Layout.fillWidth: true
        wrapMode: Text.Wrap
        visible: root.serve.error.length > 0
        text: root.serve.error
        color: Theme.danger
        font.pixelSize: Theme.fontSize - 2
    }
}
