// A push button in the app's look: "accent" for the main action of a view, "danger" for
// destructive ones, "flat" for quiet actions; plain buttons are outlined.
import QtQuick
import QtQuick.Controls
import LatentChat

Button {
    id: control

    property bool accent: false
    property bool danger: false

    hoverEnabled: true
    font.pixelSize: Theme.fontSize - 1
    padding: 6
    horizontalPadding: 14

    readonly property color fillColor: {
        if (!control.enabled)
            return control.accent || control.danger ? Theme.border : "transparent"
        if (control.accent)
            return control.down ? Qt.darker(Theme.accent, 1.25) : control.hovered ? Qt.darker(Theme.accent, 1.1) : Theme.accent
        if (control.danger)
            return control.down ? Qt.darker(Theme.danger, 1.25) : control.hovered ? Qt.darker(Theme.danger, 1.1) : Theme.danger
        return control.down ? Theme.border : control.hovered ? Theme.selection : (control.flat ? "transparent" : Theme.surface)
    }

    contentItem: Text {
        text: control.text
        font: control.font
        elide: Text.ElideRight
        horizontalAlignment: Text.AlignHCenter
        verticalAlignment: Text.AlignVCenter
        color: !control.enabled ? Theme.textMuted
                                : (control.accent || control.danger) ? Theme.accentText
                                                                     : control.flat ? Theme.accent : Theme.text
    }

    background: Rectangle {
        implicitWidth: 72
        implicitHeight: 34
        radius: Theme.radius - 2
        color: control.fillColor
        border.width: control.visualFocus ? 2 : (control.flat || control.accent || control.danger ? 0 : 1)
        border.color: control.visualFocus ? Theme.accent : Theme.border
        Behavior on color { ColorAnimation { duration: 90 } }
    }
}
