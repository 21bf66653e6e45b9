#include "controllers/app_controller.h"

#include "inference/inference_worker.h"
#include "storage/storage_thread.h"

#include <QCoreApplication>
#include <QDir>

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
    connect(store_.get(), &StorageThread::openFailed, this, [this](const QString& message) {
        spdlog::error("chat history: {}", message.toStdString());
        setNotice(QStringLiteral("Your chat history could not be opened (%1). Conversations will not be saved "
                                 "until this is fixed.")
                      .arg(message));
    });
    connect(store_.get(), &StorageThread::storageError, this,
            [](const QString& message) { spdlog::error("chat history: {}", message.toStdString()); });

    settings_ = std::make_unique<SettingsController>(store_.get());
    model_ = std::make_unique<ModelController>(worker_, settings_.get(), store_.get());
    chat_ = std::make_unique<ChatController>(store_.get(), worker_, model_.get(), settings_.get());
    draft_ = std::make_unique<DraftController>(worker_, model_.get(), settings_.get());
}

AppController::~AppController() {
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

void AppController::onOpened(const Database::OpenReport& report) {
    if (!report.damagedCopyPath.isEmpty()) {
        spdlog::warn("damaged chat history moved to {}: {}", report.damagedCopyPath.toStdString(),
                     report.damageDescription.toStdString());
        setNotice(QStringLiteral("Your chat history could not be read (%1). It was moved to %2 and a new history "
                                 "was started.")
                      .arg(report.damageDescription, QDir::toNativeSeparators(report.damagedCopyPath)));
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
            settings_->applyStored(stored);
            QStringList recent;
            for (const QVariant& v : stored.value(QStringLiteral("recentModels")).toList())
                if (v.typeId() == QMetaType::QString) recent << v.toString();
            model_->setRecentModels(recent);
            chat_->start(nextConversationId, nextMessageId);
            ready_ = true;
            emit readyChanged();
            if (!modelPath_.isEmpty()) model_->load(modelPath_);
        });
}
