// Repair of a damaged latent.db: rebuilding what is derived in place, and salvaging rows.
//
// Salvage reads each table by rowid in runs it can restart (RowWalker below): a row whose record
// cannot be read is skipped by its rowid; the rowids on a page that cannot be reached are
// probed through until readable pages are found again on both sides, so one bad page loses
// only the rows on it. Every value is copied as it is (type and bytes: the reads cope with odd
// ones); CHECK and foreign-key constraints are not applied while copying, so a row the app can
// still show is never dropped for a bad value or a lost parent.
//
// What existed is estimated from every trace the file keeps besides the table itself: the
// entries of messages_by_conversation and of the FTS5 doc-size tables, so a report can say
// "118 of 120 messages".
#include "storage/sqlite_support.h"

#include <QDebug>
#include <QSet>
#include <QStringList>

#include <algorithm>
#include <functional>
#include <limits>
#include <optional>
#include <queue>

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

// A write into the new file that failed (a full disk): the salvage stops, it never carries on
// to replace the damaged file with an incomplete copy.
class TargetWriteError : public SqliteError {
public:
    using SqliteError::SqliteError;
};

// Runs `body`, which reads the damaged file; true when it finished, false when a read failed —
// damage, but also an I/O error or a record too big to read: each only skips what it hides.
bool readsCleanly(const std::function<void()>& body) {
    try {
        body();
        return true;
    } catch (const TargetWriteError&) {
        throw;
    } catch (const SqliteError&) {
        return false;
    }
}

// Reads the rows of one rowid table of the damaged file around the pages that cannot be read.
//
// Rows are read in runs: ascending from a start, descending from an end, each run ending at the
// first rowid whose b-tree page cannot be reached. A row whose own record cannot be read (a
// broken overflow chain) is skipped alone and counted lost. What lies between the ends of two
// runs is searched for a rowid whose page can be reached (reachableNear); two more runs start
// there, up and down, and what they leave is searched again. A probe budget bounds the whole
// walk (a damaged root page leaves 2^64 rowids to try).
class RowWalker {
public:
    RowWalker(sqlite3* db, const QByteArray& table, const QByteArray& columns, std::function<void(const Statement&)> row)
        : row_(std::move(row)),
          up_(db, ("SELECT rowid, " + columns + " FROM " + table + " WHERE rowid BETWEEN ?1 AND ?2 ORDER BY rowid").constData()),
          down_(db, ("SELECT rowid, " + columns + " FROM " + table + " WHERE rowid BETWEEN ?2 AND ?1 ORDER BY rowid DESC").constData()),
          one_(db, ("SELECT rowid, " + columns + " FROM " + table + " WHERE rowid = ?1").constData()),
          probeUp_(db, ("SELECT rowid FROM " + table + " WHERE rowid >= ?1 ORDER BY rowid LIMIT 1").constData()),
          probeDown_(db, ("SELECT rowid FROM " + table + " WHERE rowid <= ?1 ORDER BY rowid DESC LIMIT 1").constData()) {}

    qint64 lostRows() const { return lost_; }
    int unreadableSpans() const { return unreadableSpans_; }

    void walk() {
        const std::optional<qint64> firstGap = run(true, kMinRowid, kMaxRowid);
        if (!firstGap) return;
        const std::optional<qint64> lastGap = run(false, kMaxRowid, *firstGap);
        // Spans of rowids not yet read. Those met by reading (a run ended there) come before the
        // stretches left over by a search that found nothing (depth), smaller ones first: the
        // probe budget goes where readable rows are likely.
        const auto later = [](const Span& a, const Span& b) {
            return a.depth != b.depth ? a.depth > b.depth : size(a) > size(b);
        };
        std::priority_queue<Span, std::vector<Span>, decltype(later)> spans(later);
        spans.push({*firstGap, lastGap.value_or(*firstGap), 0});
        while (!spans.empty()) {
            const Span span = spans.top();
            spans.pop();
            if (budget_ <= 0) {
                ++unreadableSpans_;
                continue;
            }
            std::vector<Span> untried;
            const std::optional<Start> start = reachableNear(span, untried);
            if (!start) {
                if (untried.empty()) ++unreadableSpans_;
                for (const Span& gap : untried) spans.push(gap);
                continue;
            }
            // Two runs from there: one up to the span's top, one down to its bottom.
            const qint64 at = start->rowid;
            std::optional<qint64> above, below;
            if (start->ascending || at < span.high) above = run(true, start->ascending ? at : at + 1, span.high);
            if (!start->ascending || at > span.low) below = run(false, start->ascending ? at - 1 : at, span.low);
            if (below) spans.push({span.low, *below, span.depth});
            if (above) spans.push({*above, span.high, span.depth});
        }
    }

private:
    static constexpr int kProbeBudget = 20'000;

    struct Span {
        qint64 low, high; // inclusive
        int depth;        // searches that found nothing on the way to it
    };
    static quint64 size(const Span& span) { return static_cast<quint64>(span.high) - static_cast<quint64>(span.low); }

    struct Start {
        qint64 rowid;
        bool ascending; // the b-tree can be searched upwards from rowid (else downwards)
    };

    // Whether the b-tree can be searched from `start` in the probe's direction; `found` is the
    // first rowid there.
    bool reachable(Statement& probe, qint64 start, std::optional<qint64>& found) {
        --budget_;
        probe.reset();
        const bool clean = readsCleanly([&] {
            probe.bind(1, start);
            found = probe.step() ? std::optional<qint64>(probe.int64(0)) : std::nullopt;
        });
        probe.reset();
        return clean;
    }

    // A rowid of `span` from which the b-tree can be searched. A vast span (its ends may be
    // ±2^63 when the first or last page is lost) is first tried at 0, ±1, ±2, ±4, …, where
    // rowids live; then from both ends at distances 0, 1, 3, 7, … : readable pages beside a
    // damaged one are found in a few probes. When nothing is found, the stretches between the
    // rowids tried are `untried`, each to be searched the same way: a readable run that a long
    // stride jumped over is still found.
    std::optional<Start> reachableNear(const Span& span, std::vector<Span>& untried) {
        std::vector<qint64> tried;
        std::optional<qint64> next;
        if (size(span) > (quint64(1) << 16)) {
            std::vector<qint64> landmarks{0};
            for (int bit = 0; bit < 63; ++bit) landmarks.insert(landmarks.end(), {qint64(1) << bit, -(qint64(1) << bit)});
            for (const qint64 landmark : landmarks) {
                if (landmark <= span.low || landmark >= span.high || budget_ <= 0) continue;
                if (reachable(probeUp_, landmark, next)) return Start{landmark, true};
                tried.push_back(landmark);
            }
        }
        qint64 up = span.low;
        qint64 down = span.high;
        for (quint64 stride = 1; budget_ > 0; stride = stride >= (quint64(1) << 62) ? stride : stride * 2) {
            if (reachable(probeUp_, up, next)) return Start{up, true};
            tried.push_back(up);
            if (up == down) break;
            if (reachable(probeDown_, down, next)) return Start{down, false};
            tried.push_back(down);
            const quint64 room = static_cast<quint64>(down) - static_cast<quint64>(up);
            if (room <= 2 * stride) break; // the two searches have met
            up = static_cast<qint64>(static_cast<quint64>(up) + stride);
            down = static_cast<qint64>(static_cast<quint64>(down) - stride);
        }
        std::sort(tried.begin(), tried.end());
        tried.erase(std::unique(tried.begin(), tried.end()), tried.end());
        for (std::size_t i = 0; i + 1 < tried.size(); ++i)
            if (static_cast<quint64>(tried[i + 1]) - static_cast<quint64>(tried[i]) > 1)
                untried.push_back({tried[i] + 1, tried[i + 1] - 1, span.depth + 1});
        return std::nullopt;
    }

    // Reads the rows from `from` towards `to` (inclusive, ascending or not); nullopt when it got
    // there, else the rowid whose page could not be reached (every row before it was read).
    std::optional<qint64> run(bool ascending, qint64 from, qint64 to) {
        Statement& scan = ascending ? up_ : down_;
        for (;;) {
            scan.reset();
            bool done = false;
            const bool clean = readsCleanly([&] {
                scan.bind(1, from).bind(2, to);
                while (scan.step()) {
                    const qint64 rowid = scan.int64(0);
                    row_(scan);
                    if (rowid == to) break;
                    from = ascending ? rowid + 1 : rowid - 1;
                }
                done = true;
            });
            scan.reset();
            if (clean && done) return std::nullopt;
            std::optional<qint64> next;
            if (!reachable(ascending ? probeUp_ : probeDown_, from, next)) {
                ++unreadableSpans_;
                return from;
            }
            if (!next || (ascending ? *next > to : *next < to)) return std::nullopt;
            // The row at `next` is there but its record cannot be read: it alone is lost.
            one_.reset();
            if (!readsCleanly([&] {
                    one_.bind(1, *next);
                    if (one_.step()) row_(one_);
                }))
                ++lost_;
            one_.reset();
            if (*next == to) return std::nullopt;
            from = ascending ? *next + 1 : *next - 1;
        }
    }

    std::function<void(const Statement&)> row_;
    Statement up_, down_, one_, probeUp_, probeDown_;
    int budget_ = kProbeBudget;
    qint64 lost_ = 0;
    int unreadableSpans_ = 0;
};

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
        try {
            for (int i = 0; i < count; ++i) insert.bindValue(i + 1, row.value(i + offset));
            insert.run();
            ++result.copied;
            if (offset == 1) result.ids.insert(row.int64(0));
            if (conversationColumn >= 0) result.conversations.insert(row.int64(conversationColumn + offset));
        } catch (const SqliteError& error) {
            if (error.isWriteRefusal()) throw TargetWriteError(QString::fromUtf8(error.what()), error.code());
            qWarning("storage: a row of %s could not be copied: %s", qPrintable(table), error.what());
            ++result.lost;
        }
        insert.reset();
    };
    if (hasRowid(source, name)) {
        RowWalker walker(source, name, selected, [&](const Statement& row) { copyRow(row, 1); });
        walker.walk();
        result.lost += walker.lostRows();
        unreachableRanges += walker.unreadableSpans();
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
        const QString damage = findDamage(db.get(), path, version);
        sound = damage.isEmpty();
        if (sound) transaction.commit(); // else rolled back: the file stays as it was found
        else qInfo("storage: rebuilding the indexes of %s did not make it sound: %s", qPrintable(path), qPrintable(damage));
    } catch (const SqliteError& error) {
        if (error.isWriteRefusal()) throw;
        qInfo("storage: the indexes of %s cannot be rebuilt in place: %s", qPrintable(path), error.what());
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
