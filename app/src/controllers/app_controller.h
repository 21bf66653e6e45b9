// The root of the app's object graph, handed to Main.qml as its required `app` property
// (no context properties, no global getters). Owns the storage thread, the inference thread
// and the controllers, and wires them together.
#pragma once

#include "controllers/chat_controller.h"
#include "controllers/draft_controller.h"
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
    Q_PROPERTY(DraftController* draft READ draft CONSTANT) // the composer's long text and token count
    Q_PROPERTY(QString dataDir READ dataDir CONSTANT)
    Q_PROPERTY(QString version READ version CONSTANT)
    Q_PROPERTY(bool ready READ ready NOTIFY readyChanged)        // the database is open
    // Something the user must be told once (a damaged database moved aside, a failed open, a
    // migration backup); "" when nothing.
    Q_PROPERTY(QString notice READ notice NOTIFY noticeChanged)
public:
    // Opens <dataDir>/latent.db on the storage thread; loads `modelPath` when not empty once
    // the settings are read.
    AppController(const QString& dataDir, std::unique_ptr<ChatEngine> engine, const QString& modelPath = {},
                  QObject* parent = nullptr);
    ~AppController() override; // stops generation, joins the inference thread, flushes storage

    ChatController* chat() { return chat_.get(); }
    ModelController* model() { return model_.get(); }
    SettingsController* settings() { return settings_.get(); }
    DraftController* draft() { return draft_.get(); }
    StorageThread* storage() { return store_.get(); }
    QString dataDir() const { return dataDir_; }
    QString version() const;
    bool ready() const { return ready_; }
    QString notice() const { return notice_; }
    Q_INVOKABLE void dismissNotice();

signals:
    void readyChanged();
    void noticeChanged();

private:
    void onOpened(const Database::OpenReport& report);
    void setNotice(const QString& text);

    QString dataDir_;
    QString modelPath_; // loaded once the settings are read
    std::unique_ptr<StorageThread> store_;
    QThread inferenceThread_;
    InferenceWorker* worker_ = nullptr; // lives on inferenceThread_
    std::unique_ptr<SettingsController> settings_;
    std::unique_ptr<ModelController> model_;
    std::unique_ptr<ChatController> chat_;
    std::unique_ptr<DraftController> draft_;
    bool ready_ = false;
    QString notice_;
};
