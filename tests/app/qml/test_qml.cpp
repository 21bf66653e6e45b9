// Qt Quick Test runner for the LatentChat QML components (tst_*.qml in this folder). The
// module is linked statically; its files are served from qrc:/qt/qml/LatentChat.
#include <QQmlEngine>
#include <QtQml/qqmlextensionplugin.h>
#include <QtQuickTest/quicktest.h>

Q_IMPORT_QML_PLUGIN(LatentChatPlugin)

class Setup : public QObject {
    Q_OBJECT
public slots:
    void qmlEngineAvailable(QQmlEngine* engine) { engine->addImportPath(QStringLiteral("qrc:/qt/qml")); }
};

QUICK_TEST_MAIN_WITH_SETUP(latent_qml, Setup)

#include "test_qml.moc"
