// Settings → Model source → OpenAI-compatible endpoint: the URL (e.g. a vLLM or SGLang cluster
// serving DeepSeek-V3, or `latent serve` on another machine), the API key and the model chosen
// from the endpoint's /v1/models. Connecting loads the endpoint through ModelController like a
// model file, so conversations, document answers and export work the same.
//
// The URL and model name are saved in the settings table; the API key is never written there
// nor logged: it goes to the system keychain (QtKeychain) when the app was built with it and a
// keychain service is running, else it is kept in memory for this session only (keyNote says
// which). The administrator's policy (controllers/endpoint_policy.h) can forbid endpoints.
#pragma once

#include <QObject>
#include <QStringList>
#include <QVariantMap>
#include <QtQml/qqmlregistration.h>

class ModelController;
class StorageThread;

class EndpointController : public QObject {
    Q_OBJECT
    QML_ELEMENT
    QML_UNCREATABLE("owned by AppController")
    Q_PROPERTY(bool allowed READ allowed CONSTANT)          // false: the administrator forbids endpoints
    Q_PROPERTY(QString policyNote READ policyNote CONSTANT) // why, when not allowed
    Q_PROPERTY(QString url READ url WRITE setUrl NOTIFY changed)
    Q_PROPERTY(QString model READ model WRITE setModel NOTIFY changed)
    Q_PROPERTY(QString apiKey READ apiKey WRITE setApiKey NOTIFY changed)
    Q_PROPERTY(QString keyNote READ keyNote NOTIFY changed) // where the key is kept
    Q_PROPERTY(QStringList models READ models NOTIFY modelsChanged)
    Q_PROPERTY(bool busy READ busy NOTIFY modelsChanged)     // a model list is being fetched
    Q_PROPERTY(QString error READ error NOTIFY modelsChanged) // why the last fetch failed
public:
    EndpointController(ModelController* models, StorageThread* store, bool allowed, QString policySource, QObject* parent = nullptr);

    void applyStored(const QVariantMap& stored); // endpointUrl, endpointModel; then the key from the keychain

    bool allowed() const { return allowed_; }
    QString policyNote() const;
    QString url() const { return url_; }
    QString model() const { return model_; }
    QString apiKey() const { return apiKey_; }
    QString keyNote() const;
    QStringList models() const { return models_; }
    bool busy() const { return busy_; }
    QString error() const { return error_; }

    void setUrl(const QString& v);
    void setModel(const QString& v);
    void setApiKey(const QString& v);

    // Fetches the endpoint's model list off the GUI thread (modelsChanged when done).
    Q_INVOKABLE void refreshModels();
    // Connects: ModelController loads the endpoint (its progress, facts and errors as for a file).
    Q_INVOKABLE void connectEndpoint();

signals:
    void changed();
    void modelsChanged();

private:
    void readKey();
    void storeKey();

    ModelController* modelController_;
    StorageThread* store_;
    bool allowed_;
    QString policySource_;
    QString url_, model_, apiKey_;
    QStringList models_;
    bool busy_ = false;
    QString error_;
    bool keySaved_ = false; // the keychain holds the current key
    quint64 fetches_ = 0;   // the latest fetch wins
};
