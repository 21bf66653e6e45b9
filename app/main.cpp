// latent-chat: the desktop app. Parses the command line, takes the per-data-dir instance lock
// (or hands over to the instance holding it), starts logging, builds the AppController over the
// real engine and shows Main.qml.
#include "controllers/app_controller.h"
#include "controllers/app_logging.h"
#include "controllers/single_instance.h"
#include "controllers/startup_message.h"
#include "controllers/startup_problems.h"
#include "controllers/endpoint_policy.h"
#include "inference/engine_chat_engine.h"
#include "inference/remote_chat_engine.h"
#include "inference/source_chat_engine.h"

#include <QCommandLineParser>
#include <QDir>
#include <QGuiApplication>
#include <QIcon>
#include <QLockFile>
#include <QQmlApplicationEngine>
#include <QQuickStyle>
#include <QQuickWindow>
#include <QStandardPaths>
#include <QSocketNotifier>
#include <QTimer>
#include <QtQml/qqmlextensionplugin.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <memory>

#include <unistd.h>

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

// SIGTERM (logout, shutdown, `kill`) and SIGINT quit like Ctrl+Q: the answer in progress is
// finalised as stopped and the history flushed. The handler only writes to a pipe; the event
// loop does the rest.
int quitPipe[2] = {-1, -1};

void onQuitSignal(int) {
    const char byte = 1;
    [[maybe_unused]] const ssize_t written = ::write(quitPipe[1], &byte, 1);
}

void quitOnSignals(QObject* parent) {
    if (::pipe(quitPipe) != 0) return;
    auto* notifier = new QSocketNotifier(quitPipe[0], QSocketNotifier::Read, parent);
    // exit(), not quit(): quit() asks the window, which would wait for the user about unsaved
    // messages; at logout nobody answers. The storage thread's last attempt logs what is lost.
    QObject::connect(notifier, &QSocketNotifier::activated, parent, [] { QCoreApplication::exit(0); });
    struct sigaction action {};
    action.sa_handler = onQuitSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &action, nullptr);
    sigaction(SIGINT, &action, nullptr);
}

// A second start with the same data directory: the running instance is asked to come forward
// (and to open the model given here); this process then exits, 0 when it was reached.
int handOverToRunningInstance(const QString& dataDir, const QString& modelPath) {
    const ForwardOutcome outcome = forwardToRunningInstance(dataDir, modelPath);
    std::fprintf(outcome.delivered ? stdout : stderr, "%s\n", qPrintable(outcome.message));
    if (outcome.delivered) return 0;
    showStartupMessage(QStringLiteral("Latent Chat does not answer"), outcome.message);
    return 1;
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
    // `latent-chat model.gguf`: what the desktop entry's "Open with" passes.
    parser.addPositionalArgument(QStringLiteral("model"), QStringLiteral("A GGUF model to load (as --model)."),
                                 QStringLiteral("[model.gguf]"));
    parser.process(*application); // exits after --help or --version
    QGuiApplication::setApplicationDisplayName(QStringLiteral("Latent Chat"));
    QGuiApplication::setDesktopFileName(QStringLiteral("latent-chat"));
    QGuiApplication::setWindowIcon(QIcon(QStringLiteral(":/latent-chat/icons/latent-chat.svg")));

    const QString dataDir = QDir(parser.value(dataDirOption)).absolutePath();
    // Problems with the data folder stop nothing: they are shown in a dialog and the history
    // opens read-only when it can be read.
    StartupProblems startupProblems;
    startupProblems.add(StartupProblems::dataDirProblem(dataDir));

    QString modelArgument = parser.value(modelOption);
    if (modelArgument.isEmpty() && !parser.positionalArguments().isEmpty()) modelArgument = parser.positionalArguments().first();
    const QString modelPath = modelArgument.isEmpty() ? QString() : QDir::current().absoluteFilePath(modelArgument);

    // One instance per data directory (two writers would fight over latent.db). A crashed
    // instance's lock is stale (its process is gone) and taken over; age never makes it stale.
    // A second start hands its request to the running instance and exits (single_instance.h).
    QLockFile lock(QDir(dataDir).filePath(QStringLiteral("latent-chat.lock")));
    lock.setStaleLockTime(0);
    if (!lock.tryLock(100)) {
        if (lock.error() == QLockFile::LockFailedError) return handOverToRunningInstance(dataDir, modelPath);
        startupProblems.add(QStringLiteral("The lock file cannot be created in %1, so a second Latent Chat would not be "
                                           "kept from opening the same history.").arg(QDir::toNativeSeparators(dataDir)));
    }
    InstanceServer instanceServer;
    const bool listening = instanceServer.listen(dataDir);

    startupProblems.add(setupLogging(dataDir, parser.isSet(verboseOption)));
    qInfo("Latent Chat %s starting; data directory %s", PROJECT_VERSION, qPrintable(dataDir));
    QQuickStyle::setStyle(QStringLiteral("Basic"));
    if (!listening) qWarning("a second start cannot reach this one: %s", qPrintable(instanceServer.errorString()));
    // Local models, or an OpenAI-compatible endpoint unless the administrator forbids it.
    const EndpointPolicy policy = readEndpointPolicy();
    AppController app(dataDir,
                      std::make_unique<SourceChatEngine>(std::make_unique<EngineChatEngine>(), std::make_unique<RemoteChatEngine>(), policy.allowRemoteEndpoints),
                      modelPath);
    app.setDemoOnFirstRun(true); // no model yet: the built-in demo model answers, labelled as such
    quitOnSignals(&app);

    QQmlApplicationEngine engine;
    engine.addImportPath(QStringLiteral("qrc:/qt/qml"));
    engine.setInitialProperties({{QStringLiteral("app"), QVariant::fromValue(&app)}});
    engine.load(QUrl(QStringLiteral("qrc:/qt/qml/LatentChat/Main.qml")));
    auto* window = engine.rootObjects().isEmpty() ? nullptr : qobject_cast<QQuickWindow*>(engine.rootObjects().first());
    if (!window) {
        std::fprintf(stderr, "The main window could not be loaded (see the messages above).\n");
        return 1;
    }

    qInfo("main window shown");
    QObject::connect(&instanceServer, &InstanceServer::activationRequested, window,
                     [window, &app](const QString& model) { bringForward(window, &app, model); });
    if (!startupProblems.isEmpty()) {
        for (const QString& problem : startupProblems.problems()) qWarning("startup: %s", qPrintable(problem));
        startupProblems.show(engine);
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
