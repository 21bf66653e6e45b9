#include "controllers/single_instance.h"

#include "controllers/app_controller.h"

#include <QCryptographicHash>
#include <QDeadlineTimer>
#include <QDir>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLocalServer>
#include <QLocalSocket>
#include <QThread>
#include <QTimer>
#include <QWindow>

#include <spdlog/spdlog.h>

#include <algorithm>

#include <unistd.h>

QString instanceSocketName(const QString& dataDir) {
    const QFileInfo info(dataDir);
    const QString canonical = info.canonicalFilePath().isEmpty() ? info.absoluteFilePath() : info.canonicalFilePath();
    const QString hash = QString::fromLatin1(
        QCryptographicHash::hash(canonical.toUtf8(), QCryptographicHash::Sha256).toHex().left(16));
    // A Unix socket path has room for ~107 bytes: the runtime folder is short, and per user.
    const QString runtime = qEnvironmentVariable("XDG_RUNTIME_DIR");
    if (!runtime.isEmpty() && QDir::isAbsolutePath(runtime) && QFileInfo(runtime).isDir())
        return QDir(runtime).filePath(QStringLiteral("latent-chat-%1.socket").arg(hash));
    return QDir(QDir::tempPath()).filePath(QStringLiteral("latent-chat-%1-%2.socket").arg(::getuid()).arg(hash));
}

// ---- the second start ----------------------------------------------------------------------

ForwardOutcome forwardToRunningInstance(const QString& dataDir, const QString& modelPath, int timeoutMs) {
    const QString name = instanceSocketName(dataDir);
    const QString dir = QDir::toNativeSeparators(dataDir);
    const QDeadlineTimer deadline(timeoutMs);
    const auto noAnswer = [&](const QString& why) {
        return ForwardOutcome{false, QStringLiteral("Latent Chat is already running with the data directory %1, but it "
                                                    "does not answer (%2). It may be busy or hung: wait, or end it and "
                                                    "start Latent Chat again.")
                                         .arg(dir, why)};
    };

    // The running instance takes its lock a moment before it listens: retry until the deadline.
    QLocalSocket socket;
    for (;;) {
        socket.connectToServer(name);
        if (socket.waitForConnected(int(std::max<qint64>(deadline.remainingTime(), 1)))) break;
        if (deadline.hasExpired()) return noAnswer(QStringLiteral("cannot connect: %1").arg(socket.errorString()));
        QThread::msleep(100);
    }

    QJsonObject request{{QStringLiteral("activate"), true}};
    if (!modelPath.isEmpty()) request.insert(QStringLiteral("model"), modelPath);
    socket.write(QJsonDocument(request).toJson(QJsonDocument::Compact) + '\n');
    if (!socket.waitForBytesWritten(int(std::max<qint64>(deadline.remainingTime(), 1))))
        return noAnswer(QStringLiteral("cannot send the request: %1").arg(socket.errorString()));

    QByteArray answer;
    while (!answer.contains('\n') && answer.size() < 1024) {
        if (socket.bytesAvailable() == 0 && !socket.waitForReadyRead(int(std::max<qint64>(deadline.remainingTime(), 1))))
            return noAnswer(deadline.hasExpired() ? QStringLiteral("no answer within %1 s").arg(timeoutMs / 1000.0)
                                                  : QStringLiteral("the connection closed: %1").arg(socket.errorString()));
        answer += socket.readAll();
    }
    const QByteArray line = answer.left(answer.indexOf('\n')).trimmed();
    if (line != "ok")
        return ForwardOutcome{false, QStringLiteral("Latent Chat is already running with the data directory %1 and "
                                                    "refused the request: %2")
                                         .arg(dir, QString::fromUtf8(line))};
    return ForwardOutcome{true, modelPath.isEmpty()
                                    ? QStringLiteral("Latent Chat is already running with the data directory %1; its "
                                                     "window was brought forward.")
                                          .arg(dir)
                                    : QStringLiteral("Latent Chat is already running with the data directory %1; its "
                                                     "window was brought forward and opens %2.")
                                          .arg(dir, QDir::toNativeSeparators(modelPath))};
}

// ---- the running instance ------------------------------------------------------------------

InstanceServer::InstanceServer(QObject* parent) : QObject(parent) {}

InstanceServer::~InstanceServer() {
    if (server_) server_->close(); // removes the socket file
}

bool InstanceServer::listen(const QString& dataDir) {
    const QString name = instanceSocketName(dataDir);
    delete server_;
    server_ = new QLocalServer(this);
    server_->setSocketOptions(QLocalServer::UserAccessOption);
    // Whoever listened here before us held the lock we now hold, so it is gone: its socket is stale.
    QLocalServer::removeServer(name);
    if (!server_->listen(name)) {
        error_ = QStringLiteral("cannot listen on %1: %2").arg(name, server_->errorString());
        return false;
    }
    connect(server_, &QLocalServer::newConnection, this, &InstanceServer::onNewConnection);
    return true;
}

void InstanceServer::onNewConnection() {
    while (QLocalSocket* socket = server_->nextPendingConnection()) {
        connect(socket, &QLocalSocket::disconnected, socket, &QObject::deleteLater);
        connect(socket, &QLocalSocket::readyRead, this, [this, socket] { onReadyRead(socket); });
        QTimer::singleShot(kClientTimeoutMs, socket, [socket] { socket->abort(); });
        if (socket->bytesAvailable() > 0) onReadyRead(socket);
    }
}

void InstanceServer::onReadyRead(QLocalSocket* socket) {
    const auto reply = [socket](const QByteArray& text) {
        socket->write(text + '\n');
        socket->disconnectFromServer(); // after the answer is written
    };
    if (!socket->canReadLine()) {
        if (socket->bytesAvailable() > kMaxRequestBytes) {
            spdlog::warn("single instance: a request over {} bytes was refused", kMaxRequestBytes);
            reply("error: the request is too long");
        }
        return;
    }
    const QByteArray line = socket->readLine(kMaxRequestBytes + 1);
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(line, &parseError);
    const QJsonValue model = document.object().value(QStringLiteral("model"));
    QString why;
    if (!document.isObject()) why = QStringLiteral("the request is not a JSON object");
    else if (!model.isUndefined() && !model.isString()) why = QStringLiteral("\"model\" is not a string");
    else if (!model.toString().isEmpty() && !QDir::isAbsolutePath(model.toString()))
        why = QStringLiteral("\"model\" is not an absolute path");
    if (!why.isEmpty()) {
        spdlog::warn("single instance: a request was refused: {}", why.toStdString());
        reply("error: " + why.toUtf8());
        return;
    }
    reply("ok");
    emit activationRequested(model.toString());
}

void bringForward(QWindow* window, AppController* app, const QString& modelPath) {
    if (modelPath.isEmpty()) spdlog::info("activated by a second start");
    else spdlog::info("activated by a second start; opening the model {}", modelPath.toStdString());
    if (window) {
        window->setWindowStates(window->windowStates() & ~Qt::WindowMinimized);
        window->show();
        window->raise();
        window->requestActivate();
    }
    if (!app || modelPath.isEmpty()) return;
    if (app->ready()) {
        app->model()->load(modelPath);
        return;
    }
    // Queued: the app loads the model of its own command line when it becomes ready; this one,
    // asked for later, comes after it.
    auto* once = new QObject(app);
    QObject::connect(app, &AppController::readyChanged, once, [app, once, modelPath] {
        once->deleteLater();
        app->model()->load(modelPath);
    }, Qt::QueuedConnection);
}
