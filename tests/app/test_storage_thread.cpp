// The database on its own thread: open reported by signal, FIFO order across post() and
// query(), results delivered on the context's thread, failures reported and the queue going on,
// contexts deleted in flight, flush(), a destructor that drains the queue, and a database that
// cannot be opened (an empty read-only stand-in then answers).
#include "storage/storage_thread.h"

#include <QCoreApplication>
#include <QFile>
#include <QRegularExpression>
#include <QSemaphore>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <sqlite3.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <vector>

namespace {

ConversationRecord conversationRecord(qint64 id, const QString& title) {
    ConversationRecord record;
    record.id = id;
    record.title = title;
    record.createdAt = 1;
    record.updatedAt = 1;
    return record;
}

} // namespace

class TestStorageThread : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<QTemporaryDir> dir_;
    QString path_;

    static Database::OpenReport waitOpened(StorageThread& store) {
        QSignalSpy opened(&store, &StorageThread::opened);
        if (!opened.wait(10'000)) return {};
        return opened.at(0).at(0).value<Database::OpenReport>();
    }

private slots:
    void init() {
        dir_ = std::make_unique<QTemporaryDir>();
        QVERIFY(dir_->isValid());
        path_ = dir_->filePath(QStringLiteral("latent.db"));
    }

    void opensOnItsThreadAndReportsOnOurs() {
        QThread* signalThread = nullptr;
        QThread* databaseThread = nullptr;
        StorageThread store(path_);
        connect(&store, &StorageThread::opened, this, [&] { signalThread = QThread::currentThread(); });
        const Database::OpenReport report = waitOpened(store);
        QCOMPARE(report.foundVersion, 0);
        QCOMPARE(report.nextConversationId, 1);
        QCOMPARE(signalThread, QThread::currentThread());
        store.post([&](Database&) { databaseThread = QThread::currentThread(); });
        store.flush();
        QVERIFY(databaseThread != nullptr);
        QVERIFY(databaseThread != QThread::currentThread());
    }

    void firstInFirstOut() {
        StorageThread store(path_);
        // Both lists are touched on one thread each: `ran` on the storage thread only (and read
        // here after flush()), `delivered` on this thread only.
        std::vector<int> ran;
        std::vector<int> delivered;
        for (int i = 0; i < 60; ++i) {
            if (i % 3 == 0) {
                store.query<int>(this, [&ran, i](Database&) { ran.push_back(i); return i; },
                                 [&delivered](int value) { delivered.push_back(value); });
            } else {
                store.post([&ran, i](Database& db) {
                    ran.push_back(i);
                    db.insertConversation(conversationRecord(i + 1, QStringLiteral("c%1").arg(i)));
                });
            }
        }
        // A read queued after the writes sees all of them.
        std::size_t seen = 0;
        store.query<std::size_t>(this, [](Database& db) { return db.conversations().size(); },
                                 [&seen](std::size_t count) { seen = count; });
        store.flush();
        std::vector<int> expected(60);
        for (int i = 0; i < 60; ++i) expected[i] = i;
        QCOMPARE(ran, expected);
        QTRY_COMPARE(seen, 40u);
        std::vector<int> expectedDelivered;
        for (int i = 0; i < 60; i += 3) expectedDelivered.push_back(i);
        QCOMPARE(delivered, expectedDelivered);
    }

    void queryDeliversOnTheContextsThread() {
        StorageThread store(path_);
        QThread* workThread = nullptr;
        QThread* doneThread = nullptr;
        QString title;
        store.post([](Database& db) { db.insertConversation(conversationRecord(5, QStringLiteral("hello"))); });
        store.query<QString>(this, [&workThread](Database& db) {
            workThread = QThread::currentThread();
            return db.conversation(5)->title;
        }, [&](QString value) {
            doneThread = QThread::currentThread();
            title = value;
        });
        QTRY_COMPARE(title, QStringLiteral("hello"));
        QCOMPARE(doneThread, QThread::currentThread());
        QVERIFY(workThread != QThread::currentThread());

        // A context living on a third thread gets its result there.
        QThread other;
        other.start();
        QObject context;
        context.moveToThread(&other);
        std::atomic<QThread*> deliveredOn{nullptr};
        store.query<int>(&context, [](Database&) { return 1; },
                         [&deliveredOn](int) { deliveredOn = QThread::currentThread(); });
        QTRY_VERIFY(deliveredOn.load() != nullptr);
        QCOMPARE(deliveredOn.load(), &other);
        other.quit();
        other.wait();
    }

    void failuresAreReportedAndTheQueueGoesOn() {
        StorageThread store(path_);
        QSignalSpy errors(&store, &StorageThread::storageError);
        bool afterRan = false;
        bool doneCalled = false;
        store.post([](Database&) { throw StorageError("disk on fire"); });
        store.post([](Database&) { throw std::runtime_error("plain failure"); });
        store.post([](Database& db) { db.insertConversation(conversationRecord(1, QStringLiteral("one"))); });
        store.post([](Database& db) { db.insertConversation(conversationRecord(1, QStringLiteral("again"))); }); // duplicate id
        store.query<int>(this, [](Database&) -> int { throw StorageError("read failed"); },
                         [&doneCalled](int) { doneCalled = true; });
        store.post([&afterRan](Database&) { afterRan = true; });
        QTest::ignoreMessage(QtWarningMsg, "storage: disk on fire");
        QTest::ignoreMessage(QtWarningMsg, "storage: plain failure");
        QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("saving conversation 1: UNIQUE constraint failed")));
        QTest::ignoreMessage(QtWarningMsg, "storage: read failed");
        store.flush();
        QVERIFY(afterRan);
        QTRY_COMPARE(errors.size(), 4);
        QCOMPARE(errors.at(0).at(0).toString(), QStringLiteral("disk on fire"));
        QCOMPARE(errors.at(1).at(0).toString(), QStringLiteral("plain failure"));
        QVERIFY2(errors.at(2).at(0).toString().contains(QStringLiteral("UNIQUE constraint failed")),
                 qPrintable(errors.at(2).at(0).toString()));
        QCOMPARE(errors.at(3).at(0).toString(), QStringLiteral("read failed"));
        QCoreApplication::processEvents();
        QVERIFY(!doneCalled);
    }

    void deletedContextGetsNothing_data() {
        QTest::addColumn<bool>("beforeWorkRuns");
        QTest::newRow("deleted before the read runs") << true;
        QTest::newRow("deleted after the read ran, before delivery") << false;
    }
    void deletedContextGetsNothing() {
        QFETCH(bool, beforeWorkRuns);
        StorageThread store(path_);
        QSemaphore gate;
        store.post([&gate](Database&) { gate.acquire(); }); // holds the queue
        auto* context = new QObject;
        bool workRan = false;
        bool doneCalled = false;
        store.query<int>(context, [&workRan](Database&) { workRan = true; return 7; },
                         [&doneCalled](int) { doneCalled = true; });
        if (beforeWorkRuns) {
            delete context;
            gate.release();
            store.flush();
        } else {
            gate.release();
            store.flush(); // the read ran and its delivery is queued to the context
            QVERIFY(workRan);
            delete context;
        }
        QCoreApplication::processEvents();
        QCoreApplication::sendPostedEvents();
        QVERIFY(!doneCalled);
        if (beforeWorkRuns) QVERIFY(workRan); // a read runs anyway; only its delivery is dropped
    }

    void flushWaitsForQueuedWork() {
        StorageThread store(path_);
        std::atomic<int> done{0};
        for (int i = 0; i < 5; ++i)
            store.post([&done](Database&) {
                QThread::msleep(20);
                ++done;
            });
        store.flush();
        QCOMPARE(done.load(), 5);
        store.flush(); // an empty queue returns at once
    }

    void destructorDrainsTheQueue() {
        {
            StorageThread store(path_);
            for (qint64 id = 1; id <= 25; ++id)
                store.post([id](Database& db) { db.insertConversation(conversationRecord(id, QStringLiteral("c%1").arg(id))); });
        }
        Database db(path_);
        QCOMPARE(db.conversations().size(), 25u);
        QCOMPARE(db.openReport().nextConversationId, 26);
    }

    void openFailureIsReported() {
        // A file from a newer version is refused, not read.
        {
            Database db(path_);
        }
        {
            sqlite3* raw = nullptr;
            QCOMPARE(sqlite3_open(QFile::encodeName(path_).constData(), &raw), SQLITE_OK);
            QCOMPARE(sqlite3_exec(raw, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
            sqlite3_close(raw);
        }
        QFile file(path_);
        QVERIFY(file.open(QIODevice::ReadOnly));
        const QByteArray before = file.readAll();
        file.close();
        QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("storage: .*newer Latent Chat")));
        StorageThread store(path_);
        QSignalSpy failed(&store, &StorageThread::openFailed);
        QSignalSpy opened(&store, &StorageThread::opened);
        QSignalSpy errors(&store, &StorageThread::storageError);
        QVERIFY(failed.wait(10'000));
        QVERIFY(failed.at(0).at(0).toString().contains(QStringLiteral("newer Latent Chat")));
        QCOMPARE(opened.size(), 0);

        // An empty history that keeps nothing stands in: reads answer (so nothing waits for
        // them), writes fail as read-only and are reported.
        bool readOnly = false;
        std::size_t conversations = 99;
        QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("storage: .*readonly")));
        store.post([](Database& db) { db.insertConversation(conversationRecord(1, QStringLiteral("lost"))); });
        store.query<std::size_t>(
            this, [&readOnly](Database& db) { readOnly = db.readOnly(); return db.conversations().size(); },
            [&conversations](std::size_t count) { conversations = count; });
        store.flush();
        QTRY_COMPARE(errors.size(), 1);
        QVERIFY(errors.at(0).at(0).toString().contains(QStringLiteral("readonly")));
        QTRY_COMPARE(conversations, std::size_t(0));
        QVERIFY(readOnly);
        QVERIFY(file.open(QIODevice::ReadOnly));
        QCOMPARE(file.readAll(), before); // untouched
    }
};

QTEST_GUILESS_MAIN(TestStorageThread)

#include "test_storage_thread.moc"
