#include "storage/sqlite_support.h"

#include <QByteArray>

#include <limits>

namespace storage_detail {

bool SqliteError::isDamage() const {
    const int primary = code_ & 0xff;
    return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB;
}

bool SqliteError::isWriteRefusal() const {
    switch (code_ & 0xff) {
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_AUTH:
    case SQLITE_IOERR:
    case SQLITE_FULL: return true;
    default: return false;
    }
}

void throwSqlite(sqlite3* db, const QString& what) {
    const int code = db ? sqlite3_extended_errcode(db) : SQLITE_ERROR;
    const QString detail = db ? QString::fromUtf8(sqlite3_errmsg(db)) : QStringLiteral("out of memory");
    throw SqliteError(what.isEmpty() ? detail : what + QStringLiteral(": ") + detail, code);
}

Statement::Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db_, sql, -1, &statement_, nullptr) != SQLITE_OK)
        throwSqlite(db_, QStringLiteral("preparing \"%1\"").arg(QString::fromUtf8(sql)));
}

Statement::~Statement() { sqlite3_finalize(statement_); }

Statement& Statement::bind(int index, qint64 value) {
    if (sqlite3_bind_int64(statement_, index, value) != SQLITE_OK)
        throwSqlite(db_, QStringLiteral("binding parameter %1").arg(index));
    return *this;
}

Statement& Statement::bind(int index, double value) {
    if (sqlite3_bind_double(statement_, index, value) != SQLITE_OK)
        throwSqlite(db_, QStringLiteral("binding parameter %1").arg(index));
    return *this;
}

Statement& Statement::bind(int index, const QString& value) {
    const QByteArray utf8 = value.toUtf8();
    if (utf8.size() > std::numeric_limits<int>::max())
        throw SqliteError(QStringLiteral("parameter %1 is too long (%2 bytes)").arg(index).arg(utf8.size()), SQLITE_TOOBIG);
    if (sqlite3_bind_text(statement_, index, utf8.constData(), static_cast<int>(utf8.size()), SQLITE_TRANSIENT) != SQLITE_OK)
        throwSqlite(db_, QStringLiteral("binding parameter %1").arg(index));
    return *this;
}

Statement& Statement::bindValue(int index, const sqlite3_value* value) {
    const int rc = value ? sqlite3_bind_value(statement_, index, value) : sqlite3_bind_null(statement_, index);
    if (rc != SQLITE_OK) throwSqlite(db_, QStringLiteral("binding parameter %1").arg(index));
    return *this;
}

bool Statement::step() {
    const int rc = sqlite3_step(statement_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throwSqlite(db_, QString());
}

int Statement::run() {
    while (step()) {
    }
    return sqlite3_changes(db_);
}

qint64 Statement::int64(int column) const { return sqlite3_column_int64(statement_, column); }

int Statement::integer(int column) const {
    const qint64 value = sqlite3_column_int64(statement_, column);
    if (value > std::numeric_limits<int>::max()) return std::numeric_limits<int>::max();
    if (value < std::numeric_limits<int>::min()) return std::numeric_limits<int>::min();
    return static_cast<int>(value);
}

double Statement::real(int column) const { return sqlite3_column_double(statement_, column); }

QString Statement::text(int column) const {
    const auto* bytes = reinterpret_cast<const char*>(sqlite3_column_text(statement_, column));
    if (!bytes) return QString();
    const int size = sqlite3_column_bytes(statement_, column);
    return QString::fromUtf8(bytes, size);
}

const sqlite3_value* Statement::value(int column) const { return sqlite3_column_value(statement_, column); }

void Statement::reset() {
    sqlite3_reset(statement_);
    sqlite3_clear_bindings(statement_);
}

void closeUntouched(Connection connection) {
    if (!connection) return;
    sqlite3_db_config(connection.get(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
    connection.reset();
}

QByteArray quotedIdentifier(const QString& name) {
    QByteArray quoted = name.toUtf8();
    quoted.replace('"', "\"\"");
    return '"' + quoted + '"';
}

void exec(sqlite3* db, const char* sql, const QString& what) {
    char* message = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
        const int code = sqlite3_extended_errcode(db);
        const QString detail = message ? QString::fromUtf8(message) : QString::fromUtf8(sqlite3_errmsg(db));
        sqlite3_free(message);
        throw SqliteError(what + QStringLiteral(": ") + detail, code);
    }
}

Transaction::Transaction(sqlite3* db) : db_(db) { exec(db_, "BEGIN IMMEDIATE", QStringLiteral("starting a transaction")); }

Transaction::~Transaction() {
    // An error may already have rolled the transaction back (SQLITE_FULL, SQLITE_IOERR ...).
    if (open_ && !sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
    exec(db_, "COMMIT", QStringLiteral("committing"));
    open_ = false;
}

} // namespace storage_detail
