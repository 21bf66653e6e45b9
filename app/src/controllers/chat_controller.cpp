#include "controllers/chat_controller.h"

#include "controllers/draft_controller.h"
#include "controllers/model_controller.h"
#include "controllers/settings_controller.h"
#include "controllers/text_helpers.h"
#include "inference/inference_worker.h"
#include "storage/storage_thread.h"

#include <spdlog/spdlog.h>

#include <QClipboard>
#include <QDateTime>
#include <QFileInfo>
#include <QGuiApplication>
#include <QSaveFile>

#include <algorithm>
#include <exception>

namespace {

qint64 nowMs() { return QDateTime::currentMSecsSinceEpoch(); }

// R1-style models may open the think block in the prompt, so the stream shows only its end.
bool looksStartedInReasoning(const QString& text) {
    return !text.contains(QLatin1String("<think>")) && text.contains(QLatin1String("</think>"));
}

struct ExportOutcome {
    bool ok = false;
    QString message;
};

// Runs on the storage thread: `bytes` to `path`, replaced atomically.
ExportOutcome writeExport(const QString& path, const QByteArray& bytes) {
    QSaveFile out(path);
    if (!out.open(QIODevice::WriteOnly)) return ExportOutcome{false, QStringLiteral("Cannot write %1: %2").arg(path, out.errorString())};
    out.write(bytes);
    if (!out.commit()) return ExportOutcome{false, QStringLiteral("Cannot write %1: %2").arg(path, out.errorString())};
    return ExportOutcome{true, QString()};
}

} // namespace

ChatController::ChatController(StorageThread* store, InferenceWorker* worker, ModelController* model,
                               SettingsController* settings, QObject* parent)
    : QObject(parent), store_(store), worker_(worker), model_(model), settings_(settings) {
    checkpointTimer_.setSingleShot(true);
    connect(&checkpointTimer_, &QTimer::timeout, this, [this] {
        if (activeRequest_ != 0 && answerDirty_) checkpoint();
    });
    // The view follows the streamed text once per pass of the event loop, however many updates
    // queued up meanwhile: when re-rendering a long answer takes longer than the worker's update
    // interval, the queued updates cost an append each instead of a re-render each, back to back.
    viewRefresh_.setSingleShot(true);
    viewRefresh_.setInterval(0);
    connect(&viewRefresh_, &QTimer::timeout, this, [this] {
        if (activeRequest_ != 0 && answer_.conversationId == currentId_)
            messages_.updateText(answer_.id, answer_.content, answer_.reasoning, answerReasoningOpen_);
    });

    connect(worker_, &InferenceWorker::generationStarted, this, &ChatController::onGenerationStarted);
    connect(worker_, &InferenceWorker::textAppended, this, &ChatController::onTextAppended);
    connect(worker_, &InferenceWorker::sourcesChosen, this, &ChatController::onSourcesChosen);
    connect(worker_, &InferenceWorker::generationFinished, this, &ChatController::onGenerationFinished);

    // Another model is about to replace this one: the answer in progress stops first.
    connect(model_, &ModelController::modelGone, this, &ChatController::stopActive);
    connect(model_, &ModelController::stateChanged, this, &ChatController::updateCanSend);
    connect(model_, &ModelController::modelReady, this, [this](const ModelFacts& facts) {
        contextSize_ = facts.contextSize;
        contextUsed_ = 0;
        emit statsChanged();
    });
    connect(store_, &StorageThread::storageError, this, &ChatController::errorOccurred);
    connect(store_, &StorageThread::backlogChanged, this,
            [this](const StorageBacklog& backlog) { messages_.setUnsaved(backlog.messageIds); });
}

ChatController::~ChatController() = default;

void ChatController::start(qint64 nextConversationId, qint64 nextMessageId) {
    nextConversationId_ = std::max<qint64>(nextConversationId, 1);
    nextMessageId_ = std::max<qint64>(nextMessageId, 1);
    started_ = true;
    store_->query<std::vector<ConversationRecord>>(
        this, [](Database& db) { return db.conversations(); },
        [this](std::vector<ConversationRecord> rows) {
            // A chat started before the list arrived is not in it yet.
            for (const ConversationRecord& mine : conversations_.rows()) {
                const bool stored = std::any_of(rows.begin(), rows.end(),
                                                [&](const ConversationRecord& r) { return r.id == mine.id; });
                if (!stored) rows.push_back(mine);
            }
            conversations_.setConversations(std::move(rows));
            emit collectionsChanged(); // a conversation chosen before the list came has its own now
        });
    updateCanSend();
}

QString ChatController::currentTitle() const {
    if (currentId_ == 0) return QString(); // a new chat; the view names it
    const auto row = conversations_.find(currentId_);
    return row ? row->title : QString();
}

bool ChatController::canSend() const {
    return started_ && model_->loaded() && !generating() && !messagesLoading_;
}

void ChatController::updateCanSend() {
    const bool now = canSend();
    if (now == lastCanSend_) return;
    lastCanSend_ = now;
    emit canSendChanged();
}

QString ChatController::modelFileName() const { return QFileInfo(model_->modelFacts().path).fileName(); }

bool ChatController::answerConversationExists() const {
    return conversations_.indexOf(answer_.conversationId) >= 0;
}

void ChatController::touchConversation(qint64 id, qint64 when) {
    auto row = conversations_.find(id);
    if (!row) return;
    row->updatedAt = when;
    store_->write(StorageWrite::touchConversation(id, when));
    conversations_.upsert(*row);
}

// ---- conversations -------------------------------------------------------------------------

void ChatController::showConversation(qint64 id) {
    const bool changed = id != currentId_;
    currentId_ = id;
    ++loadSerial_; // a read still under way for the previous choice is dropped
    messages_.clear();
    if (droppedTurns_ != 0) {
        droppedTurns_ = 0;
        emit statsChanged();
    }
    if (id != 0) loadMessages(id);
    else messagesLoading_ = false;
    if (changed) {
        emit currentConversationChanged();
        emit collectionsChanged();
    }
    updateCanSend();
}

void ChatController::loadMessages(qint64 conversationId) {
    messagesLoading_ = true;
    const quint64 serial = loadSerial_;
    struct Loaded {
        std::vector<MessageRecord> rows;
        QString error;
    };
    store_->queryWithPending<Loaded>(
        this,
        [conversationId](const Database* db, const PendingWrites& pending) {
            Loaded loaded;
            try {
                if (db) loaded.rows = db->messages(conversationId);
            } catch (const std::exception& e) {
                loaded.error = QString::fromUtf8(e.what());
            }
            // Messages shown before a write failed are still shown.
            std::optional<ConversationRecord> conversation;
            pending.applyTo(conversationId, conversation, loaded.rows);
            return loaded;
        },
        [this, serial, conversationId](Loaded loaded) {
            if (serial != loadSerial_) return;
            // The answer of this conversation held here is newer than what the disk had when
            // the read was queued (checkpoints and the final write come later).
            if (answer_.id != 0 && answer_.conversationId == conversationId)
                for (MessageRecord& row : loaded.rows)
                    if (row.id == answer_.id) row = answer_;
            messages_.setMessages(std::move(loaded.rows));
            messagesLoading_ = false;
            updateCanSend();
            if (!loaded.error.isEmpty())
                emit errorOccurred(QStringLiteral("This conversation could not be read: %1").arg(loaded.error));
        });
}

void ChatController::newConversation() {
    stopActive();
    showConversation(0);
}

void ChatController::selectConversation(qint64 id) {
    if (id == 0) return newConversation();
    if (id == currentId_ || conversations_.indexOf(id) < 0) return;
    stopActive();
    showConversation(id);
}

void ChatController::renameConversation(qint64 id, const QString& title) {
    const QString trimmed = title.simplified();
    auto row = conversations_.find(id);
    if (trimmed.isEmpty() || !row || row->title == trimmed) return;
    row->title = trimmed;
    store_->write(StorageWrite::renameConversation(id, trimmed));
    conversations_.upsert(*row);
    if (id == currentId_) emit currentConversationChanged();
    rerunSearch();
}

void ChatController::deleteConversation(qint64 id) {
    if (conversations_.indexOf(id) < 0) return;
    if (activeRequest_ != 0 && answer_.conversationId == id) stopActive();
    store_->write(StorageWrite::deleteConversation(id));
    conversations_.remove(id);
    if (id == currentId_) showConversation(0);
    rerunSearch();
}

// ---- the chat turn -------------------------------------------------------------------------

bool ChatController::send(const QString& text) {
    const QString trimmed = text.trimmed();
    if (!canSend() || trimmed.isEmpty() || !withinMessageLimit(trimmed)) return false;

    if (currentId_ == 0) {
        const qint64 now = nowMs();
        ConversationRecord conversation;
        conversation.id = nextConversationId_++;
        conversation.title = titleFromMessage(trimmed);
        conversation.createdAt = now;
        conversation.updatedAt = now;
        conversation.model = modelFileName();
        conversation.systemPrompt = settings_->systemPrompt();
        conversation.settings = settings_->toJson();
        conversation.collections = newChatCollections_;
        store_->write(StorageWrite::insertConversation(conversation));
        conversations_.upsert(conversation);
        currentId_ = conversation.id;
        ++loadSerial_;
        messagesLoading_ = false;
        messages_.clear();
        emit currentConversationChanged();
        rerunSearch();
    }
    return appendUserMessageAndAnswer(trimmed);
}

bool ChatController::appendUserMessageAndAnswer(const QString& text) {
    auto conversation = conversations_.find(currentId_);
    if (!conversation) return false;

    const qint64 now = nowMs();
    MessageRecord user;
    user.id = nextMessageId_++;
    user.conversationId = currentId_;
    user.role = MessageRole::User;
    user.content = text;
    user.status = MessageStatus::Complete;
    user.createdAt = now;
    user.model = modelFileName();
    store_->write(StorageWrite::insertMessage(user)); // committed when sent
    messages_.append(user);

    // The conversation remembers the model and settings it was last used with.
    const QString settingsJson = settings_->toJson();
    conversation->updatedAt = now;
    if (conversation->model != user.model || conversation->settings != settingsJson) {
        conversation->model = user.model;
        conversation->settings = settingsJson;
        const ConversationRecord updated = *conversation;
        store_->write(StorageWrite::updateConversation(updated));
    }
    conversations_.upsert(*conversation);

    startAnswer(messages_.rows());
    return true;
}

void ChatController::startAnswer(const std::vector<MessageRecord>& history) {
    const std::vector<ChatTurn> turns = turnsFor(history);

    MessageRecord answer;
    answer.id = nextMessageId_++;
    answer.conversationId = currentId_;
    answer.role = MessageRole::Assistant;
    answer.status = MessageStatus::Streaming;
    answer.createdAt = nowMs();
    answer.model = modelFileName();
    store_->write(StorageWrite::insertMessage(answer));
    messages_.append(answer);

    answer_ = answer;
    answerText_.clear();
    answerStartedInReasoning_ = false;
    answerReasoningOpen_ = false;
    answerDirty_ = false;
    sinceCheckpoint_.start();
    activeRequest_ = nextRequest_++;

    const quint64 requestId = activeRequest_;
    const SamplingSettings sampling = settings_->samplingSettings();
    DocumentQuery documents;
    documents.indexPath = documentIndexPath_;
    documents.collections = collections();
    QMetaObject::invokeMethod(
        worker_,
        [worker = worker_, requestId, turns, sampling, documents] { worker->generateFromDocuments(requestId, turns, sampling, documents); },
        Qt::QueuedConnection);
    emit generatingChanged();
    updateCanSend();
}

std::vector<ChatTurn> ChatController::turnsFor(const std::vector<MessageRecord>& history) const {
    std::vector<ChatTurn> turns;
    const auto conversation = conversations_.find(currentId_);
    const QString systemPrompt = conversation ? conversation->systemPrompt : settings_->systemPrompt();
    if (!systemPrompt.trimmed().isEmpty()) turns.push_back({ChatTurn::Role::System, systemPrompt});
    for (const MessageRecord& m : history) {
        switch (m.role) {
        case MessageRole::System:
            if (!m.content.trimmed().isEmpty()) turns.push_back({ChatTurn::Role::System, m.content});
            break;
        case MessageRole::User: turns.push_back({ChatTurn::Role::User, m.content}); break;
        case MessageRole::Assistant:
            // Failed and empty answers say nothing the model should continue from; stopped and
            // interrupted ones are part of the conversation as the user saw it.
            if (m.status == MessageStatus::Error || m.status == MessageStatus::Streaming ||
                m.content.trimmed().isEmpty())
                break;
            turns.push_back({ChatTurn::Role::Assistant, m.content});
            break;
        }
    }
    return turns;
}

// The composer keeps messages within the limit; this guards every other way in.
bool ChatController::withinMessageLimit(const QString& text) {
    if (text.size() <= DraftController::kMaxMessageLength) return true;
    emit errorOccurred(QStringLiteral("Not sent: the message has %1 characters, and a message holds at most %2.")
                           .arg(text.size())
                           .arg(DraftController::kMaxMessageLength));
    return false;
}

void ChatController::stop() {
    if (activeRequest_ != 0) worker_->requestStop(activeRequest_);
}

void ChatController::stopActive() { stop(); }

void ChatController::regenerate() {
    if (!canSend() || currentId_ == 0) return;
    const auto& rows = messages_.rows();
    if (rows.empty() || rows.back().role != MessageRole::Assistant) return;
    const qint64 conversationId = currentId_;
    const qint64 fromId = rows.back().id;
    store_->write(StorageWrite::deleteMessagesFrom(conversationId, fromId));
    messages_.removeFrom(fromId);
    startAnswer(messages_.rows());
}

void ChatController::editAndResend(qint64 messageId, const QString& text) {
    const QString trimmed = text.trimmed();
    if (!canSend() || currentId_ == 0 || trimmed.isEmpty() || !withinMessageLimit(trimmed)) return;
    const auto row = messages_.find(messageId);
    if (!row || row->role != MessageRole::User || row->conversationId != currentId_) return;
    const qint64 conversationId = currentId_;
    store_->write(StorageWrite::deleteMessagesFrom(conversationId, messageId));
    messages_.removeFrom(messageId);
    appendUserMessageAndAnswer(trimmed);
}

QStringList ChatController::collections() const {
    if (currentId_ == 0) return newChatCollections_;
    const auto conversation = conversations_.find(currentId_);
    return conversation ? conversation->collections : QStringList();
}

void ChatController::setCollections(const QStringList& names) {
    QStringList unique;
    for (const QString& name : names)
        if (!name.trimmed().isEmpty() && !unique.contains(name.trimmed())) unique << name.trimmed();
    if (unique == collections()) return;
    if (currentId_ == 0) {
        newChatCollections_ = unique;
    } else {
        auto conversation = conversations_.find(currentId_);
        if (!conversation) return;
        conversation->collections = unique;
        store_->write(StorageWrite::updateConversation(*conversation));
        conversations_.upsert(*conversation);
    }
    emit collectionsChanged();
}

void ChatController::setCollectionUsed(const QString& name, bool used) {
    QStringList names = collections();
    if (used && !names.contains(name)) names << name;
    if (!used) names.removeAll(name);
    setCollections(names);
}

void ChatController::onSourcesChosen(quint64 requestId, const std::vector<latent::documents::Passage>& sources,
                                     const QString& problem) {
    if (requestId != activeRequest_) return;
    if (!problem.isEmpty()) emit errorOccurred(problem);
    QList<SourceRecord> records;
    for (const latent::documents::Passage& passage : sources) {
        SourceRecord source;
        source.path = QString::fromStdString(passage.path);
        source.page = passage.page;
        source.start = passage.start;
        source.end = passage.end;
        source.text = QString::fromStdString(passage.text);
        records.append(source);
    }
    answer_.sources = records;
    if (answer_.conversationId == currentId_) messages_.setSources(answer_.id, records);
    // Saved now, beside the streaming text: an answer cut short still shows where it came from.
    if (answerConversationExists()) store_->write(StorageWrite::updateMessage(answer_));
}

void ChatController::onGenerationStarted(quint64 requestId, int droppedTurns, int promptTokens, int contextSize,
                                         bool startedInReasoning) {
    if (requestId != activeRequest_) return;
    answerStartedInReasoning_ = startedInReasoning;
    droppedTurns_ = answer_.conversationId == currentId_ ? droppedTurns : 0;
    contextUsed_ = promptTokens;
    contextSize_ = contextSize;
    emit statsChanged();
}

void ChatController::onTextAppended(quint64 requestId, const QString& text) {
    if (requestId != activeRequest_ || text.isEmpty()) return;
    answerText_ += text;
    answerStartedInReasoning_ = answerStartedInReasoning_ || looksStartedInReasoning(answerText_);
    const ChatEngine::Split split = ChatEngine::splitReasoning(answerText_, answerStartedInReasoning_);
    answer_.content = split.answer;
    answer_.reasoning = split.reasoning;
    answerReasoningOpen_ = split.reasoningOpen;
    if (answer_.conversationId == currentId_ && !viewRefresh_.isActive()) viewRefresh_.start();

    answerDirty_ = true;
    const qint64 elapsed = sinceCheckpoint_.elapsed();
    if (elapsed >= checkpointMs_) checkpoint();
    else if (!checkpointTimer_.isActive()) checkpointTimer_.start(static_cast<int>(checkpointMs_ - elapsed));
}

void ChatController::checkpoint() {
    checkpointTimer_.stop();
    sinceCheckpoint_.restart();
    if (!answerDirty_) return;
    answerDirty_ = false;
    if (!answerConversationExists()) return; // deleted while streaming
    MessageRecord text = answer_;
    text.status = MessageStatus::Streaming;
    store_->write(StorageWrite::updateMessageText(text));
}

void ChatController::onGenerationFinished(quint64 requestId, const EngineResult& result) {
    if (requestId != activeRequest_) return;
    checkpointTimer_.stop();
    viewRefresh_.stop(); // the record below replaces the row
    answerDirty_ = false;

    const QString text = result.text.isEmpty() ? answerText_ : result.text;
    const bool startedInReasoning =
        result.startedInReasoning || answerStartedInReasoning_ || looksStartedInReasoning(text);
    const ChatEngine::Split split = ChatEngine::splitReasoning(text, startedInReasoning);

    MessageRecord record = answer_;
    record.content = split.answer;
    record.reasoning = split.reasoning;
    record.errorText.clear();
    switch (result.end) {
    case EngineResult::End::Complete:
        record.status = MessageStatus::Complete;
        record.stopReason = QStringLiteral("end_of_turn");
        break;
    case EngineResult::End::MaxTokens:
        record.status = MessageStatus::Complete;
        record.stopReason = QStringLiteral("max_tokens");
        break;
    case EngineResult::End::ContextFull:
        record.status = MessageStatus::Stopped;
        record.stopReason = QStringLiteral("context_full");
        record.errorText = result.message;
        break;
    case EngineResult::End::Stopped:
        record.status = MessageStatus::Stopped;
        record.stopReason = result.modelFileChanged ? QStringLiteral("model_changed") : QStringLiteral("cancelled");
        if (result.modelFileChanged) record.errorText = result.message; // the model panel says it too
        break;
    case EngineResult::End::Error:
        record.status = MessageStatus::Error;
        record.stopReason = QStringLiteral("error");
        record.errorText = result.message.isEmpty() ? QStringLiteral("The answer could not be generated.")
                                                    : result.message;
        break;
    }
    record.promptTokens = result.promptTokens;
    record.generatedTokens = result.generatedTokens;
    record.timeToFirstTokenMs = result.timeToFirstTokenMs;
    record.promptTokensPerSecond = result.promptTokensPerSecond;
    record.generationTokensPerSecond = result.generationTokensPerSecond;
    spdlog::info("answer {} in conversation {}: {} ({}), {} prompt + {} generated tokens, {:.1f} tokens/s, first token {:.0f} ms",
                 record.id, record.conversationId, messageStatusName(record.status).toStdString(),
                 record.stopReason.toStdString(), record.promptTokens, record.generatedTokens,
                 record.generationTokensPerSecond, record.timeToFirstTokenMs);
    if (record.status == MessageStatus::Error) spdlog::error("answer {} failed: {}", record.id, record.errorText.toStdString());

    answer_ = record;
    activeRequest_ = 0;
    // Its own conversation, whichever one is displayed now (unless it was deleted meanwhile).
    if (answerConversationExists()) {
        store_->write(StorageWrite::updateMessage(record));
        touchConversation(record.conversationId, nowMs());
    }
    if (record.conversationId == currentId_) messages_.replace(record);

    tokensPerSecond_ = result.generationTokensPerSecond;
    timeToFirstTokenMs_ = result.timeToFirstTokenMs;
    contextUsed_ = result.promptTokens + result.generatedTokens;
    emit statsChanged();
    emit generatingChanged();
    updateCanSend();
}

void ChatController::shutdown() {
    if (activeRequest_ == 0) return;
    EngineResult result;
    result.end = EngineResult::End::Stopped;
    result.text = answerText_;
    onGenerationFinished(activeRequest_, result);
}

// ---- search, clipboard, export -------------------------------------------------------------

void ChatController::setSearchQuery(const QString& query) {
    if (query == searchQuery_) return;
    searchQuery_ = query;
    emit searchQueryChanged();
    rerunSearch();
}

void ChatController::rerunSearch() {
    const quint64 serial = ++searchSerial_;
    const QString query = searchQuery_.trimmed();
    if (query.isEmpty()) {
        searchResults_.setHits({});
        return;
    }
    store_->query<std::vector<SearchHit>>(
        this, [query](Database& db) { return db.search(query); },
        [this, serial](std::vector<SearchHit> hits) {
            if (serial == searchSerial_) searchResults_.setHits(std::move(hits));
        });
}

void ChatController::copyToClipboard(const QString& text) {
    if (qobject_cast<QGuiApplication*>(QCoreApplication::instance())) QGuiApplication::clipboard()->setText(text);
}

bool ChatController::exportTarget(const QUrl& file, const QString& format, QString& path, QString& kind) {
    path = file.isLocalFile() ? file.toLocalFile() : file.toString(QUrl::PreferLocalFile);
    kind = format.trimmed().toLower();
    if (path.isEmpty()) {
        emit exportFinished(path, false, QStringLiteral("No file was chosen."));
        return false;
    }
    if (kind != QLatin1String("markdown") && kind != QLatin1String("json")) {
        emit exportFinished(path, false, QStringLiteral("Unknown export format \"%1\".").arg(format));
        return false;
    }
    return true;
}

void ChatController::exportConversation(qint64 id, const QUrl& file, const QString& format) {
    QString path;
    QString kind;
    if (!exportTarget(file, format, path, kind)) return;
    store_->queryWithPending<ExportOutcome>(
        this,
        [id, path, kind](const Database* db, const PendingWrites& pending) {
            try {
                std::optional<ConversationRecord> conversation = db ? db->conversation(id) : std::nullopt;
                std::vector<MessageRecord> messages = db ? db->messages(id) : std::vector<MessageRecord>();
                pending.applyTo(id, conversation, messages);
                if (!conversation) return ExportOutcome{false, QStringLiteral("The conversation no longer exists.")};
                return writeExport(path, kind == QLatin1String("json") ? conversationToJson(*conversation, messages)
                                                                      : conversationToMarkdown(*conversation, messages).toUtf8());
            } catch (const std::exception& e) {
                return ExportOutcome{false, QString::fromUtf8(e.what())};
            }
        },
        [this, path](ExportOutcome outcome) { emit exportFinished(path, outcome.ok, outcome.message); });
}

void ChatController::exportUnsaved(const QUrl& file, const QString& format) {
    QString path;
    QString kind;
    if (!exportTarget(file, format, path, kind)) return;
    store_->queryWithPending<ExportOutcome>(
        this,
        [path, kind](const Database* db, const PendingWrites& pending) {
            const std::vector<ConversationSnapshot> unsaved = pending.snapshots(db);
            if (unsaved.empty()) return ExportOutcome{false, QStringLiteral("No conversation is waiting to be saved.")};
            const ExportOutcome outcome = writeExport(path, kind == QLatin1String("json") ? conversationsToJson(unsaved)
                                                                                        : conversationsToMarkdown(unsaved).toUtf8());
            if (outcome.ok)
                qInfo("storage: %zu unsaved conversation(s) exported to %s", unsaved.size(), qPrintable(path));
            return outcome;
        },
        [this, path](ExportOutcome outcome) { emit exportFinished(path, outcome.ok, outcome.message); });
}
