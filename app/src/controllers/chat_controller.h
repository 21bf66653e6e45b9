// Conversations and the chat turn: the GUI-thread side of sending, streaming, stopping,
// regenerating and editing. Writes go to the StorageThread as they happen (the user message
// when sent; the streaming answer at least every kCheckpointMs; the final answer at the end),
// inference goes to the InferenceWorker; nothing here blocks. Writes the disk refuses wait in
// the storage thread's memory: messages show "saved" false until they reach the disk, and
// reads of a conversation include them.
//
// Switching conversation, starting a new one, deleting the current one or loading another
// model while an answer streams stops that answer first: it is finalised as "stopped" in the
// conversation it belongs to, and text arriving for it afterwards is ignored (requests carry ids).
//
// Document Q&A: a conversation may use document collections (chosen in the chat header, kept
// with the conversation). Each question it sends is then answered from the passages the
// inference worker retrieves and fits into the prompt; the passages come back as the answer's
// sources (kept with the message, shown as chips that open the viewer).
#pragma once

#include "controllers/conversation_list_model.h"
#include "controllers/message_list_model.h"
#include "controllers/search_results_model.h"
#include "doclibrary/document_retrieval.h"
#include "inference/chat_engine.h"

#include <QElapsedTimer>
#include <QObject>
#include <QTimer>
#include <QUrl>
#include <QtQml/qqmlregistration.h>

class InferenceWorker;
class ModelController;
class SettingsController;
class StorageThread;

class ChatController : public QObject {
    Q_OBJECT
    QML_ELEMENT
    QML_UNCREATABLE("owned by AppController")
    Q_PROPERTY(ConversationListModel* conversations READ conversations CONSTANT)
    Q_PROPERTY(MessageListModel* messages READ messages CONSTANT)
    Q_PROPERTY(SearchResultsModel* searchResults READ searchResults CONSTANT)
    Q_PROPERTY(qint64 currentConversationId READ currentConversationId NOTIFY currentConversationChanged) // 0: a new, unsaved chat
    Q_PROPERTY(QString currentTitle READ currentTitle NOTIFY currentConversationChanged) // "" for a new chat
    Q_PROPERTY(QString searchQuery READ searchQuery WRITE setSearchQuery NOTIFY searchQueryChanged)
    Q_PROPERTY(bool generating READ generating NOTIFY generatingChanged)
    Q_PROPERTY(bool canSend READ canSend NOTIFY canSendChanged) // storage open, model loaded, not generating
    // Status line of the last/current answer.
    Q_PROPERTY(double tokensPerSecond READ tokensPerSecond NOTIFY statsChanged)
    Q_PROPERTY(double timeToFirstTokenMs READ timeToFirstTokenMs NOTIFY statsChanged)
    Q_PROPERTY(int contextUsed READ contextUsed NOTIFY statsChanged)
    Q_PROPERTY(int contextSize READ contextSize NOTIFY statsChanged)
    // Turns of the open conversation left out of the last prompt because the context is full
    // (the chat view shows a notice; the history keeps them).
    Q_PROPERTY(int droppedTurns READ droppedTurns NOTIFY statsChanged)
    // The document collections the open conversation's questions are answered from (names in
    // documents.db); for a new chat, the ones it will start with.
    Q_PROPERTY(QStringList collections READ collections NOTIFY collectionsChanged)
public:
    static constexpr int kCheckpointMs = 2000;

    ChatController(StorageThread* store, InferenceWorker* worker, ModelController* model,
                   SettingsController* settings, QObject* parent = nullptr);
    ~ChatController() override;

    // Called once the database is open: ids continue from the stored ones, the list is read.
    void start(qint64 nextConversationId, qint64 nextMessageId);

    ConversationListModel* conversations() { return &conversations_; }
    MessageListModel* messages() { return &messages_; }
    SearchResultsModel* searchResults() { return &searchResults_; }
    qint64 currentConversationId() const { return currentId_; }
    QString currentTitle() const;
    QString searchQuery() const { return searchQuery_; }
    void setSearchQuery(const QString& query); // searches on the storage thread
    bool generating() const { return activeRequest_ != 0; }
    bool canSend() const;
    double tokensPerSecond() const { return tokensPerSecond_; }
    double timeToFirstTokenMs() const { return timeToFirstTokenMs_; }
    int contextUsed() const { return contextUsed_; }
    int contextSize() const { return contextSize_; }
    int droppedTurns() const { return droppedTurns_; }
    QStringList collections() const;
    // The document index the collections live in (<data dir>/documents.db); empty: documents
    // are never searched.
    void setDocumentIndexPath(const QString& path) { documentIndexPath_ = path; }

    Q_INVOKABLE void newConversation();                        // an empty chat; saved with its first message
    Q_INVOKABLE void selectConversation(qint64 id);
    Q_INVOKABLE void renameConversation(qint64 id, const QString& title);
    Q_INVOKABLE void deleteConversation(qint64 id);            // the UI confirms first
    Q_INVOKABLE bool send(const QString& text);                // false (and nothing happens) if it cannot send now
    Q_INVOKABLE void stop();
    Q_INVOKABLE void regenerate();                             // replaces the last assistant answer
    Q_INVOKABLE void editAndResend(qint64 messageId, const QString& text); // a user message; later turns replaced
    Q_INVOKABLE void copyToClipboard(const QString& text);
    // Uses (or stops using) a collection in the open conversation, saved with it; in a new chat,
    // for the conversation its first message starts.
    Q_INVOKABLE void setCollectionUsed(const QString& name, bool used);
    Q_INVOKABLE void setCollections(const QStringList& names);
    // format: "markdown" or "json"; written on the storage thread (with writes that are still
    // waiting to be saved included); exportFinished follows.
    Q_INVOKABLE void exportConversation(qint64 id, const QUrl& file, const QString& format);
    // Every conversation with writes still waiting to reach the disk, as the user sees it, in one
    // file (save elsewhere when the disk is full); exportFinished follows.
    Q_INVOKABLE void exportUnsaved(const QUrl& file, const QString& format);

    // How often a streaming answer is committed (kCheckpointMs unless a test asks otherwise).
    void setCheckpointInterval(int ms) { checkpointMs_ = ms; }

    // At exit, after the inference thread has been joined: an answer still marked active
    // (its result never arrived) is finalised as stopped with the text received so far.
    void shutdown();

signals:
    void currentConversationChanged();
    void searchQueryChanged();
    void generatingChanged();
    void canSendChanged();
    void statsChanged();
    void collectionsChanged();
    void errorOccurred(const QString& message);          // shown as a notification
    void exportFinished(const QString& path, bool ok, const QString& message);

private:
    void startAnswer(const std::vector<MessageRecord>& history);
    // Asks the worker to stop the active request (and any queued before it) without waiting;
    // the answer is finalised as "stopped" in its own conversation when generationFinished
    // arrives, and nothing for it reaches another conversation's messages.
    void stopActive();
    bool appendUserMessageAndAnswer(const QString& text);  // the current conversation exists
    bool withinMessageLimit(const QString& text);          // false (and an error shown) when over
    void loadMessages(qint64 conversationId);
    void showConversation(qint64 id);                      // 0: a new, empty chat
    void updateCanSend();
    void touchConversation(qint64 id, qint64 when);
    bool answerConversationExists() const;
    QString modelFileName() const;
    void rerunSearch();
    void onGenerationStarted(quint64 requestId, int droppedTurns, int promptTokens, int contextSize,
                             bool startedInReasoning);
    void onTextAppended(quint64 requestId, const QString& text);
    void onSourcesChosen(quint64 requestId, const std::vector<latent::documents::Passage>& sources, const QString& problem);
    void onGenerationFinished(quint64 requestId, const EngineResult& result);
    void checkpoint();                                     // commit the streaming answer
    // Path and format of an export, or exportFinished(false) and false when they are unusable.
    bool exportTarget(const QUrl& file, const QString& format, QString& path, QString& kind);
    std::vector<ChatTurn> turnsFor(const std::vector<MessageRecord>& history) const;

    StorageThread* store_;
    InferenceWorker* worker_;
    ModelController* model_;
    SettingsController* settings_;
    ConversationListModel conversations_;
    MessageListModel messages_;
    SearchResultsModel searchResults_;

    qint64 nextConversationId_ = 1;
    qint64 nextMessageId_ = 1;
    bool started_ = false;
    qint64 currentId_ = 0;
    QString documentIndexPath_;
    QStringList newChatCollections_; // the collections a new chat starts with
    QString searchQuery_;
    quint64 searchSerial_ = 0;
    quint64 loadSerial_ = 0;

    // The answer being generated (activeRequest_ != 0).
    quint64 nextRequest_ = 1;
    quint64 activeRequest_ = 0;
    MessageRecord answer_;        // its record (conversationId may differ from currentId_)
    QString answerText_;          // raw streamed text (reasoning included)
    bool answerStartedInReasoning_ = false;
    bool answerReasoningOpen_ = false; // its reasoning block is still open (the view's "thinking")
    QTimer viewRefresh_;          // single shot, 0 ms: shows answer_'s text on the next pass
    QElapsedTimer sinceCheckpoint_;
    int checkpointMs_ = kCheckpointMs;
    QTimer checkpointTimer_;     // single shot: commits text that arrived before a pause
    bool answerDirty_ = false;   // text received since the last checkpoint
    bool messagesLoading_ = false; // the selected conversation's messages are being read
    bool lastCanSend_ = false;

    double tokensPerSecond_ = 0.0;
    double timeToFirstTokenMs_ = 0.0;
    int contextUsed_ = 0;
    int contextSize_ = 0;
    int droppedTurns_ = 0;
};
