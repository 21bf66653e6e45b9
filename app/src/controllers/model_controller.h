// The model panel: open a GGUF (load on the worker thread with progress and cancel), the facts
// of the loaded model, recently opened models (persisted), unload, reload with new settings.
#pragma once

#include "inference/chat_engine.h"

#include <QObject>
#include <QStringList>
#include <QUrl>
#include <QVariantMap>
#include <QtQml/qqmlregistration.h>

class InferenceWorker;
class SettingsController;
class StorageThread;

class ModelController : public QObject {
    Q_OBJECT
    QML_ELEMENT
    QML_UNCREATABLE("owned by AppController")
    Q_PROPERTY(QString state READ state NOTIFY stateChanged)           // "empty" | "loading" | "loaded"
    Q_PROPERTY(bool loaded READ loaded NOTIFY stateChanged)
    Q_PROPERTY(double progress READ progress NOTIFY progressChanged)   // 0 … 1 while loading
    Q_PROPERTY(QString loadingPath READ loadingPath NOTIFY stateChanged)
    // The last load failure, or why the loaded model was dropped (its file changed on disk); "" when none.
    Q_PROPERTY(QString errorText READ errorText NOTIFY errorTextChanged)
    // Loaded model, for display. Keys: path, fileName, name, architecture, quantization,
    // chatFormat, fileSize ("9.66 GiB"), totalParams ("15.7 B"), activeParams ("2.7 B"),
    // trainedContext, contextSize (ints), layers, experts, expertsUsed, sharedExperts (ints),
    // kvPerTokenMla ("67.5 KiB"), kvPerTokenMha ("1.88 MiB"), kvReduction ("96.4 %"),
    // kvCacheTotal (MLA bytes for the whole context, formatted), backend, backendNote.
    Q_PROPERTY(QVariantMap facts READ facts NOTIFY stateChanged)
    Q_PROPERTY(QStringList recentModels READ recentModels NOTIFY recentModelsChanged) // newest first, ≤ 10
    // The built-in demo model (engine/model/demo_model.h): its path ("" when not installed), the
    // label shown wherever it is in use, and whether it is the model loaded now (facts.demo too).
    Q_PROPERTY(QString demoModelPath READ demoModelPath CONSTANT)
    Q_PROPERTY(QString demoModelLabel READ demoModelLabel CONSTANT)
    Q_PROPERTY(bool demoLoaded READ demoLoaded NOTIFY stateChanged)
public:
    ModelController(InferenceWorker* worker, SettingsController* settings, StorageThread* store,
                    QObject* parent = nullptr);

    QString state() const;
    bool loaded() const { return state_ == State::Loaded; }
    double progress() const { return progress_; }
    QString loadingPath() const { return loadingPath_; }
    QString errorText() const { return errorText_; }
    QVariantMap facts() const { return facts_; }
    QStringList recentModels() const { return recent_; }
    const ModelFacts& modelFacts() const { return modelFacts_; }
    QString demoModelPath() const { return demoPath_; }
    static QString demoModelLabel();
    bool demoLoaded() const { return loaded() && facts_.value(QStringLiteral("demo")).toBool(); }

    void setRecentModels(const QStringList& paths); // from the stored settings at startup

    // Accepts a local path or a file:// URL. A load while generating is refused by
    // ChatController (it stops first); a load while loading cancels the first.
    Q_INVOKABLE void load(const QString& pathOrUrl);
    // Connects to an OpenAI-compatible endpoint (base URL ending in /v1) as the model source;
    // the key travels only to the worker and is never stored or logged here.
    void connectEndpoint(const QString& url, const QString& apiKey, const QString& model);
    // Loads the built-in demo model (never added to the recent models); false when it is not installed.
    Q_INVOKABLE bool loadDemo();
    Q_INVOKABLE void cancelLoad();
    Q_INVOKABLE void unload();
    Q_INVOKABLE void reload(); // the loaded model again with the current settings
    Q_INVOKABLE void removeRecent(const QString& path);
    Q_INVOKABLE void clearError();

signals:
    void stateChanged();
    void progressChanged();
    void errorTextChanged();
    void recentModelsChanged();
    void modelReady(const ModelFacts& facts); // after a successful load
    void modelGone();                          // after unload or before a new load starts

private:
    enum class State { Empty, Loading, Loaded };
    void onProgress(double p);
    void onLoaded(const ModelFacts& facts);
    void onFailed(const QString& message, bool cancelled);
    // The worker dropped the loaded model because its file changed on disk: empty, with the
    // message as errorText.
    void onModelFileChanged(const QString& message);
    // A load result (one per loadModel call, in order) is current only when no later load or
    // unload was issued after it.
    bool takeResultIsCurrent();
    void startLoad(const QString& path, const LoadSettings& loadSettings);
    void persistRecent();

    InferenceWorker* worker_;
    SettingsController* settings_;
    StorageThread* store_;
    State state_ = State::Empty;
    double progress_ = 0.0;
    QString loadingPath_;
    QString errorText_;
    QVariantMap facts_;
    ModelFacts modelFacts_;
    QStringList recent_;
    quint64 loadsIssued_ = 0;   // loadModel calls sent to the worker
    quint64 resultsSeen_ = 0;   // modelLoaded / modelLoadFailed received
    quint64 discardUpTo_ = 0;   // results up to this load are stale (unload, superseded)
    QString endpointUrl_, endpointKey_, endpointModel_; // the endpoint last connected (for reload)
    QString demoPath_; // canonical; "" when the demo model is not installed
};
