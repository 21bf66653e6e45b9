// Above the settings: which ones the administrator has set for this computer (locked settings
// are shown disabled below; /etc/xdg/latent-chat/latent-chat.conf, docs/deployment.md).
import QtQuick
import QtQuick.Layouts
import LatentChat

Rectangle {
    id: root

    property var locked: [] // SettingsController.lockedSettings

    function label(name) {
        const labels = {
            systemPrompt: qsTr("system prompt"), temperature: qsTr("temperature"), topP: qsTr("top-p"),
            topK: qsTr("top-k"), minP: qsTr("min-p"), repeatPenalty: qsTr("repeat penalty"),
            maxNewTokens: qsTr("longest answer"), contextLength: qsTr("context length"),
            threads: qsTr("CPU threads"), backend: qsTr("backend"), themeMode: qsTr("theme")
        }
        return labels[name] || name
    }

    visible: locked.length > 0
    implicitHeight: note.implicitHeight + 20
    radius: 6
    color: Theme.selection
    border.color: Theme.border

    Text {
        id: note
        objectName: "lockedSettingsNote"
        anchors.fill: parent
        anchors.margins: 10
        wrapMode: Text.Wrap
        color: Theme.text
        font.pixelSize: Theme.fontSize - 1
        text: qsTr("Set by your administrator: %1.").arg(root.locked.map(root.label).join(", "))
    }
}
