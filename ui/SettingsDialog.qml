// Settings, bound directly to the SettingsController (each change is saved at once): the
// system prompt, sampling, answer length, the model source (ModelSourceSettings),
// context/threads/backend (applied on Reload), theme.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import LatentChat

Dialog {
    id: root

    required property SettingsController settings
    property EndpointController endpoint: null
    property ServeController serve: null
    property bool modelLoaded: false

    signal reloadRequested()

    function locked(name) { return root.settings.lockedSettings.includes(name) }
    function backendLabel(name) {
        switch (name) {
        case "auto": return qsTr("Automatic (GPU when available)")
        case "cpu": return qsTr("CPU")
        case "cuda": return qsTr("NVIDIA GPU (CUDA)")
        default: return name
        }
    }

    title: qsTr("Settings")
    modal: true
    anchors.centerIn: parent
    width: Math.min(600, parent ? parent.width - 80 : 600)
    height: Math.min(760, parent ? parent.height - 60 : 760)
    padding: 0

    onAboutToShow: systemPrompt.text = root.settings.systemPrompt
    onClosed: systemPromptSave.triggered()

    background: Rectangle {
        color: Theme.surface
        border.color: Theme.border
        radius: Theme.radius
    }

    header: Text {
        text: root.title
        padding: 20
        bottomPadding: 8
        color: Theme.text
        font.pixelSize: Theme.fontSize + 6
        font.weight: Font.DemiBold
    }

    footer: Item {
        implicitHeight: 64
        Rectangle {
            width: parent.width
            height: 1
            color: Theme.border
        }
        AppButton {
            objectName: "closeSettingsButton"
            anchors.right: parent.right
            anchors.rightMargin: 20
            anchors.verticalCenter: parent.verticalCenter
            accent: true
            text: qsTr("Close")
            onClicked: root.close()
        }
    }

    Timer {
        id: systemPromptSave
        interval: 500
        onTriggered: {
            if (root.settings.systemPrompt !== systemPrompt.text)
                root.settings.systemPrompt = systemPrompt.text
        }
    }

    ScrollView {
        id: scroll
        anchors.fill: parent
        contentWidth: availableWidth
        clip: true

        ColumnLayout {
            width: scroll.availableWidth - 40
            x: 20
            spacing: 14

            LockedSettingsNote {
                Layout.fillWidth: true
                Layout.topMargin: 4
                locked: root.settings.lockedSettings
            }
            SectionTitle { text: qsTr("Conversation") }
            Text {
                text: qsTr("System prompt")
                color: Theme.text
                font.pixelSize: Theme.fontSize - 1
            }
            ScrollView {
                Layout.fillWidth: true
                Layout.preferredHeight: 96
                TextArea {
                    id: systemPrompt
                    objectName: "systemPromptInput"
                    enabled: !root.locked("systemPrompt")
                    wrapMode: TextEdit.Wrap
                    selectByMouse: true
                    placeholderText: qsTr("Instructions the model follows in every new conversation (optional)")
                    onTextChanged: systemPromptSave.restart()
                    background: Rectangle {
                        color: Theme.background
                        border.color: systemPrompt.activeFocus ? Theme.accent : Theme.border
                        radius: 6
                    }
                }
            }

            SectionTitle { text: qsTr("Sampling") }
            SettingSlider {
                Layout.fillWidth: true
                enabled: !root.locked("temperature")
                label: qsTr("Temperature")
                hint: qsTr("Higher is more varied, 0 always picks the most likely word.")
                from: 0; to: 2; stepSize: 0.05
                value: root.settings.temperature
                onMoved: (value) => root.settings.temperature = value
            }
            SettingSlider {
                Layout.fillWidth: true
                enabled: !root.locked("topP")
                label: qsTr("Top-p")
                from: 0; to: 1; stepSize: 0.01
                value: root.settings.topP
                onMoved: (value) => root.settings.topP = value
            }
            SettingSlider {
                Layout.fillWidth: true
                enabled: !root.locked("minP")
                label: qsTr("Min-p")
                from: 0; to: 1; stepSize: 0.01
                value: root.settings.minP
                onMoved: (value) => root.settings.minP = value
            }
            SettingSlider {
                Layout.fillWidth: true
                enabled: !root.locked("repeatPenalty")
                label: qsTr("Repeat penalty")
                hint: qsTr("1.00 is off.")
                from: 1; to: 2; stepSize: 0.01
                value: root.settings.repeatPenalty
                onMoved: (value) => root.settings.repeatPenalty = value
            }
            SettingSpinBox {
                enabled: !root.locked("topK")
                label: qsTr("Top-k (0 is off)")
                from: 0; to: 1000; stepSize: 5
                value: root.settings.topK
                onModified: (value) => root.settings.topK = value
            }
            SettingSpinBox {
                enabled: !root.locked("maxNewTokens")
                label: qsTr("Longest answer, in tokens")
                from: 1; to: 32768; stepSize: 256
                value: root.settings.maxNewTokens
                onModified: (value) => root.settings.maxNewTokens = value
            }

            SectionTitle {
                visible: root.endpoint !== null
                text: qsTr("Model source")
            }
            Loader {
                Layout.fillWidth: true
                active: root.endpoint !== null
                sourceComponent: ModelSourceSettings {
                    endpoint: root.endpoint
                    onConnectRequested: root.close()
                }
            }

            SectionTitle {
                visible: root.serve !== null
                text: qsTr("Serve to other apps")
            }
            Loader {
                Layout.fillWidth: true
                active: root.serve !== null
                sourceComponent: ServeSettings {
                    serve: root.serve
                }
            }

            SectionTitle { text: qsTr("Model loading") }
            Text {
                Layout.fillWidth: true
                wrapMode: Text.Wrap
                text: qsTr("Context length, CPU threads and backend apply when the model is next loaded.")
                color: Theme.textMuted
                font.pixelSize: Theme.fontSize - 2
            }
            SettingSpinBox {
                enabled: !root.locked("contextLength")
                label: qsTr("Context length, in tokens")
                from: 256; to: 131072; stepSize: 1024
                value: root.settings.contextLength
                onModified: (value) => root.settings.contextLength = value
            }
            SettingSpinBox {
                enabled: !root.locked("threads")
                label: qsTr("CPU threads (0 uses all %1)").arg(root.settings.hardwareThreads)
                from: 0; to: 256; stepSize: 1
                value: root.settings.threads
                onModified: (value) => root.settings.threads = value
            }
            RowLayout {
                Layout.fillWidth: true
                Text {
                    Layout.fillWidth: true
                    text: qsTr("Backend")
                    color: Theme.text
                    font.pixelSize: Theme.fontSize - 1
                }
                ComboBox {
                    objectName: "backendBox"
                    enabled: !root.locked("backend")
                    Layout.preferredWidth: 280
                    palette.highlightedText: Theme.text // on the light highlight of the open list
                    textRole: "text"
                    valueRole: "value"
                    model: root.settings.availableBackends.map(name => ({ value: name, text: root.backendLabel(name) }))
                    currentIndex: root.settings.availableBackends.indexOf(root.settings.backend)
                    onActivated: root.settings.backend = currentValue
                }
            }
            AppButton {
                visible: root.modelLoaded
                text: qsTr("Reload the model now")
                onClicked: root.reloadRequested()
            }

            SectionTitle { text: qsTr("Appearance") }
            RowLayout {
                Layout.fillWidth: true
                Text {
                    Layout.fillWidth: true
                    text: qsTr("Theme")
                    color: Theme.text
                    font.pixelSize: Theme.fontSize - 1
                }
                ComboBox {
                    objectName: "themeBox"
                    enabled: !root.locked("themeMode")
                    Layout.preferredWidth: 280
                    palette.highlightedText: Theme.text // on the light highlight of the open list
                    textRole: "text"
                    valueRole: "value"
                    model: [{ value: "system", text: qsTr("Follow the system") },
                            { value: "light", text: qsTr("Light") },
                            { value: "dark", text: qsTr("Dark") }]
                    currentIndex: ["system", "light", "dark"].indexOf(root.settings.themeMode)
                    onActivated: root.settings.themeMode = currentValue
                }
            }

            AppButton {
                Layout.topMargin: 6
                Layout.bottomMargin: 20
                text: qsTr("Reset to defaults")
                onClicked: {
                    root.settings.resetToDefaults()
                    systemPrompt.text = root.settings.systemPrompt
                }
            }
        }
    }
}
