// The chat history: one SQLite file (`latent.db` in the data dir), one connection per Database
// object, used from one thread. WAL journal, synchronous=FULL (a committed transaction survives
// a power cut), foreign keys on, FTS5 over titles and message text. The schema version lives in
// PRAGMA user_version; opening an older file copies it aside (`latent.db.v<N>.bak`) and runs one
// migration function per version. Messages left 'streaming' by a crash are marked 'stopped'
// with stop_reason "interrupted" when the file is opened.
//
// Damage (database_open.cpp, database_repair.cpp): opening runs PRAGMA quick_check. When it
// fails, what is derived from the rows (the FTS5 indexes, the b-tree indexes) is rebuilt inside
// the file and checked again — committed only when that makes it sound. Otherwise every readable
// row of every table is copied into a fresh file (one bad page loses only its rows), which takes
// the file's place; the damaged file is kept as `latent.db.damaged-<yyyyMMdd-hhmmss>` (with its
// -wal/-shm), never deleted. Only a file whose schema cannot be read at all (or that is not a
// Latent Chat history) is just moved aside, and a new history started.
//
// Read-only data: when the file or its folder cannot be written (read-only file system,
// permissions, a -wal/-shm that cannot be created), the history is opened read-only (from
// read-only media as immutable) and every write fails with SQLITE_READONLY; a file that would
// need changing first (migration, repair, interrupted answers) is read into memory and changed
// there. openReport().readOnlyReason says why.
//
// Every write is its own short transaction. Every method throws StorageError naming what
// failed; nothing read from the file is trusted (unknown role/status strings are reported, not
// crashed on). Updating or deleting a row that does not exist changes nothing and is no error
// (an answer may be finalised just after its conversation was deleted).
//
// Schema (database_schema.cpp has every version): messages.generation_tokens_per_second is the
// decode speed (called tokens_per_second in schema 1); FTS5 tables message_fts (content,
// reasoning) and conversation_fts (title) index the text with external content, kept in step by
// triggers; conversations.collections and messages.sources (schema 3) hold JSON arrays (see
// records.h), read defensively.
#pragma once

#include "storage/records.h"

#include <QString>
#include <QVariantMap>

#include <memory>
#include <stdexcept>
#include <vector>

struct sqlite3;

class StorageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class Database {
public:
    static constexpr int kSchemaVersion = 3;

    struct OpenReport {
        int foundVersion = 0;          // user_version of the file as found (0: new file)
        QString backupPath;            // copy made before migrating, else empty
        QString damagedCopyPath;       // where a damaged file was moved, else empty
        QString damageDescription;     // what quick_check / open said about it
        int interruptedMessages = 0;   // 'streaming' messages marked interrupted
        // Repair of a damaged file (damageDescription set): rebuilt in place, or salvaged into a
        // fresh file (salvaged; the counts say what was carried over).
        bool repairedInPlace = false;
        bool salvaged = false;
        qint64 messagesRecovered = 0;
        qint64 messagesKnown = 0;      // messages the damaged file shows signs of
        qint64 conversationsRecovered = 0;
        qint64 conversationsKnown = 0;
        bool salvageComplete = false;  // nothing that could be seen was lost
        // Set when the history could only be opened read-only: why ("… is on a read-only file
        // system"). Every write then fails.
        bool readOnly = false;
        QString readOnlyReason;
        qint64 nextConversationId = 1; // max(id) + 1
        qint64 nextMessageId = 1;
    };

    // Opens (creating when missing) and brings the file to kSchemaVersion; read-only when it
    // cannot be written (see above).
    explicit Database(const QString& path);
    ~Database();
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    // An empty history that keeps nothing (every write fails as read-only, with `reason` in the
    // report): what the storage thread serves when the file cannot be opened at all, so that
    // reads answer and nothing waits for a database that will not come.
    static std::unique_ptr<Database> unavailable(const QString& reason);

    const QString& path() const { return path_; }
    const OpenReport& openReport() const { return report_; }
    bool readOnly() const { return report_.readOnly; }

    // Conversations, newest updatedAt first.
    std::vector<ConversationRecord> conversations() const;
    std::optional<ConversationRecord> conversation(qint64 id) const;
    void insertConversation(const ConversationRecord& conversation); // id set by the caller
    void renameConversation(qint64 id, const QString& title);
    void updateConversation(const ConversationRecord& conversation);  // every column but created_at
    void touchConversation(qint64 id, qint64 updatedAt);
    void deleteConversation(qint64 id);                               // and its messages

    // Messages of a conversation in id order.
    std::vector<MessageRecord> messages(qint64 conversationId) const;
    void insertMessage(const MessageRecord& message); // id set by the caller; touches the conversation
    void updateMessage(const MessageRecord& message); // every column but id, conversation, created_at
    // Streaming checkpoint: content, reasoning and status only.
    void updateMessageText(qint64 id, const QString& content, const QString& reasoning, MessageStatus status);
    // Deletes the conversation's messages with id >= fromMessageId (edit-and-resend, regenerate).
    void deleteMessagesFrom(qint64 conversationId, qint64 fromMessageId);

    // Full-text search over titles and message text. Any user text is accepted (it is turned
    // into quoted prefix terms, never passed as FTS5 syntax); at most `limit` hits, newest
    // conversations first; an empty query gives no hits.
    std::vector<SearchHit> search(const QString& query, int limit = 50) const;

    // App settings: a key → JSON-compatible value store (QVariant of string/number/bool/list/map).
    QVariantMap settings() const;
    void setSetting(const QString& key, const QVariant& value);

    // The value of PRAGMA `name` (letters and '_' only) on this connection, as text: for
    // checks of the per-connection settings (synchronous, foreign_keys) in tests and diagnostics.
    QString pragma(const QString& name) const;

    // Builds a database at exactly `version` (1 ≤ version ≤ kSchemaVersion) with no data, for
    // migration tests.
    static void createAtVersion(const QString& path, int version);

private:
    Database() = default;

    QString path_;
    OpenReport report_;
    sqlite3* db_ = nullptr;
};
