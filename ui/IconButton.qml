// A small flat button showing a glyph or a short word, with a hover background and a tooltip.
import QtQuick
import QtQuick.Controls
import LatentChat

AbstractButton {
    id: control

    property string tip: ""
    property color color: Theme.textMuted
    property int size: 28

    hoverEnabled: true
    focusPolicy: Qt.TabFocus
    implicitWidth: Math.max(size, label.implicitWidth + 14)
    implicitHeight: size
    font.pixelSize: Theme.fontSize - 1

    contentItem: Text {
        id: label
        text: control.text
        font: control.font
        color: !control.enabled ? Theme.border : control.hovered ? Theme.text : control.color
        horizontalAlignment: Text.AlignHCenter
        verticalAlignment: Text.AlignVCenter
    }

    background: Rectangle {
        radius: 6
        color: control.down ? Theme.border : control.hovered ? Theme.selection : "transparent"
        border.width: control.visualFocus ? 1 : 0
        border.color: Theme.accent
    }

    ToolTip.visible: hovered && tip !== ""
    ToolTip.text: tip
    ToolTip.delay: 600
}
