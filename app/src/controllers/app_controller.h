// The root of the app's object graph, handed to Main.qml as its required `app` property
// (no context properties, no global getters). Owns the storage thread, the inference thread
// and the controllers, and wires them together.
#pragma once

#include "controllers/chat_controller.h"
#include "controllers/document_viewer_controller.h"
#include "controllers/documents_controller.h"
#include "controllers/draft_controller.h"
#include "controllers/endpoint_controller.h"
#include "controllers/serve_controller.h"
#include "controllers/model_controller.h"
#include "controllers/settings_controller.h"
#include "controllers/shared_model_list_model.h"
#include "storage/database.h"
#include "storage/pending_writes.h"

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
    Q_PROPERTY(EndpointController* endpoint READ endpoint CONSTANT) // Settings → Model source: an OpenAI-compatible endpoint
    Q_PROPERTY(ServeController* serve READ serve CONSTANT) // Settings → Serve to other apps
    Q_PROPERTY(DocumentsController* documents READ documents CONSTANT) // collections for document Q&A
    Q_PROPERTY(DocumentViewerController* viewer READ viewer CONSTANT)  // a cited passage, opened from its chip
    // The models of the shared model folders (SystemConfig), for every user.
    Q_PROPERTY(SharedModelListModel* sharedModels READ sharedModels CONSTANT)
    Q_PROPERTY(QString dataDir READ dataDir CONSTANT)
    Q_PROPERTY(QString version READ version CONSTANT)
    Q_PROPERTY(bool ready READ ready NOTIFY readyChanged)        // the database is open
    // Something the user must be told once (a damaged database repaired or moved aside, a
    // migration backup); "" when nothing.
    Q_PROPERTY(QString notice READ notice NOTIFY noticeChanged)
    // Writes of the history waiting to reach the disk (a full disk, an I/O error, a read-only or
    // busy database): they are kept in memory and retried; see StorageThread.
    Q_PROPERTY(int unsavedMessages READ unsavedMessages NOTIFY unsavedChanged) // messages not saved yet
    Q_PROPERTY(int unsavedWrites READ unsavedWrites NOTIFY unsavedChanged)     // changes of any kind
    Q_PROPERTY(QString unsavedReason READ unsavedReason NOTIFY unsavedChanged) // "the disk is full"; "" when saved
    // The banner's sentence: "2 messages are not saved yet: the disk is full. …"; "" when saved.
    Q_PROPERTY(QString unsavedText READ unsavedText NOTIFY unsavedChanged)
    // The user chose to wait at quit: the app quits once everything is saved.
    Q_PROPERTY(bool waitingToQuit READ waitingToQuit NOTIFY waitingToQuitChanged)
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
    DraftController* draft() { return draft_.get(); }
    EndpointController* endpoint() { return endpoint_.get(); }
    ServeController* serve() { return serve_.get(); }
    DocumentsController* documents() { return documents_.get(); }
    DocumentViewerController* viewer() { return viewer_.get(); }
    SharedModelListModel* sharedModels() { return &sharedModels_; }
    StorageThread* storage() { return store_.get(); }
    // First run: with no model given and none used before (no recent models), load the built-in
    // demo model once the settings are read. The app turns it on; tests choose.
    void setDemoOnFirstRun(bool on) { demoOnFirstRun_ = on; }
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

    int unsavedMessages() const { return static_cast<int>(backlog_.messageIds.size()); }
    int unsavedWrites() const { return backlog_.writes; }
    QString unsavedReason() const { return backlog_.reason; }
    QString unsavedText() const;
    bool waitingToQuit() const { return waitingToQuit_; }
    Q_INVOKABLE void retrySaving();
    // The window asks before it closes (Ctrl+Q, the close button): true when it may (nothing
    // waits to be saved, or the user chose to quit anyway); otherwise quitConfirmationNeeded()
    // and false. The user then picks: save elsewhere (ChatController::exportUnsaved, then
    // quitAnyway()), wait (waitThenQuit()) or quitAnyway(). SIGTERM does not ask: the storage
    // thread makes one last attempt at exit and logs what could not be saved.
    Q_INVOKABLE bool requestQuit();
    Q_INVOKABLE void quitAnyway();   // logs what is left unsaved, then quitApproved()
    Q_INVOKABLE void waitThenQuit(); // retries now; quitApproved() once everything is saved
    Q_INVOKABLE void cancelQuit();   // back to the chat; the retries go on

signals:
    void readyChanged();
    void noticeChanged();
    void unsavedChanged();
    void waitingToQuitChanged();
    void quitConfirmationNeeded();
    void quitApproved(); // the window may close now
    void readOnlyChanged();

private:
    void onOpened(const Database::OpenReport& report);
    void onOpenFailed(const QString& message);
    // Ends the "opening" state: the chat starts, the settings apply, the model loads.
    void becomeReady(const QVariantMap& stored, qint64 nextConversationId, qint64 nextMessageId);
    void setNotice(const QString& text);
    void onBacklogChanged(const StorageBacklog& backlog);
    void setWaitingToQuit(bool waiting);
    void setReadOnly(const QString& reason, const QString& notice);

    QString dataDir_;
    QString modelPath_; // loaded once the settings are read
    bool demoOnFirstRun_ = false;
    std::unique_ptr<StorageThread> store_;
    QThread inferenceThread_;
    InferenceWorker* worker_ = nullptr; // lives on inferenceThread_
    std::unique_ptr<SettingsController> settings_;
    std::unique_ptr<ModelController> model_;
    std::unique_ptr<ChatController> chat_;
    std::unique_ptr<DraftController> draft_;
    std::unique_ptr<EndpointController> endpoint_;
    std::unique_ptr<ServeController> serve_;
    std::unique_ptr<DocumentsController> documents_; // <data dir>/documents.db, its own thread
    std::unique_ptr<DocumentViewerController> viewer_;
    SharedModelListModel sharedModels_;
    bool ready_ = false;
    QString notice_;
    StorageBacklog backlog_;
    bool waitingToQuit_ = false;
    bool quitApproved_ = false;
    QString readOnlyReason_;
    QString readOnlyNotice_;
};
