// Settings → Serve to other apps ("serve this model to other apps on this computer"): runs
// `latent serve` (the command-line program installed with the app) as a child process on the
// local model file loaded now, so editors, scripts and agents on this computer can use it through
// the OpenAI API while the app stays open.
//
// The server listens on 127.0.0.1 only (never the network) at the chosen port (saved as the
// setting servePort) and requires an API key: a random one made for each start, handed to the
// child through its environment (not its command line, which other users can read in /proc) and
// shown in Settings to copy; it is never saved or logged. The child serves on the CPU (the
// app's own chats keep the GPU) and shares the model file's memory with the app through the page
// cache. Stop (also while it starts) and quitting the app stop it (SIGTERM, then SIGKILL after a
// few seconds); on Linux it also gets SIGTERM if the app dies without stopping it.
// The administrator's policy ([Policy] AllowServing=false, controllers/system_config.h) can
// forbid it.
#pragma once

#include <QObject>
#include <QProcess>
#include <QString>
#include <QVariantMap>
#include <QtQml/qqmlregistration.h>

class ModelController;
class StorageThread;
class QTimer;

class ServeController : public QObject {
    Q_OBJECT
    QML_ELEMENT
    QML_UNCREATABLE("owned by AppController")
    Q_PROPERTY(bool allowed READ allowed CONSTANT)          // false: the administrator forbids serving
    Q_PROPERTY(QString policyNote READ policyNote CONSTANT) // why, when not allowed
    Q_PROPERTY(QString state READ state NOTIFY changed)     // "stopped" | "starting" | "running" | "stopping"
    Q_PROPERTY(bool running READ running NOTIFY changed)
    Q_PROPERTY(int port READ port WRITE setPort NOTIFY changed)   // 1024 … 65535 (default 8080)
    Q_PROPERTY(QString url READ url NOTIFY changed)               // "http://127.0.0.1:8080/v1" while running
    Q_PROPERTY(QString apiKey READ apiKey NOTIFY changed)         // while running: clients send "Authorization: Bearer KEY"
    Q_PROPERTY(QString modelId READ modelId NOTIFY changed)       // the model name clients ask for (the file name without .gguf)
    Q_PROPERTY(QString servedPath READ servedPath NOTIFY changed) // the file being served ("" when stopped)
    // Why Start cannot be pressed now ("" when it can): no local model loaded, policy …
    Q_PROPERTY(QString unavailableNote READ unavailableNote NOTIFY changed)
    Q_PROPERTY(QString error READ error NOTIFY changed) // why the server did not start or stopped on its own
public:
    ServeController(ModelController* models, StorageThread* store, bool allowed, QString policySource, QObject* parent = nullptr);
    ~ServeController() override; // stops the server, waiting at most a few seconds

    void applyStored(const QVariantMap& stored); // servePort

    bool allowed() const { return allowed_; }
    QString policyNote() const;
    QString state() const;
    bool running() const { return state_ == State::Running; }
    int port() const { return port_; }
    QString url() const;
    QString apiKey() const { return running() ? apiKey_ : QString(); }
    QString modelId() const;
    QString servedPath() const { return state_ == State::Stopped ? QString() : servedPath_; }
    QString unavailableNote() const;
    QString error() const { return error_; }

    void setPort(int port);

    // Starts serving the loaded local model (refused, with `error` set, when unavailableNote
    // says why); `running` once the server says it listens.
    Q_INVOKABLE void start();
    // Stops the server, or cancels a start (loading a big model takes a while).
    Q_INVOKABLE void stop();

    // The `latent` program: $LATENT_CLI when set, else the one next to the app, else on PATH;
    // "" when there is none.
    static QString cliPath();

signals:
    void changed();

private:
    enum class State { Stopped, Starting, Running, Stopping };
    void setState(State s);
    void onOutput();
    void onFinished(int exitCode, QProcess::ExitStatus status);
    void onProcessError(QProcess::ProcessError e);
    void endProcess(); // the child ended (or never started): let it go, forget its key, Stopped
    QString localModelPath() const; // the loaded model's file, "" for none or a remote endpoint

    ModelController* models_;
    StorageThread* store_;
    bool allowed_;
    QString policySource_;
    int port_ = 8080;
    int listeningPort_ = 0;
    State state_ = State::Stopped;
    QProcess* process_ = nullptr; // the running child, owned (deleted later after it ends)
    QTimer* killTimer_ = nullptr; // SIGKILL when SIGTERM was not enough
    QString apiKey_, servedPath_, error_;
    QByteArray stdout_, stderr_; // what the child printed (bounded)
};
