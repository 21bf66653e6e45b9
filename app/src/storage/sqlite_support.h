// Internal to the storage library (not part of its interface): thin RAII over the sqlite3 C API
// shared by database.cpp (open, reads, writes, search) and database_schema.cpp (schema,
// migrations, backup). Every failure throws SqliteError, a StorageError that keeps SQLite's
// result code so the opener can tell a damaged file from one it merely cannot reach.
#pragma once

#include "storage/database.h"

#include <QString>

#include <sqlite3.h>

namespace storage_detail {

class SqliteError : public StorageError {
public:
    SqliteError(const QString& message, int code) : StorageError(message.toStdString()), code_(code) {}
    int code() const { return code_; } // extended result code
    // SQLITE_CORRUPT / SQLITE_NOTADB: the file's bytes are not a sound database.
    bool isDamage() const;

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

    // Advances to the next row: true when there is one, false when done; throws on error.
    bool step();
    // Runs to completion (for writes); returns sqlite3_changes().
    int run();

    qint64 int64(int column) const;
    int integer(int column) const; // clamped to int's range (the file is not trusted)
    double real(int column) const;
    QString text(int column) const; // invalid UTF-8 is replaced, NULL is empty

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

// ---- database_schema.cpp ----
int readUserVersion(sqlite3* db);
// Runs the migration functions fromVersion+1 … toVersion, each in its own transaction.
void migrate(sqlite3* db, int fromVersion, int toVersion);
// Copies the whole database to a new file with the backup API; throws when `path` exists.
void backupTo(sqlite3* db, const QString& path);
// journal_mode=WAL, synchronous=FULL, foreign_keys=ON.
void applyConnectionPragmas(sqlite3* db);
// Opens (creating) `path` with the connection settings the app uses; throws SqliteError.
sqlite3* openConnection(const QString& path);

} // namespace storage_detail
