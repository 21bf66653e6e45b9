// The main window: Sidebar | chat area (header with the title and the model button, the
// notice banner, the unsaved-messages banner, the chat or the first-run screen, the composer,
// the status line), the model drawer, the documents panel and viewer, the settings dialog,
// notifications, the keyboard shortcuts, and the question asked when closing with messages not
// saved yet.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import QtQuick.Dialogs
import QtCore
import LatentChat

ApplicationWindow {
    id: window

    required property AppController app
    readonly property ChatController chat: app.chat
    readonly property ModelController modelController: app.model
    readonly property bool showFirstRun: !modelController.loaded && modelController.state !== "loading"
                                         && chat.messages.count === 0

    function newChat() {
        window.chat.newConversation()
        composer.focusInput()
    }

    width: 1200
    height: 800
    minimumWidth: 800
    minimumHeight: 500
    visible: true
    title: chat.currentTitle !== "" ? qsTr("%1 — Latent Chat").arg(chat.currentTitle) : "Latent Chat"
    color: Theme.background

    // Controls of the Basic style draw with the palette: keep it in step with the Theme.
    palette.window: Theme.background
    palette.windowText: Theme.text
    palette.base: Theme.surface
    palette.alternateBase: Theme.sidebar
    palette.text: Theme.text
    palette.button: Theme.surface
    palette.buttonText: Theme.text
    palette.brightText: Theme.accentText
    palette.highlight: Theme.accent
    palette.highlightedText: Theme.accentText
    palette.placeholderText: Theme.textMuted
    palette.light: Theme.selection
    palette.midlight: Theme.border
    palette.mid: Theme.border
    palette.dark: Theme.accent
    palette.shadow: Theme.dark ? "#000000" : "#808080"
    palette.toolTipBase: Theme.surface
    palette.toolTipText: Theme.text
    palette.link: Theme.accent

    Binding {
        target: Theme
        property: "mode"
        value: window.app.settings.themeMode
    }

    Component.onCompleted: composer.focusInput()
    // Ctrl+Q and the close button both come here; SIGTERM quits without asking.
    onClosing: (close) => { close.accepted = window.app.requestQuit() }

    RowLayout {
        anchors.fill: parent
        spacing: 0

        Sidebar {
            id: sidebar
            Layout.fillHeight: true
            Layout.preferredWidth: Theme.sidebarWidth
            chat: window.chat
            onNewChatRequested: window.newChat()
            onSettingsRequested: settingsDialog.open()
            onDocumentsRequested: documentsPanel.open()
            onConversationOpened: composer.focusInput()
        }

        ColumnLayout {
            Layout.fillWidth: true
            Layout.fillHeight: true
            spacing: 0

            ChatHeader {
                Layout.fillWidth: true
                title: window.chat.currentTitle !== "" ? window.chat.currentTitle : qsTr("New chat")
                modelController: window.modelController
                chat: window.chat
                documents: window.app.documents
                onModelButtonClicked: modelPanel.open()
                onDocumentsRequested: documentsPanel.open()
            }

            NoticeBanner {
                Layout.fillWidth: true
                text: window.app.notice
                onDismissed: window.app.dismissNotice()
            }

            NoticeBanner {
                objectName: "unsavedBanner"
                Layout.fillWidth: true
                dismissible: false
                dotColor: Theme.danger
                actionText: qsTr("Retry now")
                text: window.app.unsavedText
                onActionTriggered: window.app.retrySaving()
            }

            // The built-in demo model is in use: say what it is and how to get a real model.
            NoticeBanner {
                objectName: "demoModelBanner"
                Layout.fillWidth: true
                dismissible: false
                dotColor: Theme.accent
                actionText: qsTr("Open model…")
                text: window.modelController.demoLoaded
                      ? window.modelController.demoModelLabel + ". "
                        + qsTr("It answers questions like: What does \"violin\" mean? For real work, download e.g. DeepSeek-V2-Lite-Chat in GGUF format (Q4_K_M, about 10 GB) and open it here.")
                      : ""
                onActionTriggered: modelFileDialog.open()
            }

            NoticeBanner {
                objectName: "readOnlyBanner"
                Layout.fillWidth: true
                text: window.app.readOnlyNotice
                dismissible: false
            }

            Item {
                Layout.fillWidth: true
                Layout.fillHeight: true

                ChatView {
                    id: chatView
                    anchors.fill: parent
                    visible: !window.showFirstRun
                    chat: window.chat
                    modelLoaded: window.modelController.loaded
                    onSourceRequested: (source) => window.app.viewer.openSource(source)
                    modelName: window.modelController.facts.name || ""
                    onAnswerRequested: composer.focusInput()
                    onSuggestionPicked: (text) => {
                        composer.text = text
                        composer.focusInput()
                    }
                }

                FirstRun {
                    anchors.fill: parent
                    visible: window.showFirstRun
                    modelController: window.modelController
                    sharedPaths: window.app.sharedModels.paths
                    onOpenModelRequested: modelFileDialog.open()
                }

                Toasts {
                    id: toasts
                    anchors.bottom: parent.bottom
                    anchors.horizontalCenter: parent.horizontalCenter
                    anchors.bottomMargin: 12
                    width: Math.min(parent.width - 40, 480)
                }
            }

            Composer {
                id: composer
                objectName: "composer"
                Layout.fillWidth: true
                Layout.maximumWidth: 852
                Layout.alignment: Qt.AlignHCenter
                Layout.leftMargin: 16
                Layout.rightMargin: 16
                Layout.topMargin: 4
                draft: window.app.draft
                canSend: window.chat.canSend
                generating: window.chat.generating
                disabledReason: !window.app.ready ? qsTr("Opening the chat history…")
                                : window.modelController.state === "loading" ? qsTr("Loading the model…")
                                : !window.modelController.loaded ? qsTr("Open a model to start chatting")
                                : ""
                onSendRequested: (text) => {
                    if (!window.chat.send(text))
                        composer.restore(text)
                    composer.focusInput()
                }
                onStopRequested: window.chat.stop()
            }

            StatusLine {
                Layout.fillWidth: true
                Layout.maximumWidth: 852
                Layout.alignment: Qt.AlignHCenter
                Layout.leftMargin: 16
                Layout.rightMargin: 16
                Layout.topMargin: 2
                chat: window.chat
                modelController: window.modelController
            }
        }
    }

    ModelPanel {
        id: modelPanel
        modelController: window.modelController
        generating: window.chat.generating
        sharedPaths: window.app.sharedModels.paths
        onOpenModelRequested: modelFileDialog.open()
    }

    DocumentsPanel {
        id: documentsPanel
        objectName: "documentsPanel"
        parent: Overlay.overlay
        documents: window.app.documents
    }

    DocumentViewer {
        id: documentViewer
        objectName: "documentViewer"
        parent: Overlay.overlay
        viewer: window.app.viewer
    }

    SettingsDialog {
        id: settingsDialog
        parent: Overlay.overlay
        settings: window.app.settings
        endpoint: window.app.endpoint
        serve: window.app.serve
        modelLoaded: window.modelController.loaded
        onReloadRequested: window.modelController.reload()
    }

    UnsavedQuitDialog {
        id: unsavedQuitDialog
        parent: Overlay.overlay
        app: window.app
    }

    FileDialog {
        id: modelFileDialog
        title: qsTr("Open a GGUF model")
        fileMode: FileDialog.OpenFile
        acceptLabel: qsTr("Open")
        nameFilters: [qsTr("GGUF models (*.gguf)"), qsTr("All files (*)")]
        currentFolder: StandardPaths.writableLocation(StandardPaths.HomeLocation)
        onAccepted: {
            window.modelController.load(selectedFile)
            modelPanel.open()
        }
    }

    Connections {
        target: window.chat
        function onErrorOccurred(message) { toasts.show(message, "error") }
        function onExportFinished(path, ok, message) {
            toasts.show(ok ? qsTr("Exported to %1").arg(path) : qsTr("Export failed: %1").arg(message),
                        ok ? "info" : "error")
        }
    }
    Connections {
        target: window.app
        function onQuitConfirmationNeeded() { unsavedQuitDialog.open() }
        function onQuitApproved() { window.close() }
    }
    Connections {
        target: window.modelController
        function onErrorTextChanged() {
            // The first-run screen and the model drawer show the error themselves.
            if (window.modelController.errorText !== "" && !window.showFirstRun && !modelPanel.opened)
                toasts.show(window.modelController.errorText, "error")
        }
        function onStateChanged() {
            if (window.modelController.loaded && !modelPanel.opened)
                composer.focusInput()
        }
    }

    Shortcut {
        sequence: "Ctrl+N"
        onActivated: window.newChat()
    }
    Shortcut {
        sequence: "Ctrl+F"
        onActivated: sidebar.focusSearch()
    }
    Shortcut {
        sequence: "Ctrl+,"
        onActivated: settingsDialog.open()
    }
    Shortcut {
        sequence: "Ctrl+L"
        onActivated: composer.focusInput()
    }
    Shortcut {
        sequence: "Esc"
        enabled: window.chat.generating
        onActivated: window.chat.stop()
    }
    Shortcut {
        sequence: "Ctrl+Q"
        context: Qt.ApplicationShortcut
        onActivated: window.close()
    }
}
