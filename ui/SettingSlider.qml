// A labelled slider for one numeric setting, showing its value; `moved(value)` on user input.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import LatentChat

ColumnLayout {
    id: root

    property string label
    property string hint
    property real from: 0
    property real to: 1
    property real stepSize: 0.01
    property real value: 0
    property int decimals: 2

    signal moved(real value)

    spacing: 2

    RowLayout {
        Layout.fillWidth: true
        Text {
            Layout.fillWidth: true
            text: root.label
            color: Theme.text
            font.pixelSize: Theme.fontSize - 1
        }
        Text {
            objectName: "settingValue"
            text: Number(root.value).toFixed(root.decimals)
            color: Theme.text
            font.family: Theme.monoFont
            font.pixelSize: Theme.fontSize - 1
        }
    }
    Slider {
        id: slider
        Layout.fillWidth: true
        from: root.from
        to: root.to
        stepSize: root.stepSize
        snapMode: Slider.SnapAlways
        value: root.value
        onMoved: root.moved(slider.value)
    }
    Text {
        visible: root.hint !== ""
        Layout.fillWidth: true
        text: root.hint
        wrapMode: Text.Wrap
        color: Theme.textMuted
        font.pixelSize: Theme.fontSize - 3
    }
}
