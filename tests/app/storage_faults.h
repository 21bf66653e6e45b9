// Helpers for the storage fault tests (test_storage_repair, test_read_only_history): a seeded
// history written through Database, the pages of one b-tree as SQLite's dbstat sees them, a
// table leaf page's rowids parsed from the bytes (an oracle independent of SQLite), and folders
// or files that not even root can write (a read-only tmpfs or bind mount; chmod for others).
#pragma once

#include "storage/database.h"

#include "test_random.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QMap>
#include <QProcess>
#include <QRandomGenerator>
#include <QStringList>
#include <QTemporaryDir>
#include <QtGlobal>

#include <sqlite3.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <vector>

#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

namespace storage_faults {

constexpr qint64 kPageSize = 4096; // SQLite's default, which latent.db uses

// A fresh seed each run unless the variable `variable` fixes one; printed so that a failure can
// be replayed (the history's seed is LATENT_HISTORY_SEED, each test's damage LATENT_TEST_SEED).
inline uint32_t testSeed(const char* what, const char* variable = "LATENT_TEST_SEED") {
    bool fixed = false;
    const uint32_t env = qEnvironmentVariable(variable).toUInt(&fixed);
    const uint32_t seed = fixed ? env : QRandomGenerator::global()->generate();
    qInfo("%s: seed %u (replay with %s=%u)", what, seed, variable, seed);
    return seed;
}

// The first column of every row of `sql`, through a plain read-only connection of our own.
inline QList<qint64> rawIntegers(const QString& path, const char* sql) {
    sqlite3* db = nullptr;
    QList<qint64> values;
    std::string error;
    if (sqlite3_open_v2(QFile::encodeName(path).constData(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
        sqlite3_stmt* statement = nullptr;
        if (sqlite3_prepare_v2(db, sql, -1, &statement, nullptr) == SQLITE_OK) {
            while (sqlite3_step(statement) == SQLITE_ROW) values << sqlite3_column_int64(statement, 0);
        }
        if (sqlite3_errcode(db) != SQLITE_OK && sqlite3_errcode(db) != SQLITE_DONE) error = sqlite3_errmsg(db);
        sqlite3_finalize(statement);
    } else {
        error = sqlite3_errmsg(db);
    }
    sqlite3_close(db);
    if (!error.empty()) throw std::runtime_error(std::string(sql) + ": " + error);
    return values;
}

// Runs `sql` on a plain read-write connection of our own (tampering behind the app's back);
// "" when it worked, else SQLite's message.
inline QString rawExec(const QString& path, const char* sql) {
    sqlite3* db = nullptr;
    QString error;
    char* message = nullptr;
    if (sqlite3_open(QFile::encodeName(path).constData(), &db) != SQLITE_OK || sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK)
        error = QString::fromUtf8(message ? message : sqlite3_errmsg(db));
    sqlite3_free(message);
    sqlite3_close(db);
    return error;
}

inline QByteArray readFile(const QString& path) {
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

// Pages of the b-tree `name` (a table or an index); `type`: "leaf", "internal", "overflow" or
// "" for all. Read with dbstat before the damage is done.
inline QList<qint64> pagesOf(const QString& path, const QString& name, const QString& type = {}) {
    QString sql = QStringLiteral("SELECT pageno FROM dbstat WHERE name = '%1'").arg(name);
    if (!type.isEmpty()) sql += QStringLiteral(" AND pagetype = '%1'").arg(type);
    return rawIntegers(path, (sql + QStringLiteral(" ORDER BY pageno")).toUtf8().constData());
}

inline QByteArray readPage(const QString& path, qint64 page) {
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly) || !file.seek((page - 1) * kPageSize)) return {};
    return file.read(kPageSize);
}

inline bool writeAt(const QString& path, qint64 offset, const QByteArray& bytes) {
    QFile file(path);
    return file.open(QIODevice::ReadWrite) && file.seek(offset) && file.write(bytes) == bytes.size();
}

inline QByteArray noise(qsizetype size, latent::test::Random& random) {
    QByteArray bytes(size, '\0');
    for (char& byte : bytes) byte = static_cast<char>(random.byte());
    return bytes;
}

// A page of noise that reads as damaged: its first byte is no b-tree page type (2, 5, 10, 13).
// Noise that happens to start with one is parsed as a page, and what it seems to hold (rows
// with random rowids, links to random pages) cannot be told from real rows by any reader; a
// test that expects exact losses must not draw it.
inline QByteArray damagedPage(latent::test::Random& random) {
    QByteArray page = noise(kPageSize, random);
    while (page[0] == 2 || page[0] == 5 || page[0] == 10 || page[0] == 13) page[0] = static_cast<char>(random.byte());
    return page;
}

// The rowids on a table b-tree leaf page (type 0x0D), from the file format: the cell count at
// offset 3, the cell pointer array at offset 8, each cell a payload-size varint then a rowid
// varint. Empty for any other page type.
inline QList<qint64> leafRowids(const QByteArray& page) {
    const auto byte = [&](qsizetype i) { return i < page.size() ? static_cast<quint8>(page[i]) : quint8(0); };
    const auto varint = [&](qsizetype& at) {
        quint64 value = 0;
        for (int i = 0; i < 9; ++i) {
            const quint8 b = byte(at++);
            if (i == 8) return static_cast<qint64>((value << 8) | b);
            value = (value << 7) | (b & 0x7f);
            if (!(b & 0x80)) break;
        }
        return static_cast<qint64>(value);
    };
    QList<qint64> rowids;
    if (byte(0) != 0x0D) return rowids;
    const int cells = (byte(3) << 8) | byte(4);
    for (int cell = 0; cell < cells; ++cell) {
        qsizetype at = (byte(8 + 2 * cell) << 8) | byte(9 + 2 * cell);
        varint(at); // payload size
        rowids << varint(at);
    }
    return rowids;
}

// What writeHistory() stored, to compare against what is read back.
struct History {
    QMap<qint64, ConversationRecord> conversations;
    QMap<qint64, MessageRecord> messages;
};

// `conversations` conversations of `perConversation` messages each (ids from 1), text of
// seeded random words plus one word unique to the message ("only<id>z"), ~700 bytes each.
inline History buildHistory(const QString& path, uint32_t seed, int conversations, int perConversation) {
    static const char* const kWords[] = {"river", "summer", "banana", "printer", "garden", "violin", "harbour",
                                         "lantern", "pepper", "glacier", "orbit", "meadow", "copper", "thunder"};
    latent::test::Random random(seed);
    History history;
    Database db(path);
    qint64 messageId = 1;
    for (qint64 c = 1; c <= conversations; ++c) {
        ConversationRecord conversation;
        conversation.id = c;
        conversation.title = QStringLiteral("Conversation %1 about %2").arg(c).arg(QLatin1String(kWords[random.bits() % 14]));
        conversation.createdAt = c * 1000;
        conversation.updatedAt = c * 1000;
        db.insertConversation(conversation);
        history.conversations.insert(c, conversation);
        for (int m = 0; m < perConversation; ++m, ++messageId) {
            MessageRecord message;
            message.id = messageId;
            message.conversationId = c;
            message.role = m % 2 == 0 ? MessageRole::User : MessageRole::Assistant;
            QStringList words{QStringLiteral("only%1z").arg(messageId)};
            for (int w = 0; w < 90; ++w) words << QLatin1String(kWords[random.bits() % 14]) + QString::number(random.bits() % 1000);
            message.content = words.join(QLatin1Char(' '));
            message.createdAt = c * 1000 + m;
            db.insertMessage(message);
            history.conversations[c].updatedAt = std::max(history.conversations[c].updatedAt, message.createdAt);
            history.messages.insert(messageId, message);
        }
    }
    return history;
}

// The history of the run's seed (one per process, printed once), written through Database once
// per shape and copied for every further test (a few hundred committed transactions each time
// would dominate the suite's time).
inline History writeHistory(const QString& path, int conversations = 9, int perConversation = 13) {
    static const uint32_t seed = testSeed("history", "LATENT_HISTORY_SEED");
    static QTemporaryDir templates;
    static QMap<QString, History> built;
    const QString key = QStringLiteral("%1x%2").arg(conversations).arg(perConversation);
    const QString stored = templates.filePath(key + QStringLiteral(".db"));
    if (!built.contains(key)) built.insert(key, buildHistory(stored, seed, conversations, perConversation));
    if (!QFile::copy(stored, path)) throw std::runtime_error("cannot copy the history template to " + path.toStdString());
    return built.value(key);
}

// Runs a command; "" when it succeeded, else what it said.
inline QString run(const QString& program, const QStringList& arguments) {
    QProcess process;
    process.setProcessChannelMode(QProcess::MergedChannels);
    process.start(program, arguments);
    if (!process.waitForFinished(10'000)) return program + QStringLiteral(": did not finish");
    if (process.exitStatus() == QProcess::NormalExit && process.exitCode() == 0) return {};
    return program + QLatin1Char(' ') + arguments.join(QLatin1Char(' ')) + QStringLiteral(": ") +
           QString::fromLocal8Bit(process.readAll()).trimmed();
}

// As root, moves this process into a mount namespace of its own (before any thread starts: a
// namespace is per thread), so the tmpfs mounts of the tests vanish with it even when it
// crashes. Without it (not root, or no permission) the mounts are undone by their owners.
inline void isolateMounts() {
    if (::geteuid() != 0) return;
    if (::unshare(CLONE_NEWNS) != 0 || ::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        std::fprintf(stderr, "storage faults: no private mount namespace (%s); mounts are undone by the tests\n",
                     std::strerror(errno));
}

// A folder that can be filled and then made read-only for real. As root (where chmod stops
// nothing) it is a tmpfs mounted on `dir`, remounted read-only by protect(); otherwise the
// folder and its files lose their write bits. unavailable() says why neither works (the test
// then skips, saying so).
class ProtectedFolder {
public:
    explicit ProtectedFolder(const QString& dir, const QString& size = QStringLiteral("8m")) : dir_(dir) {
        if (::geteuid() != 0) return;
        problem_ = run(QStringLiteral("mount"), {QStringLiteral("-t"), QStringLiteral("tmpfs"), QStringLiteral("-o"),
                                                  QStringLiteral("size=") + size, QStringLiteral("tmpfs"), dir_});
        mounted_ = problem_.isEmpty();
    }
    ~ProtectedFolder() {
        for (const QString& file : boundFiles_) run(QStringLiteral("umount"), {QStringLiteral("-l"), file});
        if (mounted_) run(QStringLiteral("umount"), {QStringLiteral("-l"), dir_});
        else restoreModes();
    }
    ProtectedFolder(const ProtectedFolder&) = delete;
    ProtectedFolder& operator=(const ProtectedFolder&) = delete;

    QString unavailable() const {
        return problem_.isEmpty() ? QString() : QStringLiteral("cannot mount a read-only tmpfs as root (%1)").arg(problem_);
    }
    // The whole folder becomes read-only.
    bool protect() {
        if (mounted_)
            return run(QStringLiteral("mount"), {QStringLiteral("-o"), QStringLiteral("remount,ro"), dir_}).isEmpty();
        for (const QString& name : QDir(dir_).entryList(QDir::Files)) chmodded(dir_ + QLatin1Char('/') + name, 0444);
        return chmodded(dir_, 0555);
    }
    // Only `file` becomes read-only (a read-only bind mount of it over itself, as root).
    bool protectFile(const QString& file) {
        if (!mounted_) return chmodded(file, 0444);
        if (!run(QStringLiteral("mount"), {QStringLiteral("--bind"), file, file}).isEmpty()) return false;
        boundFiles_ << file;
        return run(QStringLiteral("mount"), {QStringLiteral("-o"), QStringLiteral("remount,ro,bind"), file}).isEmpty();
    }
    // The tmpfs is full: writes fail with ENOSPC (root only).
    bool fill() {
        if (!mounted_) return false;
        QFile filler(dir_ + QStringLiteral("/filler"));
        if (!filler.open(QIODevice::WriteOnly | QIODevice::Unbuffered)) return false;
        const QByteArray block(64 * 1024, 'f');
        while (filler.write(block) == block.size()) {
        }
        for (const QByteArray small(512, 'f'); filler.write(small) == small.size();) {
        }
        filler.close();
        return true;
    }

private:
    bool chmodded(const QString& path, unsigned mode) {
        changed_ << path;
        return ::chmod(QFile::encodeName(path).constData(), static_cast<mode_t>(mode)) == 0;
    }
    void restoreModes() {
        for (const QString& path : changed_) ::chmod(QFile::encodeName(path).constData(), QFileInfo(path).isDir() ? 0755 : 0644);
    }

    QString dir_;
    QString problem_;
    bool mounted_ = false;
    QStringList boundFiles_;
    QStringList changed_;
};

} // namespace storage_faults
