// Writes that the disk refuses: PendingWrites' folding and cancelling checked against applying
// every write as it comes (random write sequences, the same final database either way), and the
// StorageThread keeping failed writes in memory — a full disk, an I/O error, a read-only answer,
// a busy database, no database at all — in order, retried with back-off, on retryNow() and
// when another write arrives, with the backlog (counts, ids, reason) published, and the last
// attempt at exit logging what could not be saved. Faults come from fault_vfs.h.
#include "fault_vfs.h"
#include "storage/storage_thread.h"

#include <QFile>
#include <QRandomGenerator>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <map>
#include <memory>
#include <vector>

namespace {

ConversationRecord conversationRecord(qint64 id, const QString& title = QStringLiteral("chat")) {
    ConversationRecord record;
    record.id = id;
    record.title = title;
    record.createdAt = 1000 + id;
    record.updatedAt = 1000 + id;
    record.model = QStringLiteral("m.gguf");
    return record;
}

MessageRecord messageRecord(qint64 id, qint64 conversationId, const QString& content) {
    MessageRecord record;
    record.id = id;
    record.conversationId = conversationId;
    record.role = id % 2 ? MessageRole::User : MessageRole::Assistant;
    record.content = content;
    record.createdAt = 2000 + id;
    return record;
}

QString conversationLine(const ConversationRecord& c) {
    return QStringLiteral("C%1|%2|%3|%4|%5|%6|%7").arg(c.id).arg(c.title).arg(c.createdAt).arg(c.updatedAt).arg(c.model, c.systemPrompt, c.settings);
}

QString messageLine(const MessageRecord& m) {
    return QStringLiteral("M%1|%2|%3|%4|%5|%6|%7|%8")
        .arg(m.id)
        .arg(m.conversationId)
        .arg(m.content, m.reasoning, messageStatusName(m.status), m.stopReason)
        .arg(m.generatedTokens)
        .arg(m.createdAt);
}

// Everything a database holds, as text, for comparisons: conversations (newest first), then
// their messages by conversation id, then the settings.
QString dump(const Database& db, qint64 maxConversationId) {
    QStringList out;
    for (const ConversationRecord& c : db.conversations()) out << conversationLine(c);
    for (qint64 id = 1; id <= maxConversationId; ++id)
        for (const MessageRecord& m : db.messages(id)) out << messageLine(m);
    const QVariantMap settings = db.settings();
    for (auto it = settings.begin(); it != settings.end(); ++it) out << QStringLiteral("S%1=%2").arg(it.key(), it.value().toString());
    return out.join(u'\n');
}

// The same for snapshots (in the order given).
QString dump(const std::vector<ConversationSnapshot>& snapshots) {
    QStringList out;
    for (const ConversationSnapshot& s : snapshots) out << conversationLine(s.conversation);
    for (const ConversationSnapshot& s : snapshots)
        for (const MessageRecord& m : s.messages) out << messageLine(m);
    return out.join(u'\n');
}

// A random but realistic stream of writes, as the app makes them: ids are never reused, a
// message goes into a conversation that exists, updates name rows that were inserted.
struct WriteStream {
    QRandomGenerator random;
    qint64 nextConversation = 1;
    qint64 nextMessage = 1;
    std::map<qint64, std::vector<qint64>> live; // conversation → its messages

    explicit WriteStream(quint32 seed) : random(seed) {}

    StorageWrite next() {
        const auto pick = [&](auto& container) { return std::next(container.begin(), random.bounded(static_cast<int>(container.size()))); };
        const int choice = live.empty() ? 0 : static_cast<int>(random.bounded(100));
        const QString text = QStringLiteral("t%1").arg(random.bounded(100000));
        if (choice < 10) {
            live[nextConversation];
            return StorageWrite::insertConversation(conversationRecord(nextConversation++, text));
        }
        const auto conversation = pick(live);
        const qint64 c = conversation->first;
        std::vector<qint64>& messages = conversation->second;
        if (choice < 35 || messages.empty()) {
            messages.push_back(nextMessage);
            return StorageWrite::insertMessage(messageRecord(nextMessage++, c, text));
        }
        const qint64 m = *pick(messages);
        MessageRecord changed = messageRecord(m, c, text);
        changed.reasoning = QStringLiteral("r") + text;
        changed.status = MessageStatus::Complete;
        changed.stopReason = QStringLiteral("end_of_turn");
        changed.generatedTokens = static_cast<int>(random.bounded(500));
        if (choice < 55) {
            changed.status = MessageStatus::Streaming;
            return StorageWrite::updateMessageText(changed);
        }
        if (choice < 65) return StorageWrite::updateMessage(changed);
        if (choice < 70) return StorageWrite::renameConversation(c, text);
        if (choice < 75) return StorageWrite::touchConversation(c, 5000 + random.bounded(1000));
        if (choice < 80) {
            ConversationRecord updated = conversationRecord(c, text);
            updated.createdAt = 7; // never stored by an update
            updated.settings = QStringLiteral("{\"t\":%1}").arg(random.bounded(9));
            return StorageWrite::updateConversation(updated);
        }
        if (choice < 85) return StorageWrite::setSetting(QStringLiteral("k%1").arg(random.bounded(3)), text);
        if (choice < 92) {
            messages.erase(std::remove_if(messages.begin(), messages.end(), [m](qint64 id) { return id >= m; }), messages.end());
            return StorageWrite::deleteMessagesFrom(c, m);
        }
        live.erase(conversation);
        return StorageWrite::deleteConversation(c);
    }
};

} // namespace

class TestStorageFaults : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<QTemporaryDir> dir_;
    QString path_;

    static bool waitOpened(StorageThread& store) {
        QSignalSpy opened(&store, &StorageThread::opened);
        return opened.wait(10'000);
    }
    // Runs everything queued on the storage thread and delivers what it reported.
    static void settle(StorageThread& store) {
        store.flush();
        QCoreApplication::sendPostedEvents(&store);
    }

private slots:
    void initTestCase() { fault_vfs::install(); }

    void init() {
        fault_vfs::stop();
        dir_ = std::make_unique<QTemporaryDir>();
        QVERIFY(dir_->isValid());
        path_ = dir_->filePath(QStringLiteral("latent.db"));
    }
    void cleanup() { fault_vfs::stop(); }

    // Whatever part of a random write stream waits in PendingWrites, replaying it ends in the
    // database that applying every write at once gives, and the snapshots of the unsaved
    // conversations show what that database shows.
    void pendingWritesMatchWritingEverything() {
        const quint32 seed = QRandomGenerator::global()->generate();
        qInfo("seed %u", seed);
        for (int round = 0; round < 6; ++round) {
            WriteStream stream(seed + static_cast<quint32>(round));
            std::vector<StorageWrite> writes;
            for (int i = 0; i < 45; ++i) writes.push_back(stream.next());
            const int savedBeforeFailure = static_cast<int>(stream.random.bounded(static_cast<int>(writes.size())));

            Database direct(dir_->filePath(QStringLiteral("direct%1.db").arg(round)));
            for (const StorageWrite& w : writes) w.apply(direct);

            Database delayed(dir_->filePath(QStringLiteral("delayed%1.db").arg(round)));
            PendingWrites pending;
            for (int i = 0; i < static_cast<int>(writes.size()); ++i) {
                if (i < savedBeforeFailure) writes[static_cast<size_t>(i)].apply(delayed);
                else pending.add(writes[static_cast<size_t>(i)]);
            }
            QVERIFY(pending.size() <= writes.size() - static_cast<size_t>(savedBeforeFailure));
            // Conversations the delayed database shows once replayed, as snapshots before it.
            const QString fromSnapshots = dump(pending.snapshots(&delayed));
            const StorageBacklog backlog = pending.backlog(QStringLiteral("why"), QString());
            while (!pending.empty()) {
                pending.front().apply(delayed);
                pending.popFront();
            }
            const QString expected = dump(direct, stream.nextConversation);
            QCOMPARE(dump(delayed, stream.nextConversation), expected);

            // The snapshots are exactly the unsaved conversations of the final database.
            std::vector<ConversationSnapshot> finalRows;
            for (const qint64 id : backlog.conversationIds)
                if (auto c = direct.conversation(id)) finalRows.push_back({*c, direct.messages(id)});
            QCOMPARE(fromSnapshots, dump(finalRows));
        }
    }

    // Checkpoints of a streaming answer fold into its pending insert: memory stays one row.
    void pendingUpdatesFoldIntoOneRow() {
        PendingWrites pending;
        QVERIFY(pending.add(StorageWrite::insertConversation(conversationRecord(1))));
        QVERIFY(pending.add(StorageWrite::insertMessage(messageRecord(2, 1, QString()))));
        MessageRecord answer = messageRecord(2, 1, QString());
        for (int i = 0; i < 100; ++i) {
            answer.content += QStringLiteral("word ");
            answer.status = MessageStatus::Streaming;
            QVERIFY(!pending.add(StorageWrite::updateMessageText(answer)));
        }
        answer.status = MessageStatus::Complete;
        QVERIFY(!pending.add(StorageWrite::updateMessage(answer)));
        QCOMPARE(pending.size(), 2u);
        QCOMPARE(pending.snapshots(nullptr).at(0).conversation.updatedAt, 2002); // raised by the message
        // A touch stays behind the message insert that raised updated_at, and then folds.
        QVERIFY(pending.add(StorageWrite::touchConversation(1, 99)));
        QVERIFY(!pending.add(StorageWrite::touchConversation(1, 98)));
        QCOMPARE(pending.size(), 3u);
        QCOMPARE(pending.backlog(QString(), QString()).messageIds, (QList<qint64>{2}));
        QCOMPARE(pending.snapshots(nullptr).at(0).messages.at(0).content, answer.content);
        QCOMPARE(pending.snapshots(nullptr).at(0).conversation.updatedAt, 98);
        // Deleting a conversation that never reached the disk leaves nothing to do.
        QVERIFY(!pending.add(StorageWrite::deleteConversation(1)));
        QVERIFY(pending.empty());
    }

    void failedWritesWaitInOrder_data() {
        QTest::addColumn<int>("code");
        QTest::addColumn<QString>("reason");
        QTest::newRow("disk full") << SQLITE_FULL << QStringLiteral("the disk is full");
        QTest::newRow("I/O error") << SQLITE_IOERR_WRITE << QStringLiteral("the disk reported an error while reading or writing");
        QTest::newRow("read-only") << SQLITE_READONLY << QStringLiteral("the chat history is read-only");
    }
    void failedWritesWaitInOrder() {
        QFETCH(int, code);
        QFETCH(QString, reason);
        StorageThread store(path_);
        QVERIFY(waitOpened(store));
        QSignalSpy errors(&store, &StorageThread::storageError);
        StorageBacklog backlog;
        connect(&store, &StorageThread::backlogChanged, this, [&](const StorageBacklog& b) { backlog = b; });

        store.write(StorageWrite::insertConversation(conversationRecord(1)));
        store.flush();
        fault_vfs::failFromNow(code);
        store.write(StorageWrite::insertConversation(conversationRecord(2)));
        store.write(StorageWrite::insertMessage(messageRecord(3, 2, QStringLiteral("question"))));
        MessageRecord answer = messageRecord(4, 2, QStringLiteral("ans"));
        answer.status = MessageStatus::Streaming;
        store.write(StorageWrite::insertMessage(answer));
        store.write(StorageWrite::insertMessage(messageRecord(5, 1, QStringLiteral("in the saved chat"))));
        answer.content = QStringLiteral("answer, complete");
        answer.status = MessageStatus::Complete;
        store.write(StorageWrite::updateMessage(answer));
        settle(store);
        QVERIFY(fault_vfs::failures() > 0);
        QCOMPARE(backlog.messageIds, (QList<qint64>{3, 4, 5}));
        QCOMPARE(backlog.conversationIds, (QList<qint64>{1, 2}));
        QCOMPARE(backlog.reason, reason);
        QVERIFY(!backlog.detail.isEmpty());
        QCOMPARE(errors.size(), 0); // no foreign-key failure, nothing dropped

        // Reads that show a conversation include what waits.
        std::vector<ConversationSnapshot> shown;
        store.queryWithPending<std::vector<ConversationSnapshot>>(
            this, [](const Database* db, const PendingWrites& pending) { return pending.snapshots(db); },
            [&shown](std::vector<ConversationSnapshot> s) { shown = std::move(s); });
        QTRY_COMPARE(shown.size(), 2u);
        QCOMPARE(shown.at(1).messages.at(1).content, QStringLiteral("answer, complete"));

        fault_vfs::stop();
        store.retryNow();
        settle(store);
        QCOMPARE(backlog.writes, 0);
        QCOMPARE(errors.size(), 0);
        Database fresh(path_);
        QCOMPARE(fresh.conversations().size(), 2u);
        const std::vector<MessageRecord> stored = fresh.messages(2);
        QCOMPARE(stored.size(), 2u);
        QCOMPARE(stored.at(0).content, QStringLiteral("question"));
        QCOMPARE(stored.at(1).content, QStringLiteral("answer, complete"));
        QCOMPARE(stored.at(1).status, MessageStatus::Complete);
        QCOMPARE(fresh.messages(1).size(), 1u);
    }

    // No retryNow(): the back-off timer (first retry after kFirstRetryMs) saves it, and a write
    // arriving meanwhile is a retry too.
    void retriesByItselfAndWhenAnotherWriteArrives() {
        StorageThread store(path_);
        QVERIFY(waitOpened(store));
        StorageBacklog backlog;
        connect(&store, &StorageThread::backlogChanged, this, [&](const StorageBacklog& b) { backlog = b; });
        fault_vfs::failFromNow(SQLITE_FULL);
        store.write(StorageWrite::insertConversation(conversationRecord(1)));
        QTRY_COMPARE(backlog.writes, 1);
        const int failuresSoFar = fault_vfs::failures();
        fault_vfs::stop();
        QElapsedTimer clock;
        clock.start();
        QTRY_COMPARE_WITH_TIMEOUT(backlog.writes, 0, StorageThread::kFirstRetryMs * 3);
        QVERIFY2(clock.elapsed() >= StorageThread::kFirstRetryMs / 2, "retried by the timer, not at once");

        fault_vfs::failFromNow(SQLITE_FULL);
        store.write(StorageWrite::insertMessage(messageRecord(2, 1, QStringLiteral("a"))));
        QTRY_COMPARE(backlog.writes, 1);
        // A streaming checkpoint folds in without an attempt of its own.
        const int failuresBeforeCheckpoint = fault_vfs::failures();
        MessageRecord streamed = messageRecord(2, 1, QStringLiteral("a, longer"));
        streamed.status = MessageStatus::Streaming;
        store.write(StorageWrite::updateMessageText(streamed));
        settle(store);
        QCOMPARE(fault_vfs::failures(), failuresBeforeCheckpoint);
        QCOMPARE(backlog.writes, 1);
        fault_vfs::stop();
        store.write(StorageWrite::insertMessage(messageRecord(3, 1, QStringLiteral("b")))); // the user acts
        settle(store);
        QCOMPARE(backlog.writes, 0);
        QVERIFY(failuresSoFar > 0);
        const std::vector<MessageRecord> stored = Database(path_).messages(1);
        QCOMPARE(stored.size(), 2u);
        QCOMPARE(stored.at(0).content, QStringLiteral("a, longer"));
    }

    // Another program holds the write lock past the busy timeout.
    void busyDatabaseWaits() {
        StorageThread store(path_);
        QVERIFY(waitOpened(store));
        StorageBacklog backlog;
        connect(&store, &StorageThread::backlogChanged, this, [&](const StorageBacklog& b) { backlog = b; });
        sqlite3* other = nullptr;
        QCOMPARE(sqlite3_open(path_.toUtf8().constData(), &other), SQLITE_OK);
        QCOMPARE(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
        store.write(StorageWrite::insertConversation(conversationRecord(1)));
        QTRY_COMPARE_WITH_TIMEOUT(backlog.writes, 1, 15'000);
        QCOMPARE(backlog.reason, QStringLiteral("another program is using the chat history"));
        QCOMPARE(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
        sqlite3_close(other);
        store.retryNow();
        QTRY_COMPARE(backlog.writes, 0);
        QCOMPARE(Database(path_).conversations().size(), 1u);
    }

    // A history that cannot even be created (its folder cannot be made) opens as an empty
    // read-only stand-in: writes wait (and can be exported), nothing is dropped.
    void writesWaitWhenTheDatabaseCannotBeCreated() {
        const QString blocker = dir_->filePath(QStringLiteral("a-file"));
        QFile file(blocker);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.close();
        QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("storage: .*cannot be (written|created)")));
        StorageThread store(blocker + QStringLiteral("/sub/latent.db"));
        QSignalSpy failed(&store, &StorageThread::openFailed);
        QSignalSpy opened(&store, &StorageThread::opened);
        QVERIFY(QTest::qWaitFor([&] { return !failed.isEmpty() || !opened.isEmpty(); }, 10'000));
        StorageBacklog backlog;
        connect(&store, &StorageThread::backlogChanged, this, [&](const StorageBacklog& b) { backlog = b; });
        QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("saving conversation 1: .*kept in memory")));
        QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("saving conversation 1: .*kept in memory")));
        store.write(StorageWrite::insertConversation(conversationRecord(1)));
        store.write(StorageWrite::insertMessage(messageRecord(2, 1, QStringLiteral("kept"))));
        settle(store);
        QCOMPARE(backlog.messageIds, (QList<qint64>{2}));
        QVERIFY2(backlog.reason == QStringLiteral("the chat history is read-only") ||
                     backlog.reason == QStringLiteral("the chat history could not be opened"),
                 qPrintable(backlog.reason));
        std::vector<ConversationSnapshot> shown;
        store.queryWithPending<std::vector<ConversationSnapshot>>(
            this, [](const Database* db, const PendingWrites& pending) { return pending.snapshots(db); },
            [&shown](std::vector<ConversationSnapshot> s) { shown = std::move(s); });
        QTRY_COMPARE(shown.size(), 1u);
        QCOMPARE(shown.at(0).messages.at(0).content, QStringLiteral("kept"));
        QTest::ignoreMessage(QtCriticalMsg, QRegularExpression(QStringLiteral("2 write\\(s\\) could not be saved before the app ended.*saving message 2")));
    }

    // At exit one last attempt is made: it saves what it can, and logs what it cannot.
    void lastAttemptAtExit() {
        {
            StorageThread store(path_);
            QVERIFY(waitOpened(store));
            fault_vfs::failFromNow(SQLITE_FULL);
            store.write(StorageWrite::insertConversation(conversationRecord(1)));
            store.flush();
            fault_vfs::stop(); // room again, but no retry is due yet
        }
        QCOMPARE(Database(path_).conversations().size(), 1u);
        {
            StorageThread store(path_);
            QVERIFY(waitOpened(store));
            fault_vfs::failFromNow(SQLITE_IOERR_WRITE);
            store.write(StorageWrite::insertMessage(messageRecord(2, 1, QStringLiteral("lost"))));
            store.flush();
            QTest::ignoreMessage(QtCriticalMsg, QRegularExpression(QStringLiteral(
                "1 write\\(s\\) could not be saved before the app ended \\(the disk reported an error.*saving message 2")));
        }
        fault_vfs::stop();
        QCOMPARE(Database(path_).messages(1).size(), 0u);
    }
};

QTEST_GUILESS_MAIN(TestStorageFaults)

#include "test_storage_faults.moc"
