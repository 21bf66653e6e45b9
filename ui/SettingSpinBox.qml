// A labelled, editable spin box for one integer setting; `modified(value)` on user input.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import LatentChat

RowLayout {
    id: root

    property string label
    property int from: 0
    property int to: 100
    property int stepSize: 1
    property int value: 0

    signal modified(int value)

    Layout.fillWidth: true

    Text {
        Layout.fillWidth: true
        Layout.fillHeight: true
        verticalAlignment: Text.AlignVCenter
        text: root.label
        wrapMode: Text.Wrap
        color: Theme.text
        font.pixelSize: Theme.fontSize - 1
    }
    SpinBox {
        id: spin
        Layout.preferredWidth: 180
        editable: true
        from: root.from
        to: root.to
        stepSize: root.stepSize
        value: root.value
        onValueModified: root.modified(spin.value)
    }
}
