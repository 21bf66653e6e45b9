#include "controllers/theme.h"

#include <QCoreApplication>
#include <QEvent>
#include <QFontDatabase>
#include <QGuiApplication>
#include <QPalette>

namespace {

// Two calm palettes: neutral greys with a teal accent. Body text is ≥ 12:1 against its
// background, muted text and the accent ≥ 4.5:1 (WCAG AA for normal text).
struct Palette {
    QColor background, surface, sidebar, selection, text, textMuted, accent, accentText, border, userBubble,
        assistantBubble, codeBackground, thinkingBackground, danger, warning;
};

const Palette& lightPalette() {
    static const Palette p{
        QColor(0xFA, 0xFA, 0xF9), // background
        QColor(0xFF, 0xFF, 0xFF), // surface
        QColor(0xF1, 0xF2, 0xF4), // sidebar
        QColor(0xDD, 0xEC, 0xEE), // selection
        QColor(0x1D, 0x21, 0x26), // text
        QColor(0x5B, 0x63, 0x6D), // textMuted
        QColor(0x0E, 0x74, 0x82), // accent (teal)
        QColor(0xFF, 0xFF, 0xFF), // accentText
        QColor(0xDC, 0xDF, 0xE4), // border
        QColor(0xE3, 0xF1, 0xF3), // userBubble
        QColor(0xFF, 0xFF, 0xFF), // assistantBubble
        QColor(0xF0, 0xF2, 0xF5), // codeBackground
        QColor(0xF4, 0xF3, 0xEE), // thinkingBackground
        QColor(0xB4, 0x23, 0x18), // danger
        QColor(0x8F, 0x5A, 0x00), // warning
    };
    return p;
}

const Palette& darkPalette() {
    static const Palette p{
        QColor(0x17, 0x19, 0x1C), // background
        QColor(0x20, 0x23, 0x27), // surface
        QColor(0x12, 0x14, 0x17), // sidebar
        QColor(0x1F, 0x3A, 0x40), // selection
        QColor(0xE7, 0xE9, 0xEC), // text
        QColor(0x9C, 0xA4, 0xAE), // textMuted
        QColor(0x4F, 0xC1, 0xCF), // accent (teal)
        QColor(0x0B, 0x14, 0x16), // accentText
        QColor(0x30, 0x35, 0x3B), // border
        QColor(0x1D, 0x33, 0x38), // userBubble
        QColor(0x20, 0x23, 0x27), // assistantBubble
        QColor(0x0F, 0x11, 0x13), // codeBackground
        QColor(0x23, 0x23, 0x1F), // thinkingBackground
        QColor(0xF2, 0x74, 0x6B), // danger
        QColor(0xE6, 0xA8, 0x3C), // warning
    };
    return p;
}

} // namespace

Theme::Theme(QObject* parent) : QObject(parent) {
    if (QCoreApplication* app = QCoreApplication::instance()) app->installEventFilter(this);
}

void Theme::setMode(const QString& mode) {
    const QString m = mode.trimmed().toLower();
    if (m != QLatin1String("system") && m != QLatin1String("light") && m != QLatin1String("dark")) return;
    if (m == mode_) return;
    mode_ = m;
    emit changed();
}

bool Theme::systemDark() const {
    if (!qobject_cast<QGuiApplication*>(QCoreApplication::instance())) return false;
    return QGuiApplication::palette().color(QPalette::Window).lightness() < 128;
}

bool Theme::dark() const {
    if (mode_ == QLatin1String("dark")) return true;
    if (mode_ == QLatin1String("light")) return false;
    return systemDark();
}

bool Theme::eventFilter(QObject* watched, QEvent* event) {
    if (watched == QCoreApplication::instance() && event->type() == QEvent::ApplicationPaletteChange &&
        mode_ == QLatin1String("system"))
        emit changed();
    return QObject::eventFilter(watched, event);
}

#define LATENT_THEME_COLOR(name) \
    QColor Theme::name() const { return (dark() ? darkPalette() : lightPalette()).name; }
LATENT_THEME_COLOR(background)
LATENT_THEME_COLOR(surface)
LATENT_THEME_COLOR(sidebar)
LATENT_THEME_COLOR(selection)
LATENT_THEME_COLOR(text)
LATENT_THEME_COLOR(textMuted)
LATENT_THEME_COLOR(accent)
LATENT_THEME_COLOR(accentText)
LATENT_THEME_COLOR(border)
LATENT_THEME_COLOR(userBubble)
LATENT_THEME_COLOR(assistantBubble)
LATENT_THEME_COLOR(codeBackground)
LATENT_THEME_COLOR(thinkingBackground)
LATENT_THEME_COLOR(danger)
LATENT_THEME_COLOR(warning)
#undef LATENT_THEME_COLOR

QString Theme::monoFont() const {
    if (!qobject_cast<QGuiApplication*>(QCoreApplication::instance())) return QStringLiteral("monospace");
    return QFontDatabase::systemFont(QFontDatabase::FixedFont).family();
}
