// One running app per data directory, and a second start that brings it forward.
//
// The instance that holds the data directory's lock listens on a local socket whose name is
// derived from the data directory (so instances on different --data-dir stay independent).
// A second start with the same data directory connects, sends one request line and waits for
// the answer, then exits 0; the first raises its window and loads the model the request names
// (through ModelController::load, as if opened from the model panel).
//
// Wire format (UTF-8, one line each way, at most kMaxRequestBytes):
//   request  {"activate": true, "model": "/absolute/path.gguf"}   ("model" absent or "" for none)
//   answer   "ok\n"
// A request that is too long or not a JSON object is answered "error: <why>\n" and ignored.
#pragma once

#include <QObject>
#include <QString>

class QLocalServer;
class QLocalSocket;

// Name of the local socket for `dataDir`: a per-user path (XDG_RUNTIME_DIR, else the temporary
// folder with the user's id) holding a hash of the data directory's absolute, canonical path.
QString instanceSocketName(const QString& dataDir);

// What a second start does. `modelPath` is absolute or empty.
struct ForwardOutcome {
    bool delivered = false; // the running instance answered "ok"
    QString message;        // for the user: what happened, or why it failed
};
ForwardOutcome forwardToRunningInstance(const QString& dataDir, const QString& modelPath, int timeoutMs = 5000);

// The first instance's listener. Emits activationRequested for every valid request.
class InstanceServer : public QObject {
    Q_OBJECT
public:
    static constexpr qsizetype kMaxRequestBytes = 64 * 1024;
    static constexpr int kClientTimeoutMs = 5000; // a client that sends no full line in this time is dropped

    explicit InstanceServer(QObject* parent = nullptr);
    ~InstanceServer() override;

    // Listens on instanceSocketName(dataDir). Only the holder of the data directory's lock may
    // call this: a socket file left by a crashed instance is stale and is removed first.
    // Returns false (with the reason in errorString()) when it cannot listen.
    bool listen(const QString& dataDir);
    QString errorString() const { return error_; }

signals:
    void activationRequested(const QString& modelPath); // "" when no model was passed

private:
    void onNewConnection();
    void onReadyRead(QLocalSocket* socket);

    QLocalServer* server_ = nullptr;
    QString error_;
};

class AppController;
class QWindow;

// Raises, un-minimises and activates `window`, then loads `modelPath` (when not empty) through
// the app's model controller — once the app is ready, after any model given at its own start.
// Logs that the instance was activated.
void bringForward(QWindow* window, AppController* app, const QString& modelPath);
