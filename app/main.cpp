// latent-chat: the desktop app. Parses the command line, takes the per-data-dir instance lock,
// starts logging, builds the AppController over the real engine and shows Main.qml.
#include "controllers/app_controller.h"
#include "controllers/app_logging.h"
#include "inference/engine_chat_engine.h"

#include <QCommandLineParser>
#include <QDir>
#include <QGuiApplication>
#include <QIcon>
#include <QLockFile>
#include <QQmlApplicationEngine>
#include <QQuickStyle>
#include <QQuickWindow>
#include <QStandardPaths>
#include <QTimer>
#include <QtQml/qqmlextensionplugin.h>

#include <algorithm>
#include <cstdio>
#include <memory>

Q_IMPORT_QML_PLUGIN(LatentChatPlugin)
#ifndef PROJECT_VERSION
#define PROJECT_VERSION "0.1.0"
#endif

namespace {

// --help and --version print and exit: they must work without a display.
bool onlyPrints(int argc, char* argv[])
{
    for (int i = 1; i < argc; ++i) {
        const QByteArray arg(argv[i]);
        if (arg == "--data-dir" || arg == "--model" || arg == "--screenshot" || arg == "--screenshot-delay")
            ++i; // its value, whatever it looks like
        else if (arg == "-h" || arg == "--help" || arg == "-?" || arg == "--help-all" || arg == "-v" || arg == "--version")
            return true;
    }
    return false;
}

} // namespace

int main(int argc, char* argv[])
{
    const std::unique_ptr<QCoreApplication> application =
        onlyPrints(argc, argv) ? std::make_unique<QCoreApplication>(argc, argv)
                               : std::make_unique<QGuiApplication>(argc, argv);
    QCoreApplication::setOrganizationName(QStringLiteral("Latent Chat"));
    QCoreApplication::setApplicationName(QStringLiteral("latent-chat"));
    QCoreApplication::setApplicationVersion(QStringLiteral(PROJECT_VERSION));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Latent Chat: private, offline chat with DeepSeek-architecture GGUF models."));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption dataDirOption(
        QStringLiteral("data-dir"), QStringLiteral("Keep the chat history, settings and log in <dir>."),
        QStringLiteral("dir"), QStandardPaths::writableLocation(QStandardPaths::AppDataLocation));
    const QCommandLineOption modelOption(QStringLiteral("model"), QStringLiteral("Load this GGUF model at start."), QStringLiteral("path"));
    const QCommandLineOption verboseOption(QStringLiteral("verbose"), QStringLiteral("Log debug messages."));
    // For documentation and checks: grab the window after it has settled, save it, quit.
    QCommandLineOption screenshotOption(QStringLiteral("screenshot"), QStringLiteral("Save a screenshot and quit."),
                                        QStringLiteral("file"));
    screenshotOption.setFlags(QCommandLineOption::HiddenFromHelp);
    QCommandLineOption screenshotDelayOption(QStringLiteral("screenshot-delay"),
                                             QStringLiteral("Milliseconds before the screenshot."),
                                             QStringLiteral("ms"), QStringLiteral("1500"));
    screenshotDelayOption.setFlags(QCommandLineOption::HiddenFromHelp);
    parser.addOptions({dataDirOption, modelOption, verboseOption, screenshotOption, screenshotDelayOption});
    parser.process(*application); // exits after --help or --version
    QGuiApplication::setApplicationDisplayName(QStringLiteral("Latent Chat"));
    QGuiApplication::setDesktopFileName(QStringLiteral("latent-chat"));
    QGuiApplication::setWindowIcon(QIcon(QStringLiteral(":/latent-chat/icons/latent-chat.svg")));

    const QString dataDir = QDir(parser.value(dataDirOption)).absolutePath();
    if (!QDir().mkpath(dataDir)) {
        std::fprintf(stderr, "Cannot create the data directory %s\n", qPrintable(dataDir));
        return 1;
    }

    // One instance per data directory (two writers would fight over latent.db). A crashed
    // instance's lock is stale (its process is gone) and taken over; age never makes it stale.
    QLockFile lock(QDir(dataDir).filePath(QStringLiteral("latent-chat.lock")));
    lock.setStaleLockTime(0);
    if (!lock.tryLock(100)) {
        std::fprintf(stderr, lock.error() == QLockFile::LockFailedError ? "Latent Chat is already running with data directory %s\n"
                                                                        : "Cannot create the lock file in %s\n",
                     qPrintable(dataDir));
        return 1;
    }

    setupLogging(dataDir, parser.isSet(verboseOption));
    QQuickStyle::setStyle(QStringLiteral("Basic"));
    const QString modelPath = parser.isSet(modelOption) ? QDir::current().absoluteFilePath(parser.value(modelOption)) : QString();
    AppController app(dataDir, std::make_unique<EngineChatEngine>(), modelPath);

    QQmlApplicationEngine engine;
    engine.addImportPath(QStringLiteral("qrc:/qt/qml"));
    engine.setInitialProperties({{QStringLiteral("app"), QVariant::fromValue(&app)}});
    engine.load(QUrl(QStringLiteral("qrc:/qt/qml/LatentChat/Main.qml")));
    auto* window = engine.rootObjects().isEmpty() ? nullptr : qobject_cast<QQuickWindow*>(engine.rootObjects().first());
    if (!window) {
        std::fprintf(stderr, "The main window could not be loaded (see the messages above).\n");
        return 1;
    }

    if (parser.isSet(screenshotOption)) {
        const QString file = parser.value(screenshotOption);
        const int delay = std::max(0, parser.value(screenshotDelayOption).toInt());
        QTimer::singleShot(delay, window, [window, file] {
            const bool saved = window->grabWindow().save(file);
            if (!saved) std::fprintf(stderr, "Cannot save the screenshot to %s\n", qPrintable(file));
            QCoreApplication::exit(saved ? 0 : 1);
        });
    }
    return QCoreApplication::exec(); // then `engine` goes, `app` (joins its threads), the lock
}
