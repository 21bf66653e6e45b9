// One row of the sidebar's conversation list: title and date; a menu (hover button or right
// click) to rename inline, export or delete. Decides nothing: it emits what the user asked for.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import LatentChat

AbstractButton {
    id: root

    required property int index
    required property double conversationId
    required property string title
    required property string dateText

    property bool selected: false        // the open conversation
    property bool keyboardCurrent: false // the keyboard cursor of a focused list
    readonly property bool renaming: renameField.visible

    signal openRequested()
    signal renameCommitted(string newTitle)
    signal exportRequested(string format)
    signal deleteRequested()

    function startRename() {
        renameField.text = root.title
        renameField.visible = true
        renameField.forceActiveFocus()
        renameField.selectAll()
    }

    function finishRename(commit) {
        if (!renameField.visible)
            return
        renameField.visible = false
        const newTitle = renameField.text.trim()
        if (commit && newTitle.length > 0 && newTitle !== root.title)
            root.renameCommitted(newTitle)
    }

    implicitHeight: 52
    hoverEnabled: true
    focusPolicy: Qt.NoFocus
    onClicked: root.openRequested()

    TapHandler {
        acceptedButtons: Qt.RightButton
        onTapped: (eventPoint) => menu.popup()
    }

    background: Rectangle {
        radius: Theme.radius
        color: root.selected ? Theme.selection
                             : root.hovered || root.keyboardCurrent ? Qt.rgba(Theme.selection.r, Theme.selection.g, Theme.selection.b, 0.55)
                                                                    : "transparent"
        border.width: root.keyboardCurrent ? 1 : 0
        border.color: Theme.accent
    }

    contentItem: RowLayout {
        spacing: 4

        ColumnLayout {
            Layout.fillWidth: true
            Layout.leftMargin: 10
            spacing: 2
            visible: !renameField.visible

            Text {
                objectName: "conversationTitle"
                Layout.fillWidth: true
                text: root.title
                elide: Text.ElideRight
                color: Theme.text
                font.pixelSize: Theme.fontSize
                font.weight: root.selected ? Font.DemiBold : Font.Normal
            }
            Text {
                Layout.fillWidth: true
                text: root.dateText
                elide: Text.ElideRight
                color: Theme.textMuted
                font.pixelSize: Theme.fontSize - 3
            }
        }

        TextField {
            id: renameField
            objectName: "renameField"
            visible: false
            Layout.fillWidth: true
            Layout.leftMargin: 4
            Layout.rightMargin: 4
            selectByMouse: true
            font.pixelSize: Theme.fontSize
            Keys.onReturnPressed: root.finishRename(true)
            Keys.onEnterPressed: root.finishRename(true)
            Keys.onEscapePressed: root.finishRename(false)
            onActiveFocusChanged: {
                if (!activeFocus)
                    root.finishRename(true)
            }
        }

        IconButton {
            objectName: "conversationMenuButton"
            visible: !renameField.visible && (root.hovered || root.selected || menu.visible)
            Layout.rightMargin: 4
            text: "\u22EF"
            tip: qsTr("Rename, export or delete")
            onClicked: menu.popup(this, 0, height)
        }
    }

    Menu {
        id: menu
        font.pixelSize: Theme.fontSize - 1
        background: Rectangle {
            implicitWidth: 210
            color: Theme.surface
            border.color: Theme.border
            radius: 6
        }
        MenuItem {
            text: qsTr("Rename")
            onTriggered: root.startRename()
        }
        MenuItem {
            text: qsTr("Export as Markdown…")
            onTriggered: root.exportRequested("markdown")
        }
        MenuItem {
            text: qsTr("Export as JSON…")
            onTriggered: root.exportRequested("json")
        }
        MenuSeparator {}
        MenuItem {
            text: qsTr("Delete…")
            onTriggered: root.deleteRequested()
        }
    }
}
