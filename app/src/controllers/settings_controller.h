// User settings, persisted in the database's settings table as they change (each change is one
// queued write). Sampling settings apply to the next answer; contextLength, threads and backend
// when a model is next loaded (ModelController::reload()).
#pragma once

#include "controllers/system_config.h"
#include "inference/chat_engine.h"

#include <QObject>
#include <QStringList>
#include <QVariantMap>
#include <QtQml/qqmlregistration.h>

class StorageThread;

class SettingsController : public QObject {
    Q_OBJECT
    QML_ELEMENT
    QML_UNCREATABLE("owned by AppController")
    Q_PROPERTY(QString systemPrompt READ systemPrompt WRITE setSystemPrompt NOTIFY changed)
    Q_PROPERTY(double temperature READ temperature WRITE setTemperature NOTIFY changed)       // 0 … 2
    Q_PROPERTY(double topP READ topP WRITE setTopP NOTIFY changed)                            // 0 … 1
    Q_PROPERTY(int topK READ topK WRITE setTopK NOTIFY changed)                               // 0 (off) … 1000
    Q_PROPERTY(double minP READ minP WRITE setMinP NOTIFY changed)                            // 0 … 1
    Q_PROPERTY(double repeatPenalty READ repeatPenalty WRITE setRepeatPenalty NOTIFY changed) // 1 … 2
    Q_PROPERTY(int maxNewTokens READ maxNewTokens WRITE setMaxNewTokens NOTIFY changed)       // 1 … 32768
    Q_PROPERTY(int contextLength READ contextLength WRITE setContextLength NOTIFY changed)    // 256 … 131072
    Q_PROPERTY(int threads READ threads WRITE setThreads NOTIFY changed)                      // 0 (all) … 256
    Q_PROPERTY(QString backend READ backend WRITE setBackend NOTIFY changed)                  // "auto" | "cpu" | "cuda"
    Q_PROPERTY(QString themeMode READ themeMode WRITE setThemeMode NOTIFY changed)            // "system" | "light" | "dark"
    Q_PROPERTY(QStringList availableBackends READ availableBackends CONSTANT)
    Q_PROPERTY(int hardwareThreads READ hardwareThreads CONSTANT)
    // Set by the administrator (SystemConfig): property names whose value is fixed (their setters
    // refuse changes; Settings shows them disabled), and whether remote endpoints may be used.
    Q_PROPERTY(QStringList lockedSettings READ lockedSettings NOTIFY changed)
    Q_PROPERTY(bool remoteEndpointsAllowed READ remoteEndpointsAllowed NOTIFY changed)
public:
    explicit SettingsController(StorageThread* store, QObject* parent = nullptr);

    // Values read from the database at startup (unknown keys ignored, bad values replaced by
    // defaults after clamping). Locked settings keep the administrator's value.
    void applyStored(const QVariantMap& stored);
    // The administrator's settings, applied before applyStored: its values replace the built-in
    // defaults (here and in resetToDefaults), its locked names are fixed to its values.
    void applySystemConfig(const SystemConfig& config);
    QStringList lockedSettings() const { return locked_; }
    bool remoteEndpointsAllowed() const { return remoteEndpointsAllowed_; }
    Q_INVOKABLE bool isLocked(const QString& name) const { return locked_.contains(name); }

    QString systemPrompt() const { return systemPrompt_; }
    double temperature() const { return temperature_; }
    double topP() const { return topP_; }
    int topK() const { return topK_; }
    double minP() const { return minP_; }
    double repeatPenalty() const { return repeatPenalty_; }
    int maxNewTokens() const { return maxNewTokens_; }
    int contextLength() const { return contextLength_; }
    int threads() const { return threads_; }
    QString backend() const { return backend_; }
    QString themeMode() const { return themeMode_; }
    QStringList availableBackends() const;
    int hardwareThreads() const;

    // Setters clamp to the ranges above and persist.
    void setSystemPrompt(const QString& v);
    void setTemperature(double v);
    void setTopP(double v);
    void setTopK(int v);
    void setMinP(double v);
    void setRepeatPenalty(double v);
    void setMaxNewTokens(int v);
    void setContextLength(int v);
    void setThreads(int v);
    void setBackend(const QString& v);
    void setThemeMode(const QString& v);
    Q_INVOKABLE void resetToDefaults();

    LoadSettings loadSettings() const;
    SamplingSettings samplingSettings() const;
    QVariantMap toVariantMap() const; // as stored (keys = property names)
    QString toJson() const;           // the same as one compact JSON object (conversations.settings)

signals:
    void changed();

private:
    void persist(const char* key, const QVariant& value);
    bool locked(const char* key) const { return locked_.contains(QLatin1String(key)); }
    void applyValues(const QVariantMap& values); // applyStored without the lock filter

    StorageThread* store_; // may be null (tests): nothing persisted
    QString systemPrompt_;
    double temperature_ = 0.7;
    double topP_ = 0.95;
    int topK_ = 40;
    double minP_ = 0.05;
    double repeatPenalty_ = 1.0;
    int maxNewTokens_ = 1024;
    int contextLength_ = 4096;
    int threads_ = 0;
    QString backend_ = QStringLiteral("auto");
    QString themeMode_ = QStringLiteral("system");
    QVariantMap systemDefaults_; // SystemConfig::settings
    QStringList locked_;
    bool remoteEndpointsAllowed_ = true;
};
