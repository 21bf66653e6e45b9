// Repair before quarantine: latent.db with pages of one b-tree overwritten by random bytes (fresh
// each run, the seed printed). Damage to what is derived (the FTS5 indexes, the b-tree index)
// loses nothing; damage to the messages table loses exactly the rows on the damaged pages (read
// from the page bytes before the damage, independently of SQLite) and the report says N of M;
// a damaged header is quarantined as before. The damaged file is always kept, byte for byte.
#include "controllers/app_controller.h"
#include "storage/database.h"

#include "storage_faults.h"

#include <QCoreApplication>
#include <QDir>
#include <QRegularExpression>
#include <QSet>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

using namespace storage_faults;

namespace {

// `count` distinct pages of `pages`, chosen at random.
QList<qint64> choose(QList<qint64> pages, int count, latent::test::Random& random) {
    QList<qint64> chosen;
    while (chosen.size() < count && !pages.isEmpty()) chosen << pages.takeAt(random.bits() % pages.size());
    return chosen;
}

// Every message of the history as read back, by id.
QMap<qint64, MessageRecord> readBack(const Database& db) {
    QMap<qint64, MessageRecord> messages;
    for (const ConversationRecord& conversation : db.conversations())
        for (const MessageRecord& message : db.messages(conversation.id)) messages.insert(message.id, message);
    return messages;
}

} // namespace

class TestStorageRepair : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<QTemporaryDir> dir_;
    QString path_;

    // Every file of the folder whose name says it was kept aside as damaged.
    QStringList damagedCopies() const {
        return QDir(dir_->path()).entryList({QStringLiteral("latent.db.damaged-*")}, QDir::Files);
    }

    // The messages read back are exactly `expected` minus `lost`, text for text.
    static void checkMessages(const Database& db, const History& expected, const QSet<qint64>& lost) {
        const QMap<qint64, MessageRecord> found = readBack(db);
        for (auto it = expected.messages.begin(); it != expected.messages.end(); ++it) {
            if (lost.contains(it.key())) {
                QVERIFY2(!found.contains(it.key()), qPrintable(QStringLiteral("message %1 was on a damaged page").arg(it.key())));
                continue;
            }
            QVERIFY2(found.contains(it.key()), qPrintable(QStringLiteral("message %1 was lost").arg(it.key())));
            QCOMPARE(found[it.key()].content, it->content);
            QCOMPARE(found[it.key()].conversationId, it->conversationId);
            QCOMPARE(found[it.key()].role, it->role);
        }
        QCOMPARE(found.size(), expected.messages.size() - lost.size());
    }

private slots:
    void init() {
        dir_ = std::make_unique<QTemporaryDir>();
        QVERIFY(dir_->isValid());
        path_ = dir_->filePath(QStringLiteral("latent.db"));
    }

    void derivedDamageLosesNothing_data() {
        QTest::addColumn<QString>("tree");
        QTest::addColumn<int>("pages");
        QTest::addColumn<bool>("straddle"); // 4 KB across two neighbouring pages, as in the report
        QTest::newRow("issue 16: 4 KB across two message_fts_data pages") << "message_fts_data" << 2 << true;
        QTest::newRow("message_fts_data, 3 pages") << "message_fts_data" << 3 << false;
        QTest::newRow("message_fts_docsize") << "message_fts_docsize" << 1 << false;
        QTest::newRow("conversation_fts_data") << "conversation_fts_data" << 1 << false;
        QTest::newRow("messages_by_conversation index") << "messages_by_conversation" << 1 << false;
    }
    void derivedDamageLosesNothing() {
        QFETCH(QString, tree);
        QFETCH(int, pages);
        QFETCH(bool, straddle);
        const uint32_t seed = testSeed(QTest::currentDataTag());
        latent::test::Random random(seed);
        const History history = writeHistory(path_);
        const QList<qint64> treePages = pagesOf(path_, tree);
        QVERIFY2(!treePages.isEmpty(), qPrintable(tree));
        if (straddle) {
            // Two neighbouring pages of the index; the noise starts where offset 120000 falls
            // within its page, so it covers the end of one and the start of the next.
            QList<qint64> firsts;
            for (qint64 page : treePages)
                if (treePages.contains(page + 1)) firsts << page;
            QVERIFY2(!firsts.isEmpty(), "the index should span neighbouring pages");
            const qint64 first = choose(firsts, 1, random).first();
            const qint64 within = 120000 % kPageSize;
            QByteArray bytes = noise(4096, random);
            bytes.replace(kPageSize - within, within, damagedPage(random).left(within)); // the next page's start
            QVERIFY(writeAt(path_, (first - 1) * kPageSize + within, bytes));
        } else {
            for (qint64 page : choose(treePages, pages, random)) QVERIFY(writeAt(path_, (page - 1) * kPageSize, damagedPage(random)));
        }
        const QByteArray damaged = readFile(path_);

        Database db(path_);
        const Database::OpenReport& report = db.openReport();
        QVERIFY2(!report.damageDescription.isEmpty(), "the damage was not noticed");
        QVERIFY(report.salvaged || report.repairedInPlace);
        QVERIFY(!report.readOnly);
        checkMessages(db, history, {});
        QCOMPARE(db.conversations().size(), std::size_t(history.conversations.size()));
        for (const ConversationRecord& conversation : db.conversations())
            QCOMPARE(conversation.title, history.conversations[conversation.id].title);
        // The search index works again, over titles and text.
        const qint64 probe = 1 + random.bits() % history.messages.size();
        const auto hits = db.search(QStringLiteral("only%1z").arg(probe));
        QCOMPARE(hits.size(), std::size_t(1));
        QCOMPARE(hits.front().messageId, probe);
        QVERIFY(!db.search(QStringLiteral("Conversation 3 about")).empty());
        QCOMPARE(db.pragma(QStringLiteral("integrity_check")), QStringLiteral("ok"));
        if (report.salvaged) {
            QCOMPARE(report.messagesRecovered, qint64(history.messages.size()));
            QCOMPARE(report.messagesKnown, qint64(history.messages.size()));
            QCOMPARE(report.conversationsRecovered, qint64(history.conversations.size()));
            QCOMPARE(report.conversationsKnown, qint64(history.conversations.size()));
            QVERIFY(report.salvageComplete);
            QCOMPARE(readFile(report.damagedCopyPath), damaged); // kept as found
            const QString notice = AppController::repairNotice(report);
            QVERIFY2(notice.contains(QStringLiteral("Recovered 117 of 117 messages in 9 of 9 conversations; the damaged file "
                                                    "was kept as ")),
                     qPrintable(notice));
        }
        // New writes work and land in the search index.
        MessageRecord fresh;
        fresh.id = report.nextMessageId;
        fresh.conversationId = 1;
        fresh.content = QStringLiteral("afterwards zebra");
        fresh.createdAt = 99'999;
        db.insertMessage(fresh);
        QCOMPARE(db.search(QStringLiteral("zebra")).size(), std::size_t(1));
    }

    void structuralIndexDamageIsRebuiltInPlace() {
        const uint32_t seed = testSeed("in place");
        latent::test::Random random(seed);
        const History history = writeHistory(path_);
        // A cell pointer of an index leaf page made to point at the page header: the page stays
        // a valid leaf, so the index can be cleared and rebuilt inside the file. Not the leaf
        // of FTS5's records 1 and 10 (averages, structure): without them the index cannot even
        // be opened to be rebuilt, and the rows are salvaged instead (derivedDamageLosesNothing).
        QList<qint64> leaves;
        for (qint64 leaf : pagesOf(path_, QStringLiteral("message_fts_data"), QStringLiteral("leaf"))) {
            const QList<qint64> rows = leafRowids(readPage(path_, leaf));
            if (!rows.contains(1) && !rows.contains(10)) leaves << leaf;
        }
        QVERIFY(!leaves.isEmpty());
        const qint64 page = choose(leaves, 1, random).first();
        QVERIFY(writeAt(path_, (page - 1) * kPageSize + 8, QByteArray(2, '\0')));

        Database db(path_);
        const Database::OpenReport& report = db.openReport();
        QVERIFY2(!report.damageDescription.isEmpty(), "the damage was not noticed");
        QVERIFY(report.repairedInPlace);
        QVERIFY(!report.salvaged);
        QCOMPARE(damagedCopies(), QStringList());
        checkMessages(db, history, {});
        QCOMPARE(db.pragma(QStringLiteral("integrity_check")), QStringLiteral("ok"));
        QCOMPARE(db.search(QStringLiteral("only5z")).size(), std::size_t(1));
        QVERIFY(AppController::repairNotice(report).contains(QStringLiteral("nothing was lost")));
    }

    void contentDamageLosesOnlyItsRows_data() {
        QTest::addColumn<QString>("kind");
        QTest::addColumn<int>("pages");
        QTest::newRow("one leaf page") << "leaf" << 1;
        QTest::newRow("three leaf pages") << "leaf" << 3;
        QTest::newRow("the first and last leaf pages and one between") << "ends" << 3;
        QTest::newRow("an overflow page of a long answer") << "overflow" << 1;
        QTest::newRow("the root page") << "internal" << 1;
    }
    void contentDamageLosesOnlyItsRows() {
        QFETCH(QString, kind);
        QFETCH(int, pages);
        const uint32_t seed = testSeed(QTest::currentDataTag());
        latent::test::Random random(seed);
        History history = writeHistory(path_);
        constexpr qint64 kLongId = 500;
        {
            // A long answer (overflow pages) and rows whose values the app must survive.
            Database db(path_);
            MessageRecord longAnswer;
            longAnswer.id = kLongId;
            longAnswer.conversationId = 2;
            longAnswer.role = MessageRole::Assistant;
            longAnswer.content = QString(60'000, QLatin1Char('L')) + QStringLiteral(" end");
            longAnswer.createdAt = 5;
            db.insertMessage(longAnswer);
            history.messages.insert(kLongId, longAnswer);
            db.setSetting(QStringLiteral("theme"), QStringLiteral("dark"));
        }
        QSet<qint64> lost;
        // Of an overflow chain, not the last page: noise there is read as text, not noticed
        // (SQLite stops at the payload's length, before that page's link).
        QList<qint64> chosen;
        if (kind == QStringLiteral("overflow")) {
            chosen = choose(rawIntegers(path_, "SELECT pageno FROM dbstat WHERE name = 'messages' AND pagetype = 'overflow' AND "
                                               "path < (SELECT max(path) FROM dbstat WHERE name = 'messages' AND "
                                               "pagetype = 'overflow')"),
                            pages, random);
        } else if (kind == QStringLiteral("ends")) {
            // No readable row on either side of the table: the walk must find the middle.
            QList<qint64> leaves = pagesOf(path_, QStringLiteral("messages"), QStringLiteral("leaf"));
            const auto holding = [&](qint64 rowid) {
                for (qint64 leaf : leaves)
                    if (leafRowids(readPage(path_, leaf)).contains(rowid)) return leaf;
                return qint64(0);
            };
            chosen = {holding(1), holding(kLongId)};
            leaves.removeAll(chosen[0]);
            leaves.removeAll(chosen[1]);
            chosen << choose(leaves, 1, random);
            kind = QStringLiteral("leaf");
        } else {
            chosen = choose(pagesOf(path_, QStringLiteral("messages"), kind), pages, random);
        }
        QCOMPARE(chosen.size(), pages);
        for (qint64 page : chosen) {
            if (kind == QStringLiteral("leaf")) {
                const QList<qint64> rows = leafRowids(readPage(path_, page));
                QVERIFY2(!rows.isEmpty(), "a leaf page holds rows");
                for (qint64 row : rows) lost.insert(row);
            } else if (kind == QStringLiteral("overflow")) {
                lost.insert(kLongId); // the only message long enough to overflow
            } else {
                for (qint64 id : history.messages.keys()) lost.insert(id); // every leaf hangs from it
            }
            QVERIFY(writeAt(path_, (page - 1) * kPageSize, damagedPage(random)));
        }
        const QByteArray damaged = readFile(path_);
        const qint64 total = history.messages.size();

        Database db(path_);
        const Database::OpenReport& report = db.openReport();
        QVERIFY2(report.salvaged, qPrintable(report.damageDescription));
        checkMessages(db, history, lost);
        QCOMPARE(report.messagesRecovered, total - lost.size());
        QCOMPARE(report.messagesKnown, total); // the index and the search index still list them
        QCOMPARE(report.conversationsRecovered, 9);
        QCOMPARE(report.conversationsKnown, 9);
        QVERIFY(!report.salvageComplete);
        QCOMPARE(db.settings().value(QStringLiteral("theme")).toString(), QStringLiteral("dark"));
        QCOMPARE(readFile(report.damagedCopyPath), damaged);
        QVERIFY(QRegularExpression(QStringLiteral("latent\\.db\\.damaged-\\d{8}-\\d{6}$")).match(report.damagedCopyPath).hasMatch());
        const QString notice = AppController::repairNotice(report);
        const QString expected = QStringLiteral("Recovered %1 of %2 messages in 9 of 9 conversations; the damaged file was kept as %3.")
                                     .arg(total - lost.size())
                                     .arg(total)
                                     .arg(QDir::toNativeSeparators(report.damagedCopyPath));
        QVERIFY2(notice.endsWith(expected), qPrintable(notice));
        QCOMPARE(db.pragma(QStringLiteral("integrity_check")), QStringLiteral("ok"));
        // Reopening finds a sound file: no second repair.
        const qint64 recovered = report.messagesRecovered;
        Database again(path_);
        QVERIFY(again.openReport().damageDescription.isEmpty());
        QCOMPARE(qint64(readBack(again).size()), recovered);
    }

    void lostConversationRowsGetPlaceholders() {
        const uint32_t seed = testSeed("conversations");
        latent::test::Random random(seed);
        const History history = writeHistory(path_);
        const QList<qint64> pages = pagesOf(path_, QStringLiteral("conversations"));
        QCOMPARE(pages.size(), 1); // nine short rows: the root is the only page
        QVERIFY(writeAt(path_, (pages.first() - 1) * kPageSize, damagedPage(random)));

        Database db(path_);
        const Database::OpenReport& report = db.openReport();
        QVERIFY(report.salvaged);
        checkMessages(db, history, {});
        QCOMPARE(report.conversationsKnown, 9);
        QCOMPARE(report.conversationsRecovered, 9);
        QVERIFY(!report.salvageComplete);
        const auto conversations = db.conversations();
        QCOMPARE(conversations.size(), std::size_t(9));
        for (const ConversationRecord& conversation : conversations)
            QCOMPARE(conversation.title, QStringLiteral("Recovered conversation"));
    }

    void oddValuesSurviveSalvage() {
        const uint32_t seed = testSeed("odd values");
        latent::test::Random random(seed);
        const History history = writeHistory(path_, 2, 30);
        QCOMPARE(rawExec(path_, R"sql(
                PRAGMA ignore_check_constraints = ON;
                INSERT INTO messages (id, conversation_id, role, content, status, created_at)
                    VALUES (900, 1, 'narrator', 'unknown role', 'complete', 1),
                           (901, 1, 'user', 'unknown status', 'exploded', 2),
                           (902, 1, 'user', x'00ff10', 'complete', 3),
                           (903, 1, 'user', 12345, 'complete', 4),
                           (904, 1, 'user', zeroblob(3000000), 'complete', 5),
                           (905, 77, 'user', 'conversation gone', 'complete', 6);
                INSERT INTO settings (key, value) VALUES ('broken', 'not json');
            )sql"), QString());
        // Damage a leaf of the first rows, away from the odd ones (the highest ids).
        const QList<qint64> leaves = pagesOf(path_, QStringLiteral("messages"), QStringLiteral("leaf"));
        const qint64 page = leaves.first();
        const QList<qint64> rows = leafRowids(readPage(path_, page));
        QVERIFY(!rows.isEmpty() && rows.last() < 900);
        QVERIFY(writeAt(path_, (page - 1) * kPageSize, damagedPage(random)));

        Database db(path_);
        QVERIFY(db.openReport().salvaged);
        const QMap<qint64, MessageRecord> found = readBack(db);
        QVERIFY(!found.contains(900)); // unknown role: left out by the reads, as before
        QCOMPARE(found.value(901).status, MessageStatus::Error);
        QVERIFY(found.contains(902));
        QCOMPARE(found.value(903).content, QStringLiteral("12345"));
        QCOMPARE(found.value(904).content.size(), 3'000'000);
        QCOMPARE(found.value(905).content, QStringLiteral("conversation gone"));
        QCOMPARE(db.conversation(77)->title, QStringLiteral("Recovered conversation"));
        for (qint64 row : rows) QVERIFY(!found.contains(row));
        QCOMPARE(qint64(found.size()), qint64(history.messages.size() - rows.size() + 5));
        QVERIFY(!db.settings().contains(QStringLiteral("broken")));
    }

    void wrongFreePageCountIsRepaired() {
        const History history = writeHistory(path_, 3, 40);
        {
            Database db(path_);
            db.deleteMessagesFrom(3, 0); // leaves free pages behind (no auto-vacuum)
        }
        // The header's count of free pages (big-endian at offset 36) made wrong: quick_check
        // answers with a row describing the problem rather than an error.
        const QByteArray header = readFile(path_).left(40);
        const quint32 freePages = (quint32(quint8(header[36])) << 24) | (quint32(quint8(header[37])) << 16) |
                                  (quint32(quint8(header[38])) << 8) | quint32(quint8(header[39]));
        QVERIFY2(freePages > 0, "the deletes should have left free pages");
        const quint32 wrong = freePages + 2;
        const char count[4] = {char(wrong >> 24), char(wrong >> 16), char(wrong >> 8), char(wrong)};
        QVERIFY(writeAt(path_, 36, QByteArray(count, 4)));

        Database db(path_);
        QVERIFY2(db.openReport().salvaged, qPrintable(db.openReport().damageDescription));
        QVERIFY(db.openReport().salvageComplete);
        History remaining = history;
        for (auto it = remaining.messages.begin(); it != remaining.messages.end();)
            it = it->conversationId == 3 ? remaining.messages.erase(it) : std::next(it);
        checkMessages(db, remaining, {});
        QCOMPARE(db.pragma(QStringLiteral("integrity_check")), QStringLiteral("ok"));
    }

    void damagedHeaderIsQuarantined() {
        const uint32_t seed = testSeed("header");
        latent::test::Random random(seed);
        writeHistory(path_, 2, 3);
        QVERIFY(writeAt(path_, 0, noise(100, random)));
        const QByteArray damaged = readFile(path_);

        Database db(path_);
        const Database::OpenReport& report = db.openReport();
        QVERIFY(!report.salvaged && !report.repairedInPlace);
        QCOMPARE(readFile(report.damagedCopyPath), damaged);
        QVERIFY(db.conversations().empty());
        QVERIFY(AppController::repairNotice(report).contains(QStringLiteral("a new history was started")));
    }
};

QTEST_GUILESS_MAIN(TestStorageRepair)
#include "test_storage_repair.moc"
