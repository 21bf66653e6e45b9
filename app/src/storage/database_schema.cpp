// The schema of latent.db and its migrations. A new file is built by running every migration
// from version 1, so a fresh install and an upgraded one share the same code. Each migration is
// one function, runs in one transaction and ends by setting PRAGMA user_version to its number;
// a migration never changes once shipped (a later version adds the next function instead).
//
// Version 1 — the first shipped layout:
//   conversations(id, title, created_at, updated_at, model, system_prompt, settings)
//   messages(id, conversation_id → conversations ON DELETE CASCADE, role, content, reasoning,
//            status, created_at, model, prompt_tokens, generated_tokens, tokens_per_second)
//   settings(key, value)                                    value: a JSON array of one value
// Version 2 — what the answer statistics and search need:
//   messages + stop_reason, error_text, time_to_first_token_ms, prompt_tokens_per_second;
//            tokens_per_second is renamed generation_tokens_per_second (same meaning: decode
//            speed), so the two speeds read alike.
//   message_fts(content, reasoning) and conversation_fts(title): FTS5 tables with external
//            content (the text is stored once, in messages/conversations), kept in sync by
//            triggers and filled from the existing rows by the migration.
// Version 3 — document Q&A:
//   conversations + collections: a JSON array of the document collections (names in
//            documents.db) its questions are answered from; '[]' for none.
//   messages + sources: a JSON array of the passages an answer's prompt quoted, each
//            {path, page, start, end, text}; '[]' for none. Kept with the message so an old
//            answer's citations open after a restart, whatever the index holds by then.
#include "storage/sqlite_support.h"

#include <QDebug>
#include <QFile>
#include <QFileInfo>
#include <QUrl>

#include <iterator>

namespace storage_detail {
namespace {

void migrateTo1(sqlite3* db) {
    exec(db, R"sql(
        CREATE TABLE conversations (
            id            INTEGER PRIMARY KEY,
            title         TEXT    NOT NULL,
            created_at    INTEGER NOT NULL,
            updated_at    INTEGER NOT NULL,
            model         TEXT    NOT NULL DEFAULT '',
            system_prompt TEXT    NOT NULL DEFAULT '',
            settings      TEXT    NOT NULL DEFAULT '{}'
        );
        CREATE TABLE messages (
            id                INTEGER PRIMARY KEY,
            conversation_id   INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            role              TEXT    NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
            content           TEXT    NOT NULL,
            reasoning         TEXT    NOT NULL DEFAULT '',
            status            TEXT    NOT NULL CHECK (status IN ('complete', 'streaming', 'stopped', 'error')),
            created_at        INTEGER NOT NULL,
            model             TEXT    NOT NULL DEFAULT '',
            prompt_tokens     INTEGER NOT NULL DEFAULT 0,
            generated_tokens  INTEGER NOT NULL DEFAULT 0,
            tokens_per_second REAL    NOT NULL DEFAULT 0
        );
        CREATE INDEX messages_by_conversation ON messages(conversation_id, id);
        CREATE TABLE settings (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        PRAGMA user_version = 1;
    )sql", QStringLiteral("creating the tables"));
}

void migrateTo2(sqlite3* db) {
    exec(db, R"sql(
        ALTER TABLE messages ADD COLUMN stop_reason TEXT NOT NULL DEFAULT '';
        ALTER TABLE messages ADD COLUMN error_text TEXT NOT NULL DEFAULT '';
        ALTER TABLE messages ADD COLUMN time_to_first_token_ms REAL NOT NULL DEFAULT 0;
        ALTER TABLE messages ADD COLUMN prompt_tokens_per_second REAL NOT NULL DEFAULT 0;
        ALTER TABLE messages RENAME COLUMN tokens_per_second TO generation_tokens_per_second;

        CREATE VIRTUAL TABLE message_fts USING fts5(
            content, reasoning,
            content = 'messages', content_rowid = 'id',
            tokenize = 'unicode61 remove_diacritics 2');
        CREATE VIRTUAL TABLE conversation_fts USING fts5(
            title,
            content = 'conversations', content_rowid = 'id',
            tokenize = 'unicode61 remove_diacritics 2');

        -- External-content FTS5 tables are told what to forget with the old values, exactly
        -- as they were indexed; the triggers below are the only writers of the indexes.
        CREATE TRIGGER message_fts_after_insert AFTER INSERT ON messages BEGIN
            INSERT INTO message_fts(rowid, content, reasoning) VALUES (new.id, new.content, new.reasoning);
        END;
        CREATE TRIGGER message_fts_after_delete AFTER DELETE ON messages BEGIN
            INSERT INTO message_fts(message_fts, rowid, content, reasoning)
                VALUES ('delete', old.id, old.content, old.reasoning);
        END;
        CREATE TRIGGER message_fts_after_update AFTER UPDATE OF id, content, reasoning ON messages BEGIN
            INSERT INTO message_fts(message_fts, rowid, content, reasoning)
                VALUES ('delete', old.id, old.content, old.reasoning);
            INSERT INTO message_fts(rowid, content, reasoning) VALUES (new.id, new.content, new.reasoning);
        END;
        CREATE TRIGGER conversation_fts_after_insert AFTER INSERT ON conversations BEGIN
            INSERT INTO conversation_fts(rowid, title) VALUES (new.id, new.title);
        END;
        CREATE TRIGGER conversation_fts_after_delete AFTER DELETE ON conversations BEGIN
            INSERT INTO conversation_fts(conversation_fts, rowid, title) VALUES ('delete', old.id, old.title);
        END;
        CREATE TRIGGER conversation_fts_after_update AFTER UPDATE OF id, title ON conversations BEGIN
            INSERT INTO conversation_fts(conversation_fts, rowid, title) VALUES ('delete', old.id, old.title);
            INSERT INTO conversation_fts(rowid, title) VALUES (new.id, new.title);
        END;

        INSERT INTO message_fts(message_fts) VALUES ('rebuild');
        INSERT INTO conversation_fts(conversation_fts) VALUES ('rebuild');
        PRAGMA user_version = 2;
    )sql", QStringLiteral("adding answer statistics and search"));
}

void migrateTo3(sqlite3* db) {
    exec(db, R"sql(
        ALTER TABLE conversations ADD COLUMN collections TEXT NOT NULL DEFAULT '[]';
        ALTER TABLE messages ADD COLUMN sources TEXT NOT NULL DEFAULT '[]';
        PRAGMA user_version = 3;
    )sql", QStringLiteral("adding document collections and sources"));
}

using Migration = void (*)(sqlite3*);
// kMigrations[v - 1] brings a file from version v - 1 to version v.
constexpr Migration kMigrations[] = {migrateTo1, migrateTo2, migrateTo3};
static_assert(std::size(kMigrations) == Database::kSchemaVersion, "one migration per schema version");

} // namespace

int readUserVersion(sqlite3* db) {
    Statement statement(db, "PRAGMA user_version");
    return statement.step() ? statement.integer(0) : 0;
}

void migrate(sqlite3* db, int fromVersion, int toVersion) {
    for (int version = fromVersion + 1; version <= toVersion; ++version) {
        inTransaction(db, QStringLiteral("migrating the database to schema version %1").arg(version),
                      [&] { kMigrations[version - 1](db); });
    }
}

void copyDatabase(sqlite3* from, sqlite3* to, const QString& what) {
    sqlite3_backup* backup = sqlite3_backup_init(to, "main", from, "main");
    int rc = backup ? sqlite3_backup_step(backup, -1) : sqlite3_errcode(to);
    if (backup) {
        const int finish = sqlite3_backup_finish(backup);
        if (rc == SQLITE_DONE) rc = finish;
    }
    if (rc != SQLITE_OK && rc != SQLITE_DONE) throwSqlite(to, what);
}

void backupTo(sqlite3* db, const QString& path) {
    if (QFile::exists(path)) throw StorageError(QStringLiteral("%1 exists already").arg(path).toStdString());
    sqlite3* copy = nullptr;
    if (sqlite3_open_v2(QFile::encodeName(path).constData(), &copy, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
        const QString detail = copy ? QString::fromUtf8(sqlite3_errmsg(copy)) : QStringLiteral("out of memory");
        sqlite3_close(copy);
        throw StorageError(QStringLiteral("cannot create the backup %1: %2").arg(path, detail).toStdString());
    }
    Connection connection(copy);
    try {
        copyDatabase(db, copy, QStringLiteral("copying the database to %1").arg(path));
    } catch (const SqliteError&) {
        connection.reset();
        QFile::remove(path); // our own half-written copy (a full disk): the original is untouched
        throw;
    }
}

void applyConnectionPragmas(sqlite3* db) {
    {
        Statement journal(db, "PRAGMA journal_mode = WAL");
        const QString mode = journal.step() ? journal.text(0) : QString();
        // Some file systems (network shares) cannot hold a WAL; the rollback journal with
        // synchronous=FULL is just as safe there, only slower.
        if (mode.compare(QLatin1String("wal"), Qt::CaseInsensitive) != 0)
            qWarning("storage: the database cannot use a write-ahead log; journal mode stays '%s'", qPrintable(mode));
    }
    exec(db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;", QStringLiteral("setting the connection's pragmas"));
}

sqlite3* openConnection(const QString& path, Access access) {
    // Read-only opens go through a file: URI, which is where SQLite takes mode= and immutable=.
    QByteArray name = QFile::encodeName(path);
    int flags = SQLITE_OPEN_NOMUTEX;
    switch (access) {
    case Access::ReadWrite: flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE; break;
    case Access::ReadOnly:
    case Access::Immutable:
        name = QUrl::fromLocalFile(QFileInfo(path).absoluteFilePath()).toEncoded() +
               (access == Access::Immutable ? "?immutable=1" : "?mode=ro");
        flags |= SQLITE_OPEN_READONLY | SQLITE_OPEN_URI;
        break;
    case Access::Memory:
        name = ":memory:";
        flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_MEMORY;
        break;
    }
    sqlite3* db = nullptr;
    const int rc = sqlite3_open_v2(name.constData(), &db, flags, nullptr);
    if (rc != SQLITE_OK) {
        const QString detail = db ? QString::fromUtf8(sqlite3_errmsg(db)) : QString::fromUtf8(sqlite3_errstr(rc));
        const int code = db ? sqlite3_extended_errcode(db) : rc;
        sqlite3_close(db);
        throw SqliteError(QStringLiteral("cannot open %1: %2").arg(path, detail), code);
    }
    // A file SQLite may not write is opened read-only without a word; the caller asked to write.
    if (access == Access::ReadWrite && sqlite3_db_readonly(db, "main") == 1) {
        sqlite3_close(db);
        throw SqliteError(QStringLiteral("cannot open %1 for writing: it is read-only").arg(path), SQLITE_READONLY);
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
    return db;
}

} // namespace storage_detail
