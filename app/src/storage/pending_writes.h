// Writes that could not reach the disk yet, kept in memory in the order they were made and
// retried until they succeed — so a full disk, an I/O error, a read-only or busy database never
// loses what the user was shown.
//
// Every write to the chat history is a StorageWrite: a plain record of what to change (not a
// closure), so that pending writes can be counted per message, folded together, cancelled by a
// later delete and replayed over what the disk holds for an export. Order is strict: once one
// write is pending, every later write queues behind it, so a message is never inserted before
// the conversation row it belongs to (no foreign-key cascade of failures). To keep memory
// proportional to what is shown, a later write of the same row supersedes an earlier pending one:
//   - an update of a message (text checkpoint or final) is folded into its pending insert, or
//     replaces its pending update (a text checkpoint never replaces a final update's status);
//   - a setting replaces the same setting; a conversation update, rename or touch folds into
//     the conversation's pending insert or replaces the same kind of pending write;
//   - deleting a conversation drops its pending writes (and is itself dropped when the
//     conversation never reached the disk); deleted messages no longer count as unsaved.
// A random test checks that replaying the folded writes gives the same database as applying
// every write as it came.
// Used on the storage thread only (no locking).
#pragma once

#include "storage/records.h"

#include <QList>
#include <QString>
#include <QVariant>

#include <deque>
#include <optional>
#include <vector>

class Database;

struct StorageWrite {
    enum class Kind {
        InsertConversation, // conversation: the whole row
        UpdateConversation, // conversation: every column but created_at
        RenameConversation, // conversation.id, conversation.title
        TouchConversation,  // conversation.id, conversation.updatedAt
        DeleteConversation, // conversation.id (and its messages)
        InsertMessage,      // message: the whole row
        UpdateMessage,      // message: every column but conversation_id, created_at
        UpdateMessageText,  // message.id, conversationId, content, reasoning, status
        DeleteMessagesFrom, // message.conversationId, message.id: that id and later ones
        SetSetting,         // settingKey, settingValue
    };
    Kind kind = Kind::SetSetting;
    ConversationRecord conversation;
    MessageRecord message;
    QString settingKey;
    QVariant settingValue;

    static StorageWrite insertConversation(const ConversationRecord& conversation);
    static StorageWrite updateConversation(const ConversationRecord& conversation);
    static StorageWrite renameConversation(qint64 id, const QString& title);
    static StorageWrite touchConversation(qint64 id, qint64 updatedAt);
    static StorageWrite deleteConversation(qint64 id);
    static StorageWrite insertMessage(const MessageRecord& message);
    static StorageWrite updateMessage(const MessageRecord& message);
    // A streaming checkpoint of `message` (its id, conversation, text and status).
    static StorageWrite updateMessageText(const MessageRecord& message);
    static StorageWrite deleteMessagesFrom(qint64 conversationId, qint64 fromMessageId);
    static StorageWrite setSetting(const QString& key, const QVariant& value);

    // The conversation it changes (0 for a setting) and the message it saves (0 when none).
    qint64 conversationId() const;
    qint64 savedMessageId() const;
    // "saving message 12", for the log.
    QString description() const;
    // Runs it as one transaction; throws StorageError (a SqliteError keeps SQLite's code).
    void apply(Database& db) const;
};

// Why writes are waiting, for the window: counts, the ids to mark "not saved" and the reason in
// plain words. Empty (writes == 0) when everything is saved.
struct StorageBacklog {
    int writes = 0;                 // pending writes of any kind
    QList<qint64> messageIds;       // messages with a pending write, ascending
    QList<qint64> conversationIds;  // conversations with a pending write, ascending
    QString reason;                 // "the disk is full", "" when nothing is pending
    QString detail;                 // the last failure as SQLite/the OS put it
    bool operator==(const StorageBacklog&) const = default;
};

// A conversation as the user sees it: what the disk holds with the pending writes applied.
struct ConversationSnapshot {
    ConversationRecord conversation;
    std::vector<MessageRecord> messages; // id order
};

// Failures a later attempt can get past (disk full, I/O error, read-only, busy or locked,
// cannot open, out of memory, damaged file): the write is kept. Any other failure (a constraint,
// a bug) drops the write with an error, as before.
bool isRetryableStorageFailure(int sqliteCode);
// The reason in plain words: "the disk is full", "the disk reported an error while reading or
// writing", "the chat history is read-only", ...
QString plainStorageFailure(int sqliteCode);

class PendingWrites {
public:
    bool empty() const { return writes_.empty(); }
    std::size_t size() const { return writes_.size(); }
    const StorageWrite& front() const { return writes_.front(); }
    void popFront() { writes_.pop_front(); }

    // Queues `write` behind the pending ones, folding it into or cancelling earlier pending
    // writes as the header says. Returns false when nothing needs to run for it any more (it was
    // folded in, or it deletes rows that never reached the disk).
    bool add(StorageWrite write);

    StorageBacklog backlog(const QString& reason, const QString& detail) const;

    // The pending writes of one conversation applied to its rows as read from the disk (an
    // absent conversation, an empty list when nothing was read); messages end in id order.
    void applyTo(qint64 conversationId, std::optional<ConversationRecord>& conversation,
                 std::vector<MessageRecord>& messages) const;

    // Every conversation with a pending write (except deleted ones): read from `db` (null: the
    // database is not open; a read that fails counts as empty) with the pending writes applied.
    std::vector<ConversationSnapshot> snapshots(const Database* db) const;

    // "saving message 12; saving conversation 3 …" for the log, at most `limit` entries.
    QString describe(int limit = 20) const;

private:
    std::deque<StorageWrite> writes_;
};
