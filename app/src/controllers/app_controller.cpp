#include "controllers/app_controller.h"

#include "controllers/endpoint_policy.h"
#include "inference/inference_worker.h"
#include "storage/storage_thread.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>

#include <spdlog/spdlog.h>

#include <exception>

AppController::AppController(const QString& dataDir, std::unique_ptr<ChatEngine> engine, const QString& modelPath,
                             QObject* parent)
    : QObject(parent), dataDir_(QDir(dataDir).absolutePath()), modelPath_(modelPath) {
    qRegisterMetaType<Database::OpenReport>();
    qRegisterMetaType<ModelFacts>();
    qRegisterMetaType<EngineResult>();
    qRegisterMetaType<LoadSettings>();
    qRegisterMetaType<SamplingSettings>();
    qRegisterMetaType<std::vector<ChatTurn>>();

    if (!QDir().mkpath(dataDir_)) spdlog::error("cannot create the data folder {}", dataDir_.toStdString());

    worker_ = new InferenceWorker(std::move(engine));
    worker_->moveToThread(&inferenceThread_);
    connect(&inferenceThread_, &QThread::finished, worker_, &QObject::deleteLater);
    inferenceThread_.setObjectName(QStringLiteral("inference"));
    inferenceThread_.start();

    store_ = std::make_unique<StorageThread>(QDir(dataDir_).filePath(QStringLiteral("latent.db")));
    connect(store_.get(), &StorageThread::opened, this, &AppController::onOpened);
    connect(store_.get(), &StorageThread::openFailed, this, &AppController::onOpenFailed);
    connect(store_.get(), &StorageThread::storageError, this,
            [](const QString& message) { spdlog::error("chat history: {}", message.toStdString()); });
    connect(store_.get(), &StorageThread::backlogChanged, this, &AppController::onBacklogChanged);

    settings_ = std::make_unique<SettingsController>(store_.get());
    model_ = std::make_unique<ModelController>(worker_, settings_.get(), store_.get());
    chat_ = std::make_unique<ChatController>(store_.get(), worker_, model_.get(), settings_.get());
    draft_ = std::make_unique<DraftController>(worker_, model_.get(), settings_.get());
    // The administrator's settings, remote-endpoint policy and shared model folders
    // (/etc/xdg/latent-chat/latent-chat.conf).
    const SystemConfig system = SystemConfig::load();
    const EndpointPolicy policy = endpointPolicy(system);
    endpoint_ = std::make_unique<EndpointController>(model_.get(), store_.get(), policy.allowRemoteEndpoints, policy.source);
    serve_ = std::make_unique<ServeController>(model_.get(), store_.get(), system.allowServing, system.path);
    const QString documentIndex = QDir(dataDir_).filePath(QStringLiteral("documents.db"));
    documents_ = std::make_unique<DocumentsController>(documentIndex);
    viewer_ = std::make_unique<DocumentViewerController>(documentIndex);
    chat_->setDocumentIndexPath(documentIndex);

    if (!system.path.isEmpty()) spdlog::info("system settings from {}", system.path.toStdString());
    for (const QString& problem : system.problems) spdlog::warn("system settings: {}", problem.toStdString());
    settings_->applySystemConfig(system);
    // An installation outside /usr (the .run in /opt/latent-chat) has its own shared folder.
    QStringList folders = system.sharedModelFolders;
    const QString bundled = QDir::cleanPath(QCoreApplication::applicationDirPath() + QStringLiteral("/../share/latent-chat/models"));
    if (!folders.contains(bundled) && QFileInfo(bundled).isDir()) folders << bundled;
    sharedModels_.setFolders(folders);
}

AppController::~AppController() {
    serve_.reset(); // stops `latent serve` if the user started it
    // Stop whatever the worker is doing so the join below is quick.
    if (chat_->generating()) chat_->stop();
    worker_->cancelLoad();
    inferenceThread_.quit();
    inferenceThread_.wait();
    // Results the worker sent before it ended are still queued for the chat controller: deliver
    // them so the last answer is finalised with its text and statistics, then commit anything
    // still unfinished.
    QCoreApplication::sendPostedEvents(chat_.get(), QEvent::MetaCall);
    chat_->shutdown();
    endpoint_.reset();
    draft_.reset();
    chat_.reset();
    model_.reset();
    settings_.reset();
    store_.reset(); // runs what is queued and closes the database
}

QString AppController::version() const {
    const QString v = QCoreApplication::applicationVersion();
    return v.isEmpty() ? QStringLiteral("0.1.0") : v;
}

void AppController::dismissNotice() { setNotice(QString()); }

void AppController::setNotice(const QString& text) {
    if (text == notice_) return;
    notice_ = text;
    emit noticeChanged();
}

void AppController::onBacklogChanged(const StorageBacklog& backlog) {
    const bool wasSaved = backlog_.writes == 0;
    backlog_ = backlog;
    if (backlog.writes == 0) {
        spdlog::info("chat history: everything is saved again");
        if (waitingToQuit_) {
            setWaitingToQuit(false);
            quitApproved_ = true;
            emit quitApproved();
        }
    } else if (wasSaved) {
        spdlog::warn("chat history: changes are not being saved: {} ({}); they are kept and retried",
                     backlog.reason.toStdString(), backlog.detail.toStdString());
    }
    emit unsavedChanged();
}

QString AppController::unsavedText() const {
    const int messages = unsavedMessages();
    if (backlog_.writes == 0) return QString();
    if (messages == 0) return QStringLiteral("Some changes are not saved yet: %1. They are kept and saved as soon as possible.").arg(backlog_.reason);
    if (messages == 1) return QStringLiteral("1 message is not saved yet: %1. It is kept and saved as soon as possible.").arg(backlog_.reason);
    return QStringLiteral("%1 messages are not saved yet: %2. They are kept and saved as soon as possible.").arg(messages).arg(backlog_.reason);
}

void AppController::retrySaving() {
    spdlog::info("chat history: trying the {} unsaved change(s) again", backlog_.writes);
    store_->retryNow();
}

bool AppController::requestQuit() {
    if (quitApproved_ || backlog_.writes == 0) return true;
    spdlog::warn("quit asked with {} unsaved message(s) ({}); asking what to do", backlog_.messageIds.size(),
                 backlog_.reason.toStdString());
    emit quitConfirmationNeeded();
    return false;
}

void AppController::quitAnyway() {
    if (backlog_.writes > 0)
        spdlog::error("quitting with {} unsaved message(s) and {} change(s) ({}); the last attempt at exit is logged",
                      backlog_.messageIds.size(), backlog_.writes, backlog_.reason.toStdString());
    setWaitingToQuit(false);
    quitApproved_ = true;
    emit quitApproved();
}

void AppController::waitThenQuit() {
    if (backlog_.writes == 0) return quitAnyway();
    setWaitingToQuit(true);
    store_->retryNow();
}

void AppController::cancelQuit() { setWaitingToQuit(false); }

void AppController::setWaitingToQuit(bool waiting) {
    if (waiting == waitingToQuit_) return;
    waitingToQuit_ = waiting;
    emit waitingToQuitChanged();
}

void AppController::setReadOnly(const QString& reason, const QString& notice) {
    readOnlyReason_ = reason.isEmpty() ? QStringLiteral("unknown reason") : reason;
    readOnlyNotice_ = notice;
    emit readOnlyChanged();
}

QString AppController::repairNotice(const Database::OpenReport& report) {
    if (report.damageDescription.isEmpty()) return QString();
    const QString kept = QDir::toNativeSeparators(report.damagedCopyPath);
    if (report.repairedInPlace)
        return QStringLiteral("Your chat history was damaged (%1) and has been repaired: its indexes were rebuilt and "
                              "nothing was lost.")
            .arg(report.damageDescription);
    if (report.salvaged) {
        const QString recovered = QStringLiteral("Recovered %1 of %2 messages in %3 of %4 conversations")
                                      .arg(report.messagesRecovered)
                                      .arg(report.messagesKnown)
                                      .arg(report.conversationsRecovered)
                                      .arg(report.conversationsKnown);
        if (kept.isEmpty())
            return QStringLiteral("Your chat history is damaged (%1). %2; the damaged file was left as it is.")
                .arg(report.damageDescription, recovered);
        return QStringLiteral("Your chat history was damaged (%1) and has been repaired. %2; the damaged file was kept as %3.")
            .arg(report.damageDescription, recovered, kept);
    }
    if (kept.isEmpty())
        return QStringLiteral("Your chat history could not be read (%1); an empty history is shown.").arg(report.damageDescription);
    return QStringLiteral("Your chat history could not be read (%1). It was moved to %2 and a new history was started.")
        .arg(report.damageDescription, kept);
}

void AppController::onOpenFailed(const QString& message) {
    spdlog::error("chat history: {}", message.toStdString());
    // The app still starts (the model loads, answers can be read), it only cannot keep them.
    setReadOnly(message, QStringLiteral("Your chat history could not be opened (%1). New messages cannot be saved.").arg(message));
    becomeReady({}, 1, 1);
}

void AppController::onOpened(const Database::OpenReport& report) {
    if (!report.damageDescription.isEmpty()) {
        spdlog::warn("damaged chat history ({}); kept as {}", report.damageDescription.toStdString(),
                     report.damagedCopyPath.toStdString());
        setNotice(repairNotice(report));
    }
    if (report.readOnly) {
        spdlog::warn("chat history opened read-only: {}", report.readOnlyReason.toStdString());
        setReadOnly(report.readOnlyReason,
                    QStringLiteral("Your chat history is read-only (%1). It is shown, but new messages cannot be saved.")
                        .arg(report.readOnlyReason));
    }
    if (!report.backupPath.isEmpty())
        spdlog::info("chat history migrated from version {}; backup at {}", report.foundVersion,
                     report.backupPath.toStdString());
    if (report.interruptedMessages > 0)
        spdlog::info("{} answer(s) were interrupted when the app last ended", report.interruptedMessages);

    const qint64 nextConversationId = report.nextConversationId;
    const qint64 nextMessageId = report.nextMessageId;
    store_->query<QVariantMap>(
        this,
        [](Database& db) {
            // Unreadable settings must not keep the app from starting: defaults then.
            try {
                return db.settings();
            } catch (const std::exception& e) {
                spdlog::error("cannot read the settings: {}", e.what());
                return QVariantMap();
            }
        },
        [this, nextConversationId, nextMessageId](QVariantMap stored) {
            becomeReady(stored, nextConversationId, nextMessageId);
        });
}

void AppController::becomeReady(const QVariantMap& stored, qint64 nextConversationId, qint64 nextMessageId) {
    if (ready_) return;
    settings_->applyStored(stored);
    endpoint_->applyStored(stored);
    serve_->applyStored(stored);
    QStringList recent;
    for (const QVariant& v : stored.value(QStringLiteral("recentModels")).toList())
        if (v.typeId() == QMetaType::QString) recent << v.toString();
    model_->setRecentModels(recent);
    chat_->start(nextConversationId, nextMessageId);
    ready_ = true;
    emit readyChanged();
    if (!modelPath_.isEmpty()) {
        model_->load(modelPath_);
    } else if (demoOnFirstRun_ && recent.isEmpty() && !model_->demoModelPath().isEmpty()) {
        spdlog::info("no model used yet: loading the built-in demo model {}", model_->demoModelPath().toStdString());
        model_->loadDemo();
    }
}
