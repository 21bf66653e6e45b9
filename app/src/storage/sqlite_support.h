// Internal to the storage library (not part of its interface): thin RAII over the sqlite3 C API
// shared by database.cpp (open, reads, writes, search) and database_schema.cpp (schema,
// migrations, backup). Every failure throws SqliteError, a StorageError that keeps SQLite's
// result code so the opener can tell a damaged file from one it merely cannot reach.
#pragma once

#include "storage/database.h"

#include <QByteArray>
#include <QString>

#include <memory>

#include <sqlite3.h>

namespace storage_detail {

class SqliteError : public StorageError {
public:
    SqliteError(const QString& message, int code) : StorageError(message.toStdString()), code_(code) {}
    int code() const { return code_; } // extended result code
    // SQLITE_CORRUPT / SQLITE_NOTADB: the file's bytes are not a sound database.
    bool isDamage() const;
    // The file or its folder cannot be written (read-only file system, permissions, a -wal or
    // -shm that cannot be created, a full disk): the history can still be opened read-only.
    bool isWriteRefusal() const;

private:
    int code_;
};

// "<what>: <sqlite's message>" (just the message when `what` is empty); throws SqliteError with
// the connection's last error code.
[[noreturn]] void throwSqlite(sqlite3* db, const QString& what);

// One prepared statement with bound parameters (1-based, as in SQL's ?1, ?2 ...).
class Statement {
public:
    Statement(sqlite3* db, const char* sql);
    ~Statement();
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    Statement& bind(int index, qint64 value);
    Statement& bind(int index, int value) { return bind(index, static_cast<qint64>(value)); }
    Statement& bind(int index, double value);
    Statement& bind(int index, const QString& value);
    // A value read by another statement, copied as it is (type and bytes), or NULL.
    Statement& bindValue(int index, const sqlite3_value* value);

    // Advances to the next row: true when there is one, false when done; throws on error.
    bool step();
    // Runs to completion (for writes); returns sqlite3_changes().
    int run();

    qint64 int64(int column) const;
    int integer(int column) const; // clamped to int's range (the file is not trusted)
    double real(int column) const;
    QString text(int column) const; // invalid UTF-8 is replaced, NULL is empty
    const sqlite3_value* value(int column) const; // valid until the next step()

    // Makes the statement ready to run again, bindings cleared.
    void reset();

private:
    sqlite3* db_;
    sqlite3_stmt* statement_ = nullptr;
};

// Runs SQL without results (schema, pragmas); throws SqliteError naming `what`.
void exec(sqlite3* db, const char* sql, const QString& what);

// BEGIN IMMEDIATE … COMMIT; rolled back by the destructor unless committed.
class Transaction {
public:
    explicit Transaction(sqlite3* db);
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    void commit();

private:
    sqlite3* db_;
    bool open_ = true;
};

// Runs `body`; a SqliteError from it is thrown again as "<what>: <its message>", so a failure
// names the operation ("saving message 12: disk I/O error").
template <class Body>
auto describeFailure(const QString& what, Body&& body) -> decltype(body()) {
    try {
        return body();
    } catch (const SqliteError& error) {
        throw SqliteError(what + QStringLiteral(": ") + QString::fromUtf8(error.what()), error.code());
    }
}

// Runs `body` as one transaction (rolled back when it throws), failures named by `what`.
template <class Body>
void inTransaction(sqlite3* db, const QString& what, Body&& body) {
    describeFailure(what, [&] {
        Transaction transaction(db);
        body();
        transaction.commit();
    });
}

struct CloseConnection {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Connection = std::unique_ptr<sqlite3, CloseConnection>;

// Closes a connection to a damaged file without checkpointing its WAL into it, so the copy
// kept aside holds exactly the bytes that were found.
void closeUntouched(Connection connection);

// "name" with embedded quotes doubled: for identifiers read from the file.
QByteArray quotedIdentifier(const QString& name);

// ---- database_schema.cpp ----
int readUserVersion(sqlite3* db);
// Runs the migration functions fromVersion+1 … toVersion, each in its own transaction.
void migrate(sqlite3* db, int fromVersion, int toVersion);
// Copies the whole database to a new file with the backup API; throws when `path` exists.
void backupTo(sqlite3* db, const QString& path);
// Copies the whole database behind `from` into the one behind `to` (which it replaces).
void copyDatabase(sqlite3* from, sqlite3* to, const QString& what);
// journal_mode=WAL, synchronous=FULL, foreign_keys=ON.
void applyConnectionPragmas(sqlite3* db);

enum class Access {
    ReadWrite, // read-write, creating the file when missing
    ReadOnly,  // read-only; a WAL file still needs its -shm (existing or creatable)
    Immutable, // read-only media: no locks, no -shm, any -wal is ignored
    Memory,    // a private in-memory database (`path` is ignored)
};
// Opens `path` with the connection settings the app uses; throws SqliteError. A read-write
// open that SQLite could only grant read-only is refused with SQLITE_READONLY.
sqlite3* openConnection(const QString& path, Access access = Access::ReadWrite);

// ---- database_open.cpp ----
// What is wrong with the file behind `db`, or empty when it is sound; sets `version`. Throws for
// a file from a newer version and for errors that are not damage.
QString findDamage(sqlite3* db, const QString& path, int& version);

// ---- database_repair.cpp ----
// What a salvage could carry over from a damaged file. "Known" counts every row the damaged
// file shows signs of (its own rows, index entries, search-index entries), readable or not.
struct SalvageCounts {
    qint64 messagesRecovered = 0;
    qint64 messagesKnown = 0;
    qint64 conversationsRecovered = 0; // conversations in the new file, placeholders included
    qint64 conversationsKnown = 0;
    qint64 placeholderConversations = 0; // messages kept whose conversation row was lost
    qint64 otherRowsLost = 0;            // rows of other tables found but unreadable
    int unreachableRanges = 0;           // runs of rows on pages that could not be read at all
    bool complete() const {
        return messagesRecovered == messagesKnown && conversationsRecovered == conversationsKnown &&
               placeholderConversations == 0 && otherRowsLost == 0 && unreachableRanges == 0;
    }
};

// Rebuilds what is derived from the rows (every FTS5 index, every b-tree index) inside the
// damaged file and checks it again; commits only when the check then passes (else nothing is
// changed). False when that did not make the file sound.
bool rebuildDerivedInPlace(const QString& path);

// Copies every readable row of every table of `source` (schema `version`) into `target`, an
// empty database that this function brings to `version` first; rows and pages that cannot be
// read are skipped, so one bad page loses only its rows. Messages whose conversation row was
// lost get a placeholder conversation; the full-text indexes are rebuilt. Throws SqliteError
// when not even the schema of `source` can be read.
SalvageCounts salvageRows(sqlite3* source, sqlite3* target, int version);

} // namespace storage_detail
