// Plain records exchanged with the chat-history database. Times are milliseconds since the Unix
// epoch (UTC). Ids are allocated by the app (see Database::OpenReport::nextConversationId), so
// the GUI never waits for an insert to learn an id.
#pragma once

#include <QString>
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

struct ConversationRecord {
    qint64 id = 0;
    QString title;
    qint64 createdAt = 0;
    qint64 updatedAt = 0;
    QString model;        // file name of the model last used in it
    QString systemPrompt; // the system prompt it was started with
    QString settings;     // JSON object: the generation settings last used
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
};

struct SearchHit {
    qint64 conversationId = 0;
    qint64 messageId = 0;  // 0 when the conversation's title matched
    QString title;         // the conversation's title
    QString snippet;       // matching text with the match wrapped in [ and ]
    qint64 updatedAt = 0;  // the conversation's
};
