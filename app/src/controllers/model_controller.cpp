#include "controllers/model_controller.h"

#include "controllers/settings_controller.h"
#include "controllers/text_helpers.h"
#include "inference/inference_worker.h"
#include "inference/remote_chat_engine.h"
#include "storage/storage_thread.h"

#include "model/demo_model.h"

#include <spdlog/spdlog.h>

#include <QDir>
#include <QFileInfo>

#include <algorithm>

namespace {

constexpr qsizetype kMaxRecent = 10;

QString localPath(const QString& pathOrUrl) {
    const QString trimmed = pathOrUrl.trimmed();
    if (trimmed.startsWith(QLatin1String("file:"), Qt::CaseInsensitive)) return QUrl(trimmed).toLocalFile();
    return trimmed;
}

QVariantMap formatFacts(const ModelFacts& f) {
    const QString fileName = QFileInfo(f.path).fileName();
    QString reduction;
    if (f.kvBytesPerTokenMha > 0 && f.kvBytesPerTokenMla > 0) {
        const double saved = 100.0 * (1.0 - static_cast<double>(f.kvBytesPerTokenMla) /
                                                static_cast<double>(f.kvBytesPerTokenMha));
        reduction = QStringLiteral("%1 %").arg(QString::number(saved, 'f', 1));
    }
    return {
        {QStringLiteral("path"), f.path},
        {QStringLiteral("fileName"), fileName},
        {QStringLiteral("name"), f.name.isEmpty() ? fileName : f.name},
        {QStringLiteral("architecture"), f.architecture},
        {QStringLiteral("quantization"), f.quantization},
        {QStringLiteral("chatFormat"), f.chatFormat},
        {QStringLiteral("fileSize"), formatBytes(f.fileBytes)},
        {QStringLiteral("totalParams"), formatCount(f.totalParams)},
        {QStringLiteral("activeParams"), formatCount(f.activeParams)},
        {QStringLiteral("trainedContext"), f.trainedContext},
        {QStringLiteral("contextSize"), f.contextSize},
        {QStringLiteral("layers"), f.layers},
        {QStringLiteral("experts"), f.experts},
        {QStringLiteral("expertsUsed"), f.expertsUsed},
        {QStringLiteral("sharedExperts"), f.sharedExperts},
        {QStringLiteral("kvPerTokenMla"), formatBytes(f.kvBytesPerTokenMla)},
        {QStringLiteral("kvPerTokenMha"), formatBytes(f.kvBytesPerTokenMha)},
        {QStringLiteral("kvReduction"), reduction},
        {QStringLiteral("kvCacheTotal"), formatBytes(f.kvBytesPerTokenMla * std::max(0, f.contextSize))},
        {QStringLiteral("backend"), f.backend},
        {QStringLiteral("backendNote"), f.backendNote},
    };
}

} // namespace

ModelController::ModelController(InferenceWorker* worker, SettingsController* settings, StorageThread* store,
                                 QObject* parent)
    : QObject(parent), worker_(worker), settings_(settings), store_(store) {
    connect(worker_, &InferenceWorker::loadProgress, this, &ModelController::onProgress);
    connect(worker_, &InferenceWorker::modelLoaded, this, &ModelController::onLoaded);
    connect(worker_, &InferenceWorker::modelLoadFailed, this, &ModelController::onFailed);
    connect(worker_, &InferenceWorker::modelFileChanged, this, &ModelController::onModelFileChanged);
    // A few stat calls: where the demo model is installed, once.
    if (const auto demo = latent::find_demo_model())
        demoPath_ = QFileInfo(QString::fromStdString(demo->string())).canonicalFilePath();
}

QString ModelController::demoModelLabel() {
    return QString::fromUtf8(latent::kDemoModelLabel.data(), static_cast<qsizetype>(latent::kDemoModelLabel.size()));
}

bool ModelController::loadDemo() {
    if (demoPath_.isEmpty()) {
        errorText_ = QStringLiteral("The built-in demo model is not installed with this copy of Latent Chat.");
        emit errorTextChanged();
        return false;
    }
    load(demoPath_);
    return true;
}

QString ModelController::state() const {
    switch (state_) {
    case State::Empty: return QStringLiteral("empty");
    case State::Loading: return QStringLiteral("loading");
    case State::Loaded: return QStringLiteral("loaded");
    }
    return QStringLiteral("empty");
}

void ModelController::setRecentModels(const QStringList& paths) {
    QStringList list;
    for (const QString& p : paths)
        if (!p.isEmpty() && !list.contains(p) && list.size() < kMaxRecent) list << p;
    if (list == recent_) return;
    recent_ = list;
    emit recentModelsChanged();
}

void ModelController::persistRecent() {
    if (!store_) return;
    const QStringList list = recent_;
    store_->write(StorageWrite::setSetting(QStringLiteral("recentModels"), list));
}

void ModelController::load(const QString& pathOrUrl) {
    if (RemoteChatEngine::isEndpoint(pathOrUrl)) {
        // An endpoint from the recent list or a reload: with the key and model last used for it.
        const bool same = pathOrUrl == endpointUrl_;
        return connectEndpoint(pathOrUrl, same ? endpointKey_ : QString(), same ? endpointModel_ : QString());
    }
    const QString path = localPath(pathOrUrl);
    const auto refuse = [this](const QString& message) {
        errorText_ = message;
        emit errorTextChanged();
    };
    if (path.isEmpty()) return refuse(QStringLiteral("No model file was chosen."));
    const QFileInfo info(path);
    const QString shown = QDir::toNativeSeparators(info.absoluteFilePath());
    if (!info.exists()) return refuse(QStringLiteral("Cannot open %1: no such file").arg(shown));
    if (!info.isFile()) return refuse(QStringLiteral("Cannot open %1: not a file").arg(shown));
    if (!info.isReadable()) return refuse(QStringLiteral("Cannot open %1: permission denied").arg(shown));
    startLoad(info.absoluteFilePath(), settings_->loadSettings());
}

void ModelController::connectEndpoint(const QString& url, const QString& apiKey, const QString& model) {
    if (!RemoteChatEngine::isEndpoint(url)) {
        errorText_ = QStringLiteral("An endpoint URL starts with http:// or https:// (e.g. http://server:8000/v1).");
        emit errorTextChanged();
        return;
    }
    endpointUrl_ = url;
    endpointKey_ = apiKey;
    endpointModel_ = model;
    LoadSettings loadSettings = settings_->loadSettings();
    loadSettings.apiKey = apiKey;
    loadSettings.remoteModel = model;
    startLoad(url, loadSettings);
}

void ModelController::startLoad(const QString& path, const LoadSettings& loadSettings) {
    if (state_ == State::Loading) worker_->cancelLoad();
    discardUpTo_ = loadsIssued_; // whatever an earlier load reports is stale now
    state_ = State::Loading;
    loadingPath_ = path;
    progress_ = 0.0;
    facts_.clear();
    modelFacts_ = ModelFacts{};
    if (!errorText_.isEmpty()) {
        errorText_.clear();
        emit errorTextChanged();
    }
    // Listeners stop any answer in progress before the engine swaps its model.
    emit modelGone();
    emit stateChanged();
    emit progressChanged();

    ++loadsIssued_;
    QMetaObject::invokeMethod(
        worker_,
        [worker = worker_, ticket = worker_->issueLoadTicket(), path = loadingPath_, loadSettings] {
            worker->loadModel(ticket, path, loadSettings);
        },
        Qt::QueuedConnection);
}

void ModelController::cancelLoad() {
    if (state_ != State::Loading) return;
    // Empty at once. The cancel reaches the load even if it is still queued (it then fails
    // without touching the engine, leaving the previous model loaded), so an unload queued
    // behind it makes sure nothing stays loaded; the load's own result is stale from here on.
    worker_->cancelLoad();
    discardUpTo_ = loadsIssued_;
    QMetaObject::invokeMethod(worker_, [worker = worker_] { worker->unloadModel(); }, Qt::QueuedConnection);
    state_ = State::Empty;
    loadingPath_.clear();
    progress_ = 0.0;
    emit progressChanged();
    emit stateChanged();
}

void ModelController::unload() {
    if (state_ == State::Empty) return;
    if (state_ == State::Loading) worker_->cancelLoad();
    discardUpTo_ = loadsIssued_;
    QMetaObject::invokeMethod(worker_, [worker = worker_] { worker->unloadModel(); }, Qt::QueuedConnection);
    state_ = State::Empty;
    loadingPath_.clear();
    progress_ = 0.0;
    facts_.clear();
    modelFacts_ = ModelFacts{};
    emit stateChanged();
    emit progressChanged();
    emit modelGone();
}

void ModelController::reload() {
    const QString path = state_ == State::Loaded ? modelFacts_.path
                         : state_ == State::Loading ? loadingPath_
                                                    : QString();
    if (!path.isEmpty()) load(path);
}

void ModelController::removeRecent(const QString& path) {
    if (recent_.removeAll(path) == 0) return;
    persistRecent();
    emit recentModelsChanged();
}

void ModelController::clearError() {
    if (errorText_.isEmpty()) return;
    errorText_.clear();
    emit errorTextChanged();
}

bool ModelController::takeResultIsCurrent() {
    ++resultsSeen_;
    return resultsSeen_ > discardUpTo_ && resultsSeen_ == loadsIssued_;
}

void ModelController::onProgress(double p) {
    // Progress belongs to the load the worker is running: the current one only once every
    // earlier load has reported its result.
    if (state_ != State::Loading || resultsSeen_ + 1 != loadsIssued_) return;
    const double clamped = std::clamp(p, 0.0, 1.0);
    if (clamped == progress_) return;
    progress_ = clamped;
    emit progressChanged();
}

void ModelController::onLoaded(const ModelFacts& facts) {
    if (!takeResultIsCurrent()) return;
    modelFacts_ = facts;
    if (modelFacts_.path.isEmpty()) modelFacts_.path = loadingPath_;
    facts_ = formatFacts(modelFacts_);
    const bool demo = !demoPath_.isEmpty() && QFileInfo(modelFacts_.path).canonicalFilePath() == demoPath_;
    facts_.insert(QStringLiteral("demo"), demo);
    if (demo) facts_.insert(QStringLiteral("name"), QStringLiteral("Demo model"));
    spdlog::info("model loaded: {} ({}, {}, context {}) on {}{}{}", modelFacts_.path.toStdString(),
                 modelFacts_.name.toStdString(), modelFacts_.quantization.toStdString(), modelFacts_.contextSize,
                 modelFacts_.backend.toStdString(), modelFacts_.backendNote.isEmpty() ? "" : ": ",
                 modelFacts_.backendNote.toStdString());
    state_ = State::Loaded;
    loadingPath_.clear();
    progress_ = 1.0;

    // The demo model is not a choice the user made: it stays out of the recent models, so the
    // next start without a model of their own offers it again.
    if (!demo) {
        recent_.removeAll(modelFacts_.path);
        recent_.prepend(modelFacts_.path);
        while (recent_.size() > kMaxRecent) recent_.removeLast();
        persistRecent();
    }

    emit progressChanged();
    emit stateChanged();
    emit recentModelsChanged();
    emit modelReady(modelFacts_);
}

void ModelController::onFailed(const QString& message, bool cancelled) {
    if (!takeResultIsCurrent()) return;
    state_ = State::Empty;
    loadingPath_.clear();
    progress_ = 0.0;
    if (cancelled) spdlog::info("model loading cancelled");
    else spdlog::error("model loading failed: {}", message.toStdString());
    if (!cancelled) {
        errorText_ = message.isEmpty() ? QStringLiteral("The model could not be loaded.") : message;
        emit errorTextChanged();
    }
    emit progressChanged();
    emit stateChanged();
}

void ModelController::onModelFileChanged(const QString& message) {
    // Only about the model loaded now: once a later load was asked, that load replaces it anyway.
    if (state_ != State::Loaded) return;
    spdlog::error("model unloaded: {}", message.toStdString());
    state_ = State::Empty;
    progress_ = 0.0;
    facts_.clear();
    modelFacts_ = ModelFacts{};
    errorText_ = message;
    emit errorTextChanged();
    emit progressChanged();
    emit stateChanged();
    emit modelGone();
}
