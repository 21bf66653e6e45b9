// Plain records exchanged with the chat-history database. Times are milliseconds since the Unix
// epoch (UTC). Ids are allocated by the app (see Database::OpenReport::nextConversationId), so
// the GUI never waits for an insert to learn an id.
#pragma once

#include <QList>
#include <QString>
#include <QStringList>
#include <QtGlobal>

#include <optional>

enum class MessageRole { System, User, Assistant };
// 'complete' | 'streaming' | 'stopped' | 'error' in the database.
enum class MessageStatus { Complete, Streaming, Stopped, Error };

QString messageRoleName(MessageRole role);                      // "system", "user", "assistant"
std::optional<MessageRole> messageRoleFromName(const QString& name);
QString messageStatusName(MessageStatus status);                // "complete", "streaming", "stopped", "error"
std::optional<MessageStatus> messageStatusFromName(const QString& name);

// Why an answer ended, stored in messages.stop_reason: the engine's reason names
// ("end_of_turn", "max_tokens", "context_full", "cancelled", "error"), "model_changed" (the
// model's file changed on disk during the answer; the model was unloaded) or "interrupted" (the
// app ended while the answer was streaming; set when the database is next opened).
inline constexpr const char* kStopReasonInterrupted = "interrupted";

// A passage of the user's documents that an answer's prompt quoted (document Q&A): what the
// answer's source chip shows and the viewer opens. Stored as JSON in messages.sources.
struct SourceRecord {
    QString path;      // absolute path of the document
    int page = 0;      // 1-based PDF page, 0 for other formats
    qint64 start = 0;  // code points in the document's extracted text
    qint64 end = 0;
    QString text;      // the passage as quoted (the extracted text at [start, end))
    bool operator==(const SourceRecord&) const = default;
};

struct ConversationRecord {
    qint64 id = 0;
    QString title;
    qint64 createdAt = 0;
    qint64 updatedAt = 0;
    QString model;        // file name of the model last used in it
    QString systemPrompt; // the system prompt it was started with
    QString settings;     // JSON object: the generation settings last used
    // Document collections (names in documents.db) its questions are answered from; empty: none.
    QStringList collections;
};

struct MessageRecord {
    qint64 id = 0;
    qint64 conversationId = 0;
    MessageRole role = MessageRole::User;
    QString content;   // for an assistant: the answer without its reasoning
    QString reasoning; // an R1-style "thinking" block (assistant only), else empty
    MessageStatus status = MessageStatus::Complete;
    QString stopReason;  // see kStopReasonInterrupted; empty for user/system messages
    QString errorText;   // what failed, for status Error
    qint64 createdAt = 0;
    QString model;
    int promptTokens = 0;
    int generatedTokens = 0;
    double timeToFirstTokenMs = 0.0;
    double promptTokensPerSecond = 0.0;
    double generationTokensPerSecond = 0.0;
    // An answer from documents: the passages its prompt quoted, source n = sources[n - 1].
    QList<SourceRecord> sources;
};

// The JSON the database keeps in conversations.collections (an array of names) and
// messages.sources (an array of {path, page, start, end, text}). Reading never trusts the text:
// what is not of the expected shape is left out (and a malformed document reads as empty),
// with a warning.
QString collectionsToJson(const QStringList& collections);
QStringList collectionsFromJson(const QString& json);
QString sourcesToJson(const QList<SourceRecord>& sources);
QList<SourceRecord> sourcesFromJson(const QString& json);

struct SearchHit {
    qint64 conversationId = 0;
    qint64 messageId = 0;  // 0 when the conversation's title matched
    QString title;         // the conversation's title
    QString snippet;       // matching text with the match wrapped in [ and ]
    qint64 updatedAt = 0;  // the conversation's
};
