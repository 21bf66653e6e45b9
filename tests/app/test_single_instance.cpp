// One app per data directory: a second start hands its request to the running instance (which
// raises its window and opens the model passed) and exits 0; different data directories run
// side by side; a socket left by a crashed instance is replaced; a running instance that does
// not answer is reported and the second start exits non-zero. The executable tests start the
// real `latent-chat` offscreen; the protocol tests talk to an InstanceServer in this process.
#include "app_window_support.h"
#include "controllers/app_controller.h"
#include "controllers/single_instance.h"
#include "inference/fake_chat_engine.h"

#include <QDir>
#include <QLocalSocket>
#include <QProcess>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>
#include <QWindow>

#include <csignal>
#include <memory>
#include <cstring>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

using namespace app_test;

namespace {

// A started `latent-chat` on `dataDir`, ended (SIGTERM, then SIGKILL) when it goes out of scope.
class RunningApp {
public:
    RunningApp(const QString& exe, const QStringList& arguments) {
        process_.setProcessChannelMode(QProcess::MergedChannels);
        process_.start(exe, arguments);
    }
    ~RunningApp() {
        if (process_.state() == QProcess::NotRunning) return;
        ::kill(pid_t(process_.processId()), SIGCONT);
        process_.terminate();
        if (!process_.waitForFinished(15000)) process_.kill();
        process_.waitForFinished(5000);
    }
    QProcess& process() { return process_; }

private:
    QProcess process_;
};

// Runs a second `latent-chat` to the end; its exit code and output.
struct Finished {
    int exitCode = -1;
    QByteArray output;
    bool finished = false;
};
Finished runToEnd(const QString& exe, const QStringList& arguments, const QString& workingDirectory = {}) {
    QProcess process;
    process.setProcessChannelMode(QProcess::MergedChannels);
    if (!workingDirectory.isEmpty()) process.setWorkingDirectory(workingDirectory);
    process.start(exe, arguments);
    Finished result;
    result.finished = process.waitForFinished(30000);
    if (!result.finished) process.kill();
    result.exitCode = process.exitCode();
    result.output = process.readAll();
    return result;
}

QByteArray logOf(const QTemporaryDir& data) { return readFile(data.filePath(QStringLiteral("latent-chat.log"))); }

// The instance is up: its window is loaded and its event loop runs (the log says so).
bool waitUntilRunning(const QTemporaryDir& data) {
    return QTest::qWaitFor([&] { return logOf(data).contains("main window shown"); }, 30000);
}

// Sends one raw request line to the server listening for `dataDir`; returns its answer line.
QByteArray ask(const QString& dataDir, const QByteArray& request) {
    QLocalSocket socket;
    socket.connectToServer(instanceSocketName(dataDir));
    if (!socket.waitForConnected(5000)) return "no connection";
    socket.write(request);
    QByteArray answer;
    (void)QTest::qWaitFor([&] {
        answer += socket.readAll();
        return answer.contains('\n') || socket.state() == QLocalSocket::UnconnectedState;
    }, 5000);
    answer += socket.readAll();
    return answer.trimmed();
}

} // namespace

class SingleInstanceTest : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void serverAnswersValidRequests();
    void serverRefusesBadRequests_data();
    void serverRefusesBadRequests();
    void socketNameFollowsTheDataDirectory();
    void bringForwardShowsTheWindow();
    void bringForwardLoadsAfterTheStartupModel();
    void secondStartBringsTheWindowForwardWithItsModel();
    void differentDataDirectoriesRunSideBySide();
    void staleSocketIsReplaced();
    void hungInstanceIsReported();

private:
    QString exe_;
    QTemporaryDir models_;
    QString modelPath_;
};

void SingleInstanceTest::initTestCase() {
    exe_ = qEnvironmentVariable("LATENT_CHAT");
    QVERIFY(models_.isValid());
    modelPath_ = makeModel(models_, QStringLiteral("second-start.gguf"));
}

void SingleInstanceTest::serverAnswersValidRequests() {
    QTemporaryDir data;
    InstanceServer server;
    QVERIFY2(server.listen(data.path()), qPrintable(server.errorString()));
    QSignalSpy spy(&server, &InstanceServer::activationRequested);

    QCOMPARE(ask(data.path(), "{\"activate\":true}\n"), QByteArray("ok"));
    QCOMPARE(spy.count(), 1);
    QCOMPARE(spy.at(0).at(0).toString(), QString());

    // forwardToRunningInstance is what a second start uses; it blocks, so it runs on a thread of
    // its own while this one serves.
    ForwardOutcome outcome;
    std::unique_ptr<QThread> client(QThread::create(
        [&] { outcome = forwardToRunningInstance(data.path(), QStringLiteral("/models/a b ü.gguf")); }));
    client->start();
    QTRY_VERIFY_WITH_TIMEOUT(client->isFinished(), 10000);
    QVERIFY2(outcome.delivered, qPrintable(outcome.message));
    QTRY_COMPARE(spy.count(), 2);
    QCOMPARE(spy.at(1).at(0).toString(), QStringLiteral("/models/a b ü.gguf"));
    QVERIFY(outcome.message.contains(QStringLiteral("brought forward")));
}

void SingleInstanceTest::serverRefusesBadRequests_data() {
    QTest::addColumn<QByteArray>("request");
    QTest::addColumn<QByteArray>("why");
    QTest::newRow("not json") << QByteArray("raise please\n") << QByteArray("not a JSON object");
    QTest::newRow("array") << QByteArray("[1,2]\n") << QByteArray("not a JSON object");
    QTest::newRow("model not a string") << QByteArray("{\"model\":5}\n") << QByteArray("not a string");
    QTest::newRow("relative model") << QByteArray("{\"model\":\"m.gguf\"}\n") << QByteArray("not an absolute path");
    QTest::newRow("too long") << QByteArray(InstanceServer::kMaxRequestBytes + 10, 'x') << QByteArray("too long");
}

void SingleInstanceTest::serverRefusesBadRequests() {
    QFETCH(QByteArray, request);
    QFETCH(QByteArray, why);
    QTemporaryDir data;
    InstanceServer server;
    QVERIFY2(server.listen(data.path()), qPrintable(server.errorString()));
    QSignalSpy spy(&server, &InstanceServer::activationRequested);
    const QByteArray answer = ask(data.path(), request);
    QVERIFY2(answer.startsWith("error: ") && answer.contains(why), answer.constData());
    QCOMPARE(spy.count(), 0);
}

void SingleInstanceTest::socketNameFollowsTheDataDirectory() {
    QTemporaryDir a, b;
    QCOMPARE(instanceSocketName(a.path()), instanceSocketName(a.path() + QStringLiteral("/.")));
    QVERIFY(instanceSocketName(a.path()) != instanceSocketName(b.path()));
    QVERIFY(instanceSocketName(a.path()).toUtf8().size() < int(sizeof(sockaddr_un::sun_path)));
    // A link to the same folder is the same instance.
    const QString link = b.filePath(QStringLiteral("link"));
    QVERIFY(QFile::link(a.path(), link));
    QCOMPARE(instanceSocketName(link), instanceSocketName(a.path()));
}

void SingleInstanceTest::bringForwardShowsTheWindow() {
    QWindow window;
    window.setWindowStates(Qt::WindowMinimized);
    bringForward(&window, nullptr, QString());
    QVERIFY(window.isVisible());
    QVERIFY(!(window.windowStates() & Qt::WindowMinimized));
}

void SingleInstanceTest::bringForwardLoadsAfterTheStartupModel() {
    // Asked before the app is ready, with a model of its own command line still to load: the
    // model asked for later is the one that ends up loaded.
    QTemporaryDir data;
    const QString startup = data.filePath(QStringLiteral("startup.gguf"));
    const QString asked = data.filePath(QStringLiteral("asked.gguf"));
    for (const QString& path : {startup, asked}) {
        QFile file(path);
        QVERIFY(file.open(QIODevice::WriteOnly)); // the fake engine reads nothing; the file must exist
    }
    AppController app(data.path(), std::make_unique<FakeChatEngine>(), startup);
    QVERIFY(!app.ready());
    bringForward(nullptr, &app, asked);
    QTRY_VERIFY_WITH_TIMEOUT(app.model()->loaded(), 10000);
    QTest::qWait(200);
    QTRY_VERIFY(app.model()->loaded());
    QCOMPARE(app.model()->modelFacts().path, asked);
}

void SingleInstanceTest::secondStartBringsTheWindowForwardWithItsModel() {
    if (exe_.isEmpty()) QSKIP("LATENT_CHAT (path of latent-chat) is not set; run through CTest");
    QTemporaryDir data;
    RunningApp first(exe_, {QStringLiteral("--data-dir"), data.path()});
    QVERIFY(waitUntilRunning(data));

    // The model as a relative plain argument ("Open with" from the model's folder): the running
    // instance gets its absolute path.
    const Finished second = runToEnd(exe_, {QStringLiteral("--data-dir"), data.path(), QFileInfo(modelPath_).fileName()},
                                     models_.path());
    QVERIFY(second.finished);
    QVERIFY2(second.exitCode == 0, second.output.constData());
    QVERIFY2(second.output.contains("brought forward"), second.output.constData());
    QTRY_VERIFY_WITH_TIMEOUT(logOf(data).contains("activated by a second start; opening the model " + modelPath_.toUtf8()),
                             10000);
    QTRY_VERIFY_WITH_TIMEOUT(logOf(data).contains("model loaded: " + modelPath_.toUtf8()), 30000);

    // Without a model: raised only, still exit 0; the first keeps running.
    const Finished third = runToEnd(exe_, {QStringLiteral("--data-dir"), data.path()});
    QVERIFY2(third.exitCode == 0, third.output.constData());
    QTRY_COMPARE_WITH_TIMEOUT(logOf(data).count("activated by a second start"), 2, 10000);
    QCOMPARE(first.process().state(), QProcess::Running);
}

void SingleInstanceTest::differentDataDirectoriesRunSideBySide() {
    if (exe_.isEmpty()) QSKIP("LATENT_CHAT (path of latent-chat) is not set; run through CTest");
    QTemporaryDir one, two;
    RunningApp first(exe_, {QStringLiteral("--data-dir"), one.path()});
    QVERIFY(waitUntilRunning(one));
    RunningApp second(exe_, {QStringLiteral("--data-dir"), two.path()});
    QVERIFY(waitUntilRunning(two));
    QTest::qWait(1000);
    QCOMPARE(first.process().state(), QProcess::Running);
    QCOMPARE(second.process().state(), QProcess::Running);
    QVERIFY(!logOf(one).contains("activated by a second start"));
}

void SingleInstanceTest::staleSocketIsReplaced() {
    if (exe_.isEmpty()) QSKIP("LATENT_CHAT (path of latent-chat) is not set; run through CTest");
    QTemporaryDir data;
    // What a crashed instance leaves: a bound socket file nobody listens on.
    const QByteArray path = instanceSocketName(data.path()).toUtf8();
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    QVERIFY(fd >= 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.constData(), size_t(path.size()) + 1);
    QVERIFY(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
    ::close(fd);
    QVERIFY(QFile::exists(QString::fromUtf8(path)));

    RunningApp first(exe_, {QStringLiteral("--data-dir"), data.path()});
    QVERIFY(waitUntilRunning(data));
    const Finished second = runToEnd(exe_, {QStringLiteral("--data-dir"), data.path()});
    QVERIFY2(second.exitCode == 0, second.output.constData());
    QTRY_VERIFY_WITH_TIMEOUT(logOf(data).contains("activated by a second start"), 10000);
}

void SingleInstanceTest::hungInstanceIsReported() {
    if (exe_.isEmpty()) QSKIP("LATENT_CHAT (path of latent-chat) is not set; run through CTest");
    QTemporaryDir data;
    RunningApp first(exe_, {QStringLiteral("--data-dir"), data.path()});
    QVERIFY(waitUntilRunning(data));
    QTest::qWait(500);
    QVERIFY(::kill(pid_t(first.process().processId()), SIGSTOP) == 0); // hung: alive, holds the lock, answers nothing
    QElapsedTimer clock;
    clock.start();
    const Finished second = runToEnd(exe_, {QStringLiteral("--data-dir"), data.path()});
    ::kill(pid_t(first.process().processId()), SIGCONT);
    QVERIFY(second.finished);
    QVERIFY2(second.exitCode != 0, second.output.constData());
    QVERIFY2(second.output.contains("does not answer"), second.output.constData());
    qInfo("a hung instance was reported after %lld ms", clock.elapsed());
    QCOMPARE(first.process().state(), QProcess::Running);
}

QTEST_MAIN(SingleInstanceTest)
#include "test_single_instance.moc"
