#include "controllers/startup_message.h"

#include <QGuiApplication>
#include <QQmlApplicationEngine>
#include <QQuickStyle>
#include <QWindow>

void showStartupMessage(const QString& heading, const QString& message) {
    if (!qobject_cast<QGuiApplication*>(QCoreApplication::instance())) return;
    const QString platform = QGuiApplication::platformName();
    if (platform == QLatin1String("offscreen") || platform == QLatin1String("minimal")) return;
    QQuickStyle::setStyle(QStringLiteral("Basic"));
    QQmlApplicationEngine engine;
    engine.addImportPath(QStringLiteral("qrc:/qt/qml"));
    engine.setInitialProperties({{QStringLiteral("heading"), heading}, {QStringLiteral("message"), message}});
    engine.load(QUrl(QStringLiteral("qrc:/qt/qml/LatentChat/StartupMessage.qml")));
    if (engine.rootObjects().isEmpty()) return;
    auto* window = qobject_cast<QWindow*>(engine.rootObjects().first());
    if (!window) return;
    QGuiApplication::setQuitOnLastWindowClosed(true);
    QObject::connect(window, &QWindow::visibleChanged, [](bool visible) {
        if (!visible) QCoreApplication::quit();
    });
    QGuiApplication::exec();
}
