// Settings → Model source: the local model (loaded from the model panel) or an OpenAI-compatible
// endpoint (a vLLM or SGLang cluster, or latent serve): URL, API key, a model from its list,
// Connect. Disabled with the reason when the administrator forbids endpoints.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import LatentChat

ColumnLayout {
    id: root

    required property EndpointController endpoint
    signal connectRequested()

    spacing: 10

    Text {
        Layout.fillWidth: true
        wrapMode: Text.Wrap
        text: root.endpoint.allowed
              ? qsTr("Open a model file from the model panel, or use a model served elsewhere through the OpenAI API (for models too big for this computer).")
              : root.endpoint.policyNote
        color: Theme.textMuted
        font.pixelSize: Theme.fontSize - 2
    }
    TextField {
        id: urlField
        objectName: "endpointUrlInput"
        Layout.fillWidth: true
        enabled: root.endpoint.allowed
        placeholderText: qsTr("Endpoint URL, e.g. http://gpu-server:8000/v1")
        text: root.endpoint.url
        onEditingFinished: root.endpoint.url = text
    }
    TextField {
        id: keyField
        objectName: "endpointKeyInput"
        Layout.fillWidth: true
        enabled: root.endpoint.allowed
        echoMode: TextInput.Password
        placeholderText: qsTr("API key (if the endpoint needs one)")
        text: root.endpoint.apiKey
        onEditingFinished: root.endpoint.apiKey = text
    }
    Text {
        Layout.fillWidth: true
        wrapMode: Text.Wrap
        visible: root.endpoint.allowed
        text: root.endpoint.keyNote
        color: Theme.textMuted
        font.pixelSize: Theme.fontSize - 3
    }
    RowLayout {
        Layout.fillWidth: true
        enabled: root.endpoint.allowed
        ComboBox {
            objectName: "endpointModelBox"
            Layout.fillWidth: true
            model: root.endpoint.models
            currentIndex: root.endpoint.models.indexOf(root.endpoint.model)
            displayText: root.endpoint.model.length > 0 ? root.endpoint.model : qsTr("Model (list it first)")
            onActivated: root.endpoint.model = currentText
        }
        AppButton {
            objectName: "endpointListButton"
            text: root.endpoint.busy ? qsTr("Listing…") : qsTr("List models")
            enabled: !root.endpoint.busy
            onClicked: {
                root.endpoint.url = urlField.text
                root.endpoint.apiKey = keyField.text
                root.endpoint.refreshModels()
            }
        }
        AppButton {
            objectName: "endpointConnectButton"
            text: qsTr("Connect")
            enabled: urlField.text.length > 0
            onClicked: {
                root.endpoint.url = urlField.text
                root.endpoint.apiKey = keyField.text
                root.endpoint.connectEndpoint()
                root.connectRequested()
            }
        }
    }
    Text {
        Layout.fillWidth: true
        wrapMode: Text.Wrap
        visible: root.endpoint.error.length > 0
        text: root.endpoint.error
        color: Theme.danger
        font.pixelSize: Theme.fontSize - 2
    }
}
