// Inline editor of a user message: Save & resend (or Enter) emits the new text, Cancel (or
// Esc) leaves the message as it was; Shift+Enter starts a new line.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import LatentChat

Rectangle {
    id: root

    property alias text: area.text

    signal saveRequested(string text)
    signal cancelRequested()

    function save() {
        if (area.text.trim().length > 0)
            root.saveRequested(area.text)
    }

    implicitHeight: layout.implicitHeight + 20
    radius: 14
    color: Theme.surface
    border.width: 1
    border.color: Theme.accent

    Component.onCompleted: {
        area.forceActiveFocus()
        area.cursorPosition = area.length
    }

    ColumnLayout {
        id: layout
        anchors.fill: parent
        anchors.margins: 10
        spacing: Theme.spacing

        TextArea {
            id: area
            objectName: "editArea"
            Layout.fillWidth: true
            wrapMode: TextEdit.Wrap
            textFormat: TextEdit.PlainText
            selectByMouse: true
            background: null
            color: Theme.text
            font.pixelSize: Theme.fontSize
            Keys.onPressed: (event) => {
                if (event.key === Qt.Key_Return || event.key === Qt.Key_Enter) {
                    event.accepted = true
                    if (event.modifiers & Qt.ShiftModifier)
                        area.insert(area.cursorPosition, "\n")
                    else
                        root.save()
                } else if (event.key === Qt.Key_Escape) {
                    event.accepted = true
                    root.cancelRequested()
                }
            }
        }

        RowLayout {
            Layout.alignment: Qt.AlignRight
            spacing: Theme.spacing
            AppButton {
                objectName: "cancelEditButton"
                text: qsTr("Cancel")
                onClicked: root.cancelRequested()
            }
            AppButton {
                objectName: "saveEditButton"
                accent: true
                enabled: area.text.trim().length > 0
                text: qsTr("Save & resend")
                onClicked: root.save()
            }
        }
    }
}
