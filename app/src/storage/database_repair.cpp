// Repair of a damaged latent.db: rebuilding what is derived in place, and salvaging rows.
//
// Salvage walks each table in rowid order with short statements it can restart: a row whose
// record cannot be read is skipped by its rowid; a page that cannot be reached (its b-tree page
// is noise) is stepped over by probing for the first rowid after it that can be reached
// (doubling the stride, then bisecting), so one bad page loses only the rows on it. Every value
// is copied as it is (type and bytes: the reads cope with odd ones); CHECK constraints are not
// applied while copying, so a row the app can still show is never dropped for a bad value.
//
// What existed is estimated from every trace the file keeps besides the table itself: the
// entries of messages_by_conversation and of the FTS5 doc-size tables, so a report can say
// "118 of 120 messages".
#include "storage/sqlite_support.h"

#include <QDebug>
#include <QSet>
#include <QStringList>

#include <functional>
#include <limits>
#include <optional>

namespace storage_detail {
namespace {

constexpr qint64 kMaxRowid = std::numeric_limits<qint64>::max();
constexpr qint64 kMinRowid = std::numeric_limits<qint64>::min();

// Names of the FTS5 tables of `db`.
QStringList ftsTables(sqlite3* db) {
    Statement statement(db, "SELECT name FROM sqlite_schema WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%fts5%'");
    QStringList names;
    while (statement.step()) names << statement.text(0);
    return names;
}

void rebuildFts(sqlite3* db) {
    for (const QString& table : ftsTables(db)) {
        const QByteArray name = quotedIdentifier(table);
        const QByteArray sql = "INSERT INTO " + name + "(" + name + ") VALUES ('rebuild')";
        exec(db, sql.constData(), QStringLiteral("rebuilding the search index %1").arg(table));
    }
}

// Runs `body`; true when it finished, false when it met damage. Other errors go on.
bool readsCleanly(const std::function<void()>& body) {
    try {
        body();
        return true;
    } catch (const SqliteError& error) {
        if (!error.isDamage()) throw;
        return false;
    }
}

// Calls `row` with every readable row of the rowid table `table` (selecting `columns`, rowid
// first), in rowid order; returns the number of rows found but unreadable and adds the number
// of unreachable runs of rows to `unreachableRanges`.
qint64 walkRows(sqlite3* db, const QByteArray& table, const QByteArray& columns, int& unreachableRanges,
                const std::function<void(const Statement&)>& row) {
    const QByteArray scanSql = "SELECT rowid, " + columns + " FROM " + table + " WHERE rowid >= ?1 ORDER BY rowid";
    const QByteArray oneSql = "SELECT rowid, " + columns + " FROM " + table + " WHERE rowid = ?1";
    const QByteArray probeSql = "SELECT rowid FROM " + table + " WHERE rowid >= ?1 ORDER BY rowid LIMIT 1";
    // Whether the b-tree can be searched from `start`; sets `next` to the first rowid there.
    const auto reachable = [&](qint64 start, std::optional<qint64>& next) {
        return readsCleanly([&] {
            Statement probe(db, probeSql.constData());
            probe.bind(1, start);
            next = probe.step() ? std::optional<qint64>(probe.int64(0)) : std::nullopt;
        });
    };
    qint64 lost = 0;
    qint64 from = kMinRowid;
    for (;;) {
        bool finished = false;
        const bool clean = readsCleanly([&] {
            Statement scan(db, scanSql.constData());
            scan.bind(1, from);
            while (scan.step()) {
                const qint64 rowid = scan.int64(0);
                row(scan);
                if (rowid == kMaxRowid) break;
                from = rowid + 1;
            }
            finished = true;
        });
        if (clean && finished) return lost;

        std::optional<qint64> next;
        if (reachable(from, next)) {
            if (!next) return lost;
            // The row at `next` is there but its record cannot be read: it alone is lost.
            const bool read = readsCleanly([&] {
                Statement one(db, oneSql.constData());
                one.bind(1, *next);
                if (one.step()) row(one);
            });
            if (!read) ++lost;
            if (*next == kMaxRowid) return lost;
            from = *next + 1;
            continue;
        }
        // The page holding `from` is unreadable: find the first start past it that is not.
        ++unreachableRanges;
        qint64 bad = from;
        std::optional<qint64> good;
        for (qint64 stride = 1;; stride = stride > kMaxRowid / 2 ? kMaxRowid : stride * 2) {
            const qint64 candidate = bad > kMaxRowid - stride ? kMaxRowid : bad + stride;
            if (reachable(candidate, next)) {
                good = candidate;
                break;
            }
            if (candidate == kMaxRowid) return lost; // nothing after it can be reached
            bad = candidate;
        }
        while (*good - bad > 1) {
            const qint64 middle = bad + (*good - bad) / 2;
            if (reachable(middle, next)) good = middle;
            else bad = middle;
        }
        from = *good;
    }
}

// Every value of the first column of `sql`'s rows, as far as they can be read.
QSet<qint64> readableIds(sqlite3* db, const char* sql) {
    QSet<qint64> ids;
    try {
        Statement statement(db, sql);
        while (statement.step()) ids.insert(statement.int64(0));
    } catch (const SqliteError&) {
        // A damaged index or one this schema version lacks: what was read so far still counts.
    }
    return ids;
}

struct Column {
    QString name;
    bool notNull = false;
    QString defaultValue; // SQL text, from our own schema
};

std::vector<Column> columnsOf(sqlite3* db, const QString& table) {
    Statement statement(db, "SELECT name, \"notnull\", dflt_value FROM pragma_table_info(?1)");
    statement.bind(1, table);
    std::vector<Column> columns;
    while (statement.step()) columns.push_back({statement.text(0), statement.integer(1) != 0, statement.text(2)});
    return columns;
}

bool hasRowid(sqlite3* db, const QByteArray& table) {
    try {
        Statement(db, ("SELECT rowid FROM " + table + " LIMIT 0").constData());
        return true;
    } catch (const SqliteError&) {
        return false; // WITHOUT ROWID
    }
}

struct TableCopy {
    qint64 copied = 0;
    qint64 lost = 0;
    QSet<qint64> ids;           // rowids copied
    QSet<qint64> conversations; // messages only: their conversation ids
};

// Copies the readable rows of `table` from `source` into the table of the same name in
// `target` (created there from the source's SQL when the target's schema lacks it).
TableCopy copyTable(sqlite3* source, sqlite3* target, const QString& table, const QString& createSql, int& unreachableRanges) {
    TableCopy result;
    std::vector<Column> targetColumns = columnsOf(target, table);
    if (targetColumns.empty()) {
        if (!createSql.startsWith(QLatin1String("CREATE TABLE"), Qt::CaseInsensitive)) return result;
        exec(target, createSql.toUtf8().constData(), QStringLiteral("creating the table %1").arg(table));
        targetColumns = columnsOf(target, table);
    }
    QStringList sourceNames;
    for (const Column& column : columnsOf(source, table)) sourceNames << column.name;
    QByteArray selected, inserted, values;
    int count = 0;
    int conversationColumn = -1;
    for (const Column& column : targetColumns) {
        if (!sourceNames.contains(column.name)) continue;
        const QByteArray name = quotedIdentifier(column.name);
        if (count > 0) selected += ", ", inserted += ", ", values += ", ";
        selected += name;
        inserted += name;
        // A NULL where the schema forbids one takes the column's default (or ''), so the row
        // is kept; the reads treat '' like an absent value.
        const QByteArray parameter = '?' + QByteArray::number(count + 1);
        values += column.notNull ? "coalesce(" + parameter + ", " +
                                       (column.defaultValue.isEmpty() ? QByteArray("''") : column.defaultValue.toUtf8()) + ")"
                                 : parameter;
        if (table == QLatin1String("messages") && column.name == QLatin1String("conversation_id")) conversationColumn = count;
        ++count;
    }
    if (count == 0) return result;
    const QByteArray name = quotedIdentifier(table);
    Statement insert(target, ("INSERT OR REPLACE INTO main." + name + " (" + inserted + ") VALUES (" + values + ")").constData());
    const auto copyRow = [&](const Statement& row, int offset) {
        for (int i = 0; i < count; ++i) insert.bindValue(i + 1, row.value(i + offset));
        try {
            insert.run();
            ++result.copied;
            if (offset == 1) result.ids.insert(row.int64(0));
            if (conversationColumn >= 0) result.conversations.insert(row.int64(conversationColumn + offset));
        } catch (const SqliteError& error) {
            qWarning("storage: a row of %s could not be copied: %s", qPrintable(table), error.what());
            ++result.lost;
        }
        insert.reset();
    };
    if (hasRowid(source, name)) {
        result.lost += walkRows(source, name, selected, unreachableRanges, [&](const Statement& row) { copyRow(row, 1); });
    } else {
        // No rowid to restart from: rows are read in one pass, up to the first damage.
        if (!readsCleanly([&] {
                Statement scan(source, ("SELECT " + selected + " FROM " + name).constData());
                while (scan.step()) copyRow(scan, 0);
            }))
            ++unreachableRanges;
    }
    return result;
}

} // namespace

bool rebuildDerivedInPlace(const QString& path) {
    Connection db(openConnection(path));
    bool sound = false;
    try {
        Transaction transaction(db.get());
        rebuildFts(db.get());
        exec(db.get(), "REINDEX", QStringLiteral("rebuilding the indexes"));
        int version = 0;
        sound = findDamage(db.get(), path, version).isEmpty();
        if (sound) transaction.commit(); // else rolled back: the file stays as it was found
    } catch (const SqliteError& error) {
        if (error.isWriteRefusal()) throw;
        sound = false;
    }
    if (sound) db.reset();
    else closeUntouched(std::move(db));
    return sound;
}

SalvageCounts salvageRows(sqlite3* source, sqlite3* target, int version) {
    migrate(target, 0, version);
    // Tables that hold rows: not the virtual tables, nor their shadow tables (derived; rebuilt).
    Statement schema(source, "SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                             "ORDER BY rootpage");
    std::vector<std::pair<QString, QString>> tables;
    QStringList virtualTables;
    while (schema.step()) {
        tables.emplace_back(schema.text(0), schema.text(1));
        if (tables.back().second.startsWith(QLatin1String("CREATE VIRTUAL TABLE"), Qt::CaseInsensitive)) virtualTables << schema.text(0);
    }
    const auto derived = [&](const QString& table) {
        for (const QString& owner : virtualTables)
            if (table == owner || table.startsWith(owner + QLatin1Char('_'))) return true;
        return false;
    };

    SalvageCounts counts;
    QSet<qint64> messageIds, conversationIds, messageConversations;
    // A message whose conversation row was lost is kept (a placeholder follows), and so is a
    // row with a value the schema's CHECKs reject (the reads cope with it).
    exec(target, "PRAGMA foreign_keys = OFF; PRAGMA ignore_check_constraints = ON; BEGIN IMMEDIATE;",
         QStringLiteral("starting the salvage"));
    for (const auto& [table, sql] : tables) {
        if (derived(table)) continue;
        TableCopy copy;
        try {
            copy = copyTable(source, target, table, sql, counts.unreachableRanges);
        } catch (const SqliteError& error) {
            if (error.isWriteRefusal()) throw;
            qWarning("storage: the table %s could not be salvaged: %s", qPrintable(table), error.what());
            ++counts.unreachableRanges;
        }
        if (table == QLatin1String("messages")) {
            messageIds = copy.ids;
            messageConversations = copy.conversations;
            counts.messagesRecovered = messageIds.size();
        } else if (table == QLatin1String("conversations")) {
            conversationIds = copy.ids;
        } else {
            counts.otherRowsLost += copy.lost;
        }
    }
    // Messages whose conversation row was lost stay reachable under a placeholder.
    counts.placeholderConversations = (messageConversations - conversationIds).size();
    exec(target, R"sql(
        INSERT INTO conversations (id, title, created_at, updated_at)
        SELECT conversation_id, 'Recovered conversation', min(created_at), max(created_at)
          FROM messages WHERE conversation_id NOT IN (SELECT id FROM conversations)
         GROUP BY conversation_id;
    )sql", QStringLiteral("adding placeholder conversations"));
    rebuildFts(target);
    exec(target, "COMMIT; PRAGMA ignore_check_constraints = OFF; PRAGMA foreign_keys = ON;",
         QStringLiteral("committing the salvage"));

    // What existed: the rows read plus every trace of one elsewhere in the file.
    QSet<qint64> knownMessages = messageIds;
    knownMessages.unite(readableIds(source, "SELECT id FROM messages INDEXED BY messages_by_conversation"));
    knownMessages.unite(readableIds(source, "SELECT id FROM message_fts_docsize"));
    QSet<qint64> knownConversations = conversationIds;
    knownConversations.unite(messageConversations);
    knownConversations.unite(
        readableIds(source, "SELECT DISTINCT conversation_id FROM messages INDEXED BY messages_by_conversation"));
    knownConversations.unite(readableIds(source, "SELECT id FROM conversation_fts_docsize"));
    counts.messagesKnown = knownMessages.size();
    counts.conversationsKnown = knownConversations.size();
    Statement recovered(target, "SELECT count(*) FROM conversations");
    counts.conversationsRecovered = recovered.step() ? recovered.int64(0) : 0;
    return counts;
}

} // namespace storage_detail
