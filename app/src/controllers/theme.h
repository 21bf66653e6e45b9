// Colours, spacing and fonts for every QML file. Follows the system's light/dark palette by
// default (mode "system"); "light" and "dark" force one.
#pragma once

#include <QColor>
#include <QObject>
#include <QString>
#include <QtQml/qqmlregistration.h>

class Theme : public QObject {
    Q_OBJECT
    QML_ELEMENT
    QML_SINGLETON
    Q_PROPERTY(QString mode READ mode WRITE setMode NOTIFY changed)
    Q_PROPERTY(bool dark READ dark NOTIFY changed)
    Q_PROPERTY(QColor background READ background NOTIFY changed)      // chat area
    Q_PROPERTY(QColor surface READ surface NOTIFY changed)            // panels, dialogs
    Q_PROPERTY(QColor sidebar READ sidebar NOTIFY changed)
    Q_PROPERTY(QColor selection READ selection NOTIFY changed)        // selected sidebar row
    Q_PROPERTY(QColor text READ text NOTIFY changed)
    Q_PROPERTY(QColor textMuted READ textMuted NOTIFY changed)
    Q_PROPERTY(QColor accent READ accent NOTIFY changed)
    Q_PROPERTY(QColor accentText READ accentText NOTIFY changed)      // text on accent
    Q_PROPERTY(QColor border READ border NOTIFY changed)
    Q_PROPERTY(QColor userBubble READ userBubble NOTIFY changed)
    Q_PROPERTY(QColor assistantBubble READ assistantBubble NOTIFY changed)
    Q_PROPERTY(QColor codeBackground READ codeBackground NOTIFY changed)
    Q_PROPERTY(QColor thinkingBackground READ thinkingBackground NOTIFY changed)
    Q_PROPERTY(QColor danger READ danger NOTIFY changed)
    Q_PROPERTY(QColor warning READ warning NOTIFY changed)
    Q_PROPERTY(int spacing READ spacing CONSTANT)        // 8
    Q_PROPERTY(int radius READ radius CONSTANT)          // 8
    Q_PROPERTY(int sidebarWidth READ sidebarWidth CONSTANT)
    Q_PROPERTY(int fontSize READ fontSize CONSTANT)      // body text, pixels
    Q_PROPERTY(QString monoFont READ monoFont CONSTANT)  // the system's fixed-width family
public:
    explicit Theme(QObject* parent = nullptr);

    QString mode() const { return mode_; }
    void setMode(const QString& mode); // "system" | "light" | "dark"
    bool dark() const;

    QColor background() const;
    QColor surface() const;
    QColor sidebar() const;
    QColor selection() const;
    QColor text() const;
    QColor textMuted() const;
    QColor accent() const;
    QColor accentText() const;
    QColor border() const;
    QColor userBubble() const;
    QColor assistantBubble() const;
    QColor codeBackground() const;
    QColor thinkingBackground() const;
    QColor danger() const;
    QColor warning() const;
    int spacing() const { return 8; }
    int radius() const { return 8; }
    int sidebarWidth() const { return 280; }
    int fontSize() const { return 14; }
    QString monoFont() const;

signals:
    void changed();

protected:
    bool eventFilter(QObject* watched, QEvent* event) override; // palette changes

private:
    bool systemDark() const;
    QString mode_ = QStringLiteral("system");
};
