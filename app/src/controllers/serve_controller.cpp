#include "serve_controller.h"

#include "controllers/model_controller.h"
#include "storage/storage_thread.h"

#include <QCoreApplication>
#include <algorithm>
#include <QDir>
#include <QFileInfo>
#include <QRandomGenerator>
#include <QRegularExpression>
#include <QStandardPaths>
#include <QTimer>

#ifdef Q_OS_LINUX
#include <csignal>
#include <sys/prctl.h>
#include <unistd.h>
#endif

namespace {

constexpr int kDefaultPort = 8080;
constexpr int kMinPort = 1024; // below: privileged ports, which a desktop app cannot open
constexpr int kMaxPort = 65535;
constexpr int kKillAfterMs = 3000;    // SIGTERM, then SIGKILL
constexpr int kQuitWaitMs = 1500;     // how long quitting the app waits for the server to end after SIGTERM
constexpr int kQuitKillWaitMs = 500;  // and after SIGKILL
constexpr qsizetype kKeepOutput = 8192; // bytes of the child's output kept for messages

// 32 random bytes as 64 hex digits, from the operating system's generator.
QString newApiKey() {
    QByteArray bytes(32, Qt::Uninitialized);
    QRandomGenerator::system()->fillRange(reinterpret_cast<quint32*>(bytes.data()), bytes.size() / 4);
    return QStringLiteral("lc-") + QString::fromLatin1(bytes.toHex());
}

void keepTail(QByteArray& buffer, const QByteArray& more) {
    buffer += more;
    if (buffer.size() > kKeepOutput) buffer = buffer.right(kKeepOutput);
}

// The server's own reason ("cannot listen on 127.0.0.1:8080: Address already in use") from its
// error output: the last "error:" line without its prefix; "" when it printed none (warnings are
// not reasons).
QString reasonFrom(const QByteArray& output) {
    const QStringList lines = QString::fromUtf8(output).split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    for (qsizetype i = lines.size() - 1; i >= 0; --i) {
        const QString line = lines[i].trimmed();
        const qsizetype at = line.indexOf(QLatin1String("error: "));
        if (at >= 0) return line.mid(at + 7);
    }
    return {};
}

} // namespace

ServeController::ServeController(ModelController* models, StorageThread* store, bool allowed, QString policySource, QObject* parent)
    : QObject(parent), models_(models), store_(store), allowed_(allowed), policySource_(std::move(policySource)), port_(kDefaultPort) {
    if (models_) connect(models_, &ModelController::stateChanged, this, &ServeController::changed);
}

ServeController::~ServeController() {
    if (!process_) return;
    process_->disconnect(this);
    if (process_->state() != QProcess::NotRunning) {
        process_->terminate();
        if (!process_->waitForFinished(kQuitWaitMs)) {
            process_->kill();
            process_->waitForFinished(kQuitKillWaitMs);
        }
    }
    delete process_;
}

QString ServeController::policyNote() const {
    if (allowed_) return {};
    return tr("Serving models to other apps is turned off on this computer by its administrator (%1).").arg(policySource_);
}

QString ServeController::state() const {
    switch (state_) {
    case State::Stopped: return QStringLiteral("stopped");
    case State::Starting: return QStringLiteral("starting");
    case State::Running: return QStringLiteral("running");
    case State::Stopping: return QStringLiteral("stopping");
    }
    return {};
}

QString ServeController::url() const {
    if (!running()) return {};
    return QStringLiteral("http://127.0.0.1:%1/v1").arg(listeningPort_);
}

QString ServeController::modelId() const {
    const QString path = state_ == State::Stopped ? localModelPath() : servedPath_;
    return path.isEmpty() ? QString() : QFileInfo(path).completeBaseName();
}

QString ServeController::localModelPath() const {
    if (!models_ || !models_->loaded()) return {};
    const QString path = models_->modelFacts().path;
    return QFileInfo(path).isFile() ? path : QString();
}

QString ServeController::unavailableNote() const {
    if (!allowed_) return policyNote();
    if (state_ != State::Stopped) return {};
    if (localModelPath().isEmpty()) return tr("Load a model file first: only a model on this computer can be served.");
    if (cliPath().isEmpty()) return tr("The latent program that serves models is not installed next to the app.");
    return {};
}

void ServeController::applyStored(const QVariantMap& stored) {
    bool ok = false;
    const int port = stored.value(QStringLiteral("servePort")).toInt(&ok);
    if (ok && port >= kMinPort && port <= kMaxPort && port != port_) {
        port_ = port;
        emit changed();
    }
}

void ServeController::setPort(int port) {
    port = std::clamp(port, kMinPort, kMaxPort);
    if (port == port_) return;
    port_ = port;
    if (store_) store_->write(StorageWrite::setSetting(QStringLiteral("servePort"), port_));
    emit changed();
}

QString ServeController::cliPath() {
    const QString fromEnv = qEnvironmentVariable("LATENT_CLI");
    const auto runnable = [](const QString& path) {
        const QFileInfo info(path);
        return info.isFile() && info.isExecutable();
    };
    if (!fromEnv.isEmpty()) return runnable(fromEnv) ? fromEnv : QString();
    const QString beside = QDir(QCoreApplication::applicationDirPath()).filePath(QStringLiteral("latent"));
    if (runnable(beside)) return beside;
    return QStandardPaths::findExecutable(QStringLiteral("latent"));
}

void ServeController::setState(State s) {
    if (s == state_) return;
    state_ = s;
    emit changed();
}

void ServeController::start() {
    if (state_ != State::Stopped) return;
    if (const QString why = unavailableNote(); !why.isEmpty()) {
        error_ = why;
        emit changed();
        return;
    }
    error_.clear();
    stdout_.clear();
    stderr_.clear();
    servedPath_ = localModelPath();
    apiKey_ = newApiKey();
    listeningPort_ = 0;

    process_ = new QProcess;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("LATENT_API_KEY"), apiKey_);
    process_->setProcessEnvironment(env);
    process_->setProgram(cliPath());
    // Loopback only (latent serve's default host), the CPU backend, two conversations at once.
    process_->setArguments({QStringLiteral("serve"), QStringLiteral("-m"), servedPath_, QStringLiteral("--port"), QString::number(port_),
                            QStringLiteral("--parallel"), QStringLiteral("2")});
#ifdef Q_OS_LINUX
    // If the app dies without stopping it (a crash, SIGKILL), the server must not live on with the
    // port and a key nobody has: the kernel sends it SIGTERM when the app's thread that started it
    // ends (the GUI thread, which lives as long as the app).
    const pid_t parent = ::getpid();
    process_->setChildProcessModifier([parent] {
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (::getppid() != parent) ::_exit(1); // the app ended before prctl took effect
    });
#endif
    connect(process_, &QProcess::readyReadStandardOutput, this, &ServeController::onOutput);
    connect(process_, &QProcess::readyReadStandardError, this, &ServeController::onOutput);
    connect(process_, &QProcess::finished, this, &ServeController::onFinished);
    connect(process_, &QProcess::errorOccurred, this, &ServeController::onProcessError);
    setState(State::Starting);
    process_->start();
}

void ServeController::stop() {
    if (!process_ || state_ == State::Stopped || state_ == State::Stopping) return;
    setState(State::Stopping);
    process_->terminate();
    if (!killTimer_) {
        killTimer_ = new QTimer(this);
        killTimer_->setSingleShot(true);
        connect(killTimer_, &QTimer::timeout, this, [this] {
            if (process_ && process_->state() != QProcess::NotRunning) process_->kill();
        });
    }
    killTimer_->start(kKillAfterMs);
}

void ServeController::onOutput() {
    if (!process_) return;
    keepTail(stdout_, process_->readAllStandardOutput());
    keepTail(stderr_, process_->readAllStandardError());
    if (state_ != State::Starting) return;
    static const QRegularExpression listening(QStringLiteral("listening on http://\\S+:(\\d+)"));
    const QRegularExpressionMatch m = listening.match(QString::fromUtf8(stdout_));
    if (!m.hasMatch()) return;
    listeningPort_ = m.captured(1).toInt();
    setState(State::Running);
}

void ServeController::onFinished(int exitCode, QProcess::ExitStatus status) {
    if (!process_) return;
    onOutput();
    if (killTimer_) killTimer_->stop();
    const bool requested = state_ == State::Stopping;
    if (!requested) {
        const QString reason = reasonFrom(stderr_);
        if (!reason.isEmpty()) error_ = tr("The server stopped: %1").arg(reason);
        else if (status == QProcess::CrashExit) error_ = tr("The server stopped unexpectedly (it crashed).");
        else error_ = tr("The server stopped unexpectedly (exit code %1).").arg(exitCode);
    }
    endProcess();
}

void ServeController::endProcess() {
    process_->disconnect(this);
    process_->deleteLater();
    process_ = nullptr;
    apiKey_.clear();
    listeningPort_ = 0;
    setState(State::Stopped);
}

void ServeController::onProcessError(QProcess::ProcessError e) {
    if (e != QProcess::FailedToStart || !process_) return;
    error_ = tr("The server could not be started: %1").arg(process_->errorString());
    endProcess();
}
