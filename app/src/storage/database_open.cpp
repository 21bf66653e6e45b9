// Opening latent.db: the integrity check, repair or quarantine of a damaged file, the backup
// before a migration, and the read-only fallback when the file or its folder cannot be written.
//
//   writable?  ── no ──────────────────────────────► read-only open (mode=ro, else immutable)
//      │ yes                                              │ damaged / older schema / answers
//   inspect (open + quick_check)                          │ left streaming: read into memory,
//      │ damaged: rebuild indexes in place, check again   │ salvaged / migrated / marked there
//      │ still damaged: salvage rows into a fresh file,   ▼
//      │   the damaged file kept aside                 PRAGMA query_only: every write fails
//      │ schema unreadable: move aside, start anew        with SQLITE_READONLY
//   backup + migrate, mark interrupted answers
//
// A write that SQLite refuses on the way (read-only, cannot open a -wal, disk full) sends the
// open down the read-only path too, so a readable history is always shown.
#include "storage/database.h"

#include "storage/sqlite_support.h"

#include <QDateTime>
#include <QDebug>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QStringList>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include <sys/statvfs.h>
#include <unistd.h>

using namespace storage_detail;

namespace storage_detail {

QString findDamage(sqlite3* db, const QString& path, int& version) {
    try {
        version = readUserVersion(db);
        if (version > Database::kSchemaVersion)
            throw StorageError(QStringLiteral("%1 was written by a newer Latent Chat (schema %2); this version understands %3")
                                   .arg(QFileInfo(path).fileName())
                                   .arg(version)
                                   .arg(Database::kSchemaVersion)
                                   .toStdString());
        if (version < 0) return QStringLiteral("its schema version is %1").arg(version);
        Statement schema(db, "SELECT count(*) FROM sqlite_schema");
        const qint64 objects = schema.step() ? schema.int64(0) : 0;
        if (version == 0 && objects > 0)
            return QStringLiteral("it holds %1 schema objects but no Latent Chat schema version").arg(objects);
        // quick_check also reports rows that break a CHECK or NOT NULL constraint. Those are
        // a bad value, not a broken file: the reads cope with them (unknown role or status),
        // so they are logged and the database stays in use.
        Statement check(db, "PRAGMA quick_check(20)");
        QStringList problems;
        while (check.step()) {
            // Rows read "*** in database main ***\n<problem>"; the prefix says nothing here.
            const QString line = check.text(0).remove(QStringLiteral("*** in database main ***")).simplified();
            if (line.startsWith(QLatin1String("CHECK constraint failed")) || line.startsWith(QLatin1String("NULL value in")))
                qWarning("storage: %s: %s", qPrintable(path), qPrintable(line));
            else
                problems << line;
        }
        if (!problems.isEmpty() && problems != QStringList{QStringLiteral("ok")})
            return QStringLiteral("quick_check: ") + problems.join(QStringLiteral("; "));
        return QString();
    } catch (const SqliteError& error) {
        if (!error.isDamage())
            throw SqliteError(QStringLiteral("reading %1: %2").arg(path, QString::fromUtf8(error.what())), error.code());
        return QString::fromUtf8(error.what());
    }
}

} // namespace storage_detail

namespace {

// Files that belong to a database file and travel with it when it is moved aside.
constexpr const char* kCompanionSuffixes[] = {"-wal", "-shm", "-journal"};

struct Inspection {
    Connection connection;       // set when the file is sound
    int version = 0;             // its user_version
    QString damage;              // set (and no connection) when it is damaged
};

// Opens `path` and decides whether it is a sound database this version can use: reading the
// header and the schema and PRAGMA quick_check must all succeed. A file from a newer version is
// refused without touching it; a file that cannot be reached at all (permissions, a missing
// folder, another process's lock) is an error, not damage.
Inspection inspect(const QString& path) {
    Inspection result;
    Connection connection(openConnection(path));
    result.damage = findDamage(connection.get(), path, result.version);
    if (result.damage.isEmpty()) result.connection = std::move(connection);
    else closeUntouched(std::move(connection));
    return result;
}

// A schema this version knows how to copy row by row (the tables of `version` exist in it).
bool salvageable(int version) { return version >= 1 && version <= Database::kSchemaVersion; }

// `base`, or `base-2`, `base-3` … : the first name that neither it nor its companions use.
QString freeName(const QString& base) {
    for (int attempt = 1;; ++attempt) {
        const QString name = attempt == 1 ? base : base + QStringLiteral("-%1").arg(attempt);
        bool taken = QFile::exists(name);
        for (const char* suffix : kCompanionSuffixes) taken = taken || QFile::exists(name + QLatin1String(suffix));
        if (!taken) return name;
    }
}

// Moves a damaged file and its companions to `<path>.damaged-<yyyyMMdd-hhmmss>[-n]`; returns the
// new name of the main file. Never deletes: when a rename fails, those already done are undone.
QString moveAside(const QString& path) {
    const QString stamp = QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-hhmmss"));
    const QString target = freeName(path + QStringLiteral(".damaged-") + stamp);
    // Companions first: a stale WAL left beside a fresh database would be replayed into it.
    std::vector<std::pair<QString, QString>> moves;
    for (const char* suffix : kCompanionSuffixes)
        if (QFile::exists(path + QLatin1String(suffix))) moves.emplace_back(path + QLatin1String(suffix), target + QLatin1String(suffix));
    moves.emplace_back(path, target);
    for (std::size_t i = 0; i < moves.size(); ++i) {
        if (QFile::rename(moves[i].first, moves[i].second)) continue;
        for (std::size_t undo = i; undo-- > 0;) QFile::rename(moves[undo].second, moves[undo].first);
        throw StorageError(QStringLiteral("cannot move the damaged database %1 aside to %2")
                               .arg(moves[i].first, moves[i].second).toStdString());
    }
    return target;
}

QString freeBackupPath(const QString& path, int version) {
    QString candidate = QStringLiteral("%1.v%2.bak").arg(path).arg(version);
    for (int attempt = 2; QFile::exists(candidate); ++attempt)
        candidate = QStringLiteral("%1.v%2.%3.bak").arg(path).arg(version).arg(attempt);
    return candidate;
}

qint64 nextId(sqlite3* db, const char* sql) {
    Statement statement(db, sql);
    return statement.step() ? statement.int64(0) + 1 : 1;
}

void removeWithCompanions(const QString& path) {
    QFile::remove(path);
    for (const char* suffix : kCompanionSuffixes) QFile::remove(path + QLatin1String(suffix));
}

void recordSalvage(Database::OpenReport& report, const SalvageCounts& counts) {
    report.salvaged = true;
    report.messagesRecovered = counts.messagesRecovered;
    report.messagesKnown = counts.messagesKnown;
    report.conversationsRecovered = counts.conversationsRecovered;
    report.conversationsKnown = counts.conversationsKnown;
    report.salvageComplete = counts.complete();
}

// Copies what can be read of the damaged `path` into a fresh file, which then takes its place;
// the damaged file and its companions are kept aside. The fresh file is written and closed
// before anything is moved, so a failure leaves `path` as it was found. Throws SqliteError when
// not even the schema can be read (the caller then only moves the file aside).
void salvageToFreshFile(const QString& path, int version, Database::OpenReport& report) {
    const QString fresh = freeName(path + QStringLiteral(".salvage"));
    SalvageCounts counts;
    try {
        Connection source(openConnection(path, Access::ReadOnly));
        Connection target(openConnection(fresh));
        applyConnectionPragmas(target.get());
        counts = salvageRows(source.get(), target.get(), version);
    } catch (...) {
        removeWithCompanions(fresh); // ours, half written
        throw;
    }
    report.damagedCopyPath = moveAside(path);
    if (!QFile::rename(fresh, path)) {
        // Put the damaged file back rather than leave no history at all.
        QFile::rename(report.damagedCopyPath, path);
        for (const char* suffix : kCompanionSuffixes)
            QFile::rename(report.damagedCopyPath + QLatin1String(suffix), path + QLatin1String(suffix));
        removeWithCompanions(fresh);
        throw StorageError(QStringLiteral("cannot put the repaired database %1 in place of %2").arg(fresh, path).toStdString());
    }
    recordSalvage(report, counts);
    qWarning("storage: %s was salvaged: %lld of %lld messages in %lld of %lld conversations; the damaged file was kept as %s",
             qPrintable(path), static_cast<long long>(counts.messagesRecovered), static_cast<long long>(counts.messagesKnown),
             static_cast<long long>(counts.conversationsRecovered), static_cast<long long>(counts.conversationsKnown),
             qPrintable(report.damagedCopyPath));
}

// Repairs a damaged file found by inspect(): rebuilt in place when only derived data was
// broken, else salvaged into a fresh file, else (schema unreadable, not ours) moved aside.
void repairOrQuarantine(const QString& path, const Inspection& damaged, Database::OpenReport& report) {
    report.damageDescription = damaged.damage;
    if (salvageable(damaged.version)) {
        if (rebuildDerivedInPlace(path)) {
            qWarning("storage: %s was damaged (%s); its indexes were rebuilt in place", qPrintable(path), qPrintable(damaged.damage));
            report.repairedInPlace = true;
            return;
        }
        try {
            salvageToFreshFile(path, damaged.version, report);
            return;
        } catch (const SqliteError& error) {
            if (error.isWriteRefusal()) throw;
            qWarning("storage: nothing could be salvaged from %s: %s", qPrintable(path), error.what());
        }
    }
    qWarning("storage: %s is damaged (%s); it is moved aside and a new database is started", qPrintable(path),
             qPrintable(damaged.damage));
    report.damagedCopyPath = moveAside(path);
}

// Why `path` cannot be written, from the file system's own answer; empty when it can (as far
// as can be told before trying: SQLite's own refusals are caught later).
QString writeBlocker(const QString& path) {
    const QFileInfo info(path);
    const QString folder = info.absolutePath();
    // "<what> is on a read-only file system", "<what> cannot be written: permission denied".
    const auto blocked = [](const QString& what, int error) {
        if (error == EROFS) return QStringLiteral("%1 is on a read-only file system").arg(what);
        return QStringLiteral("%1 cannot be written: %2").arg(what, QString::fromLocal8Bit(std::strerror(error)));
    };
    if (!QDir().mkpath(folder)) return QStringLiteral("the folder %1 cannot be created").arg(QDir::toNativeSeparators(folder));
    if (::access(QFile::encodeName(folder).constData(), W_OK) != 0)
        return blocked(QStringLiteral("the folder %1").arg(QDir::toNativeSeparators(folder)), errno);
    for (const QString& file : {path, path + QStringLiteral("-wal"), path + QStringLiteral("-shm")})
        if (QFileInfo::exists(file) && ::access(QFile::encodeName(file).constData(), W_OK) != 0)
            return blocked(QDir::toNativeSeparators(file), errno);
    return QString();
}

// SQLite's refusal, said in the user's terms where the cause is plain: a full disk shows as an
// I/O error when even the -shm cannot grow.
QString describeRefusal(const QString& path, const SqliteError& error) {
    const QString folder = QFileInfo(path).absolutePath();
    struct statvfs disk {};
    constexpr unsigned long long kNearlyFull = 1024 * 1024;
    if (::statvfs(QFile::encodeName(folder).constData(), &disk) == 0 &&
        static_cast<unsigned long long>(disk.f_bavail) * disk.f_frsize < kNearlyFull)
        return QStringLiteral("the disk holding %1 is full (%2)").arg(QDir::toNativeSeparators(folder), QString::fromUtf8(error.what()));
    return QString::fromUtf8(error.what());
}

struct Opened {
    Connection connection;
    Database::OpenReport report;
};

void markInterrupted(sqlite3* db, Database::OpenReport& report) {
    inTransaction(db, QStringLiteral("marking interrupted answers"), [&] {
        Statement interrupted(db, "UPDATE messages SET status = 'stopped', stop_reason = ?1 WHERE status = 'streaming'");
        report.interruptedMessages = interrupted.bind(1, QString::fromLatin1(kStopReasonInterrupted)).run();
    });
}

Opened openWritable(const QString& path) {
    Opened result;
    Inspection inspection = inspect(path);
    if (!inspection.damage.isEmpty()) {
        repairOrQuarantine(path, inspection, result.report);
        inspection = inspect(path);
        if (!inspection.connection)
            throw StorageError(QStringLiteral("the database at %1 cannot be started anew: %2").arg(path, inspection.damage).toStdString());
    }
    sqlite3* db = inspection.connection.get();
    result.report.foundVersion = inspection.version;

    if (result.report.foundVersion >= 1 && result.report.foundVersion < Database::kSchemaVersion) {
        result.report.backupPath = freeBackupPath(path, result.report.foundVersion);
        backupTo(db, result.report.backupPath);
        qInfo("storage: %s is at schema %d; a copy was saved as %s before migrating", qPrintable(path),
              result.report.foundVersion, qPrintable(result.report.backupPath));
    }
    applyConnectionPragmas(db);
    migrate(db, result.report.foundVersion, Database::kSchemaVersion);
    markInterrupted(db, result.report);
    result.connection = std::move(inspection.connection);
    return result;
}

// A connection that reads `path` without writing anything beside it: mode=ro when the -shm of a
// WAL file exists or can be made, else immutable (read-only media: a -wal there is not read).
Connection openReadable(const QString& path) {
    try {
        Connection connection(openConnection(path, Access::ReadOnly));
        Statement(connection.get(), "SELECT count(*) FROM sqlite_schema").step();
        return connection;
    } catch (const SqliteError& error) {
        if (error.isDamage()) return Connection(openConnection(path, Access::ReadOnly)); // findDamage says what
        qInfo("storage: %s cannot be read in place (%s); it is read as immutable", qPrintable(path), error.what());
    }
    return Connection(openConnection(path, Access::Immutable));
}

bool hasStreamingAnswers(sqlite3* db) {
    try {
        Statement statement(db, "SELECT 1 FROM messages WHERE status = 'streaming' LIMIT 1");
        return statement.step();
    } catch (const SqliteError&) {
        return false;
    }
}

Opened openReadOnly(const QString& path, const QString& reason) {
    Opened result;
    result.report.readOnly = true;
    result.report.readOnlyReason = reason;
    int version = 0;
    if (QFileInfo(path).size() > 0) {
        Connection file = openReadable(path);
        const QString damage = findDamage(file.get(), path, version);
        result.report.foundVersion = version;
        if (damage.isEmpty() && version == Database::kSchemaVersion && !hasStreamingAnswers(file.get())) {
            result.connection = std::move(file); // nothing to change: the file itself is read
        } else {
            // It needs changing before it can be shown (migration, repair, interrupted answers):
            // that happens in memory, and nothing is moved aside or replaced.
            result.connection.reset(openConnection(QString(), Access::Memory));
            if (damage.isEmpty()) {
                copyDatabase(file.get(), result.connection.get(), QStringLiteral("reading %1 into memory").arg(path));
            } else {
                result.report.damageDescription = damage;
                try {
                    if (!salvageable(version)) throw SqliteError(damage, SQLITE_NOTADB);
                    recordSalvage(result.report, salvageRows(file.get(), result.connection.get(), version));
                } catch (const SqliteError& error) {
                    qWarning("storage: nothing could be salvaged from %s: %s", qPrintable(path), error.what());
                    result.connection.reset(openConnection(QString(), Access::Memory));
                    version = 0;
                }
            }
        }
    }
    if (!result.connection) result.connection.reset(openConnection(QString(), Access::Memory));
    sqlite3* db = result.connection.get();
    if (sqlite3_db_readonly(db, "main") != 1) { // in memory: brought up to date, then frozen
        migrate(db, version, Database::kSchemaVersion);
        markInterrupted(db, result.report);
    }
    exec(db, "PRAGMA query_only = 1;", QStringLiteral("making the history read-only"));
    return result;
}

void finishOpen(Opened& opened, Database::OpenReport& report, sqlite3*& db) {
    sqlite3* connection = opened.connection.get();
    opened.report.nextConversationId = nextId(connection, "SELECT coalesce(max(id), 0) FROM conversations");
    opened.report.nextMessageId = nextId(connection, "SELECT coalesce(max(id), 0) FROM messages");
    report = opened.report;
    db = opened.connection.release();
}

} // namespace

std::unique_ptr<Database> Database::unavailable(const QString& reason) {
    std::unique_ptr<Database> database(new Database);
    Opened opened = openReadOnly(QString(), reason);
    finishOpen(opened, database->report_, database->db_);
    return database;
}

Database::Database(const QString& path) : path_(path) {
    Opened opened;
    QString refusal = writeBlocker(path);
    if (refusal.isEmpty()) {
        try {
            opened = openWritable(path);
        } catch (const SqliteError& error) {
            if (!error.isWriteRefusal()) throw;
            refusal = describeRefusal(path, error);
        }
    }
    if (!opened.connection) {
        qWarning("storage: %s cannot be written (%s); the history is opened read-only", qPrintable(path), qPrintable(refusal));
        opened = openReadOnly(path, refusal);
    }
    finishOpen(opened, report_, db_);
}
