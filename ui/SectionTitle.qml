// A small uppercase heading between groups of settings.
import QtQuick
import QtQuick.Layouts
import LatentChat

Text {
    Layout.fillWidth: true
    Layout.topMargin: 8
    color: Theme.accent
    font.pixelSize: Theme.fontSize - 2
    font.weight: Font.DemiBold
    font.capitalization: Font.AllUppercase
    font.letterSpacing: 0.6
}
