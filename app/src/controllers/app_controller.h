// The root of the app's object graph, handed to Main.qml as its required `app` property
// (no context properties, no global getters). Owns the storage thread, the inference thread
// and the controllers, and wires them together.
#pragma once

#include "controllers/chat_controller.h"
#include "controllers/model_controller.h"
#include "controllers/settings_controller.h"
#include "storage/database.h"

#include <QObject>
#include <QThread>
#include <QtQml/qqmlregistration.h>

#include <memory>

class InferenceWorker;
class StorageThread;

class AppController : public QObject {
    Q_OBJECT
    QML_ELEMENT
    QML_UNCREATABLE("created by main()")
    Q_PROPERTY(ChatController* chat READ chat CONSTANT)
    Q_PROPERTY(ModelController* model READ model CONSTANT)
    Q_PROPERTY(SettingsController* settings READ settings CONSTANT)
    Q_PROPERTY(QString dataDir READ dataDir CONSTANT)
    Q_PROPERTY(QString version READ version CONSTANT)
    Q_PROPERTY(bool ready READ ready NOTIFY readyChanged)        // the database is open
    // Something the user must be told once (a damaged database repaired or moved aside, a
    // migration backup); "" when nothing.
    Q_PROPERTY(QString notice READ notice NOTIFY noticeChanged)
    // The history could only be opened read-only (or not at all): it is shown, new messages
    // are not saved. readOnlyReason says why ("… is on a read-only file system"); readOnlyNotice
    // is the persistent banner's text ("" when the history is writable).
    Q_PROPERTY(bool readOnly READ readOnly NOTIFY readOnlyChanged)
    Q_PROPERTY(QString readOnlyReason READ readOnlyReason NOTIFY readOnlyChanged)
    Q_PROPERTY(QString readOnlyNotice READ readOnlyNotice NOTIFY readOnlyChanged)
public:
    // Opens <dataDir>/latent.db on the storage thread; loads `modelPath` when not empty once
    // the settings are read.
    AppController(const QString& dataDir, std::unique_ptr<ChatEngine> engine, const QString& modelPath = {},
                  QObject* parent = nullptr);
    ~AppController() override; // stops generation, joins the inference thread, flushes storage

    ChatController* chat() { return chat_.get(); }
    ModelController* model() { return model_.get(); }
    SettingsController* settings() { return settings_.get(); }
    StorageThread* storage() { return store_.get(); }
    QString dataDir() const { return dataDir_; }
    QString version() const;
    bool ready() const { return ready_; }
    QString notice() const { return notice_; }
    Q_INVOKABLE void dismissNotice();
    bool readOnly() const { return !readOnlyReason_.isEmpty(); }
    QString readOnlyReason() const { return readOnlyReason_; }
    QString readOnlyNotice() const { return readOnlyNotice_; }
    // What the notice says about a repaired or quarantined history ("" when nothing happened).
    static QString repairNotice(const Database::OpenReport& report);

signals:
    void readyChanged();
    void noticeChanged();
    void readOnlyChanged();

private:
    void onOpened(const Database::OpenReport& report);
    void onOpenFailed(const QString& message);
    // Ends the "opening" state: the chat starts, the settings apply, the model loads.
    void becomeReady(const QVariantMap& stored, qint64 nextConversationId, qint64 nextMessageId);
    void setNotice(const QString& text);
    void setReadOnly(const QString& reason, const QString& notice);

    QString dataDir_;
    QString modelPath_; // loaded once the settings are read
    std::unique_ptr<StorageThread> store_;
    QThread inferenceThread_;
    InferenceWorker* worker_ = nullptr; // lives on inferenceThread_
    std::unique_ptr<SettingsController> settings_;
    std::unique_ptr<ModelController> model_;
    std::unique_ptr<ChatController> chat_;
    bool ready_ = false;
    QString notice_;
    QString readOnlyReason_;
    QString readOnlyNotice_;
};
