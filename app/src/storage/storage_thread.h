// The database on its own thread: the GUI thread never waits for the disk. Writes of the chat
// history are queued as StorageWrite records and run in order (fire and forget); reads run in
// the same queue and deliver their result on the caller's thread through a context object.
//
//   store.write(StorageWrite::insertMessage(record));
//   store.query<std::vector<MessageRecord>>(this,
//       [id](Database& db) { return db.messages(id); },
//       [this](std::vector<MessageRecord> rows) { model->setMessages(rows); });
//
// A write that fails for a reason that can pass (disk full, I/O error, read-only, busy, the
// database not open) is kept in memory with every write after it (PendingWrites) and retried:
// after 1 s, doubling up to 30 s, whenever another write arrives (but a streaming checkpoint),
// and on retryNow().
// backlogChanged() tells the window what is waiting and why; every failure and recovery is
// logged. At destruction one last attempt is made and whatever still could not be saved is
// logged write by write.
#pragma once

#include "storage/database.h"
#include "storage/pending_writes.h"

#include <QObject>
#include <QPointer>
#include <QString>
#include <QThread>

#include <functional>
#include <memory>

class StorageThread : public QObject {
    Q_OBJECT
public:
    // Starts the thread and opens `path` there; opened() or openFailed() follows.
    explicit StorageThread(const QString& path, QObject* parent = nullptr);
    // Runs what is queued, closes the database and joins the thread.
    ~StorageThread() override;

    static constexpr int kFirstRetryMs = 1000;
    static constexpr int kMaxRetryMs = 30000;

    // Queues a write of the chat history (see the header comment for what happens when it fails).
    void write(StorageWrite write);
    // Tries the pending writes again now (and restarts the back-off from kFirstRetryMs).
    void retryNow();

    // Queues work (runs after everything queued before it). Exceptions become storageError().
    // Not kept when it fails: writes of user data go through write().
    void post(std::function<void(Database&)> work);

    // Queues a read; `done` runs on `context`'s thread with the result, unless context is gone.
    // If the work throws, storageError() is emitted and done is not called.
    template <class Result>
    void query(QObject* context, std::function<Result(Database&)> work, std::function<void(Result)> done) {
        QPointer<QObject> guard(context);
        post([guard, work = std::move(work), done = std::move(done)](Database& db) {
            auto result = std::make_shared<Result>(work(db));
            if (!guard) return;
            QMetaObject::invokeMethod(guard.data(), [guard, done, result]() {
                if (guard) done(std::move(*result));
            }, Qt::QueuedConnection);
        });
    }

    // Like query(), with the writes still pending beside the database (null when it is not open):
    // for reads that must show what the user was shown, and for the export of unsaved data.
    template <class Result>
    void queryWithPending(QObject* context, std::function<Result(const Database*, const PendingWrites&)> work,
                          std::function<void(Result)> done) {
        QPointer<QObject> guard(context);
        inspect([guard, work = std::move(work), done = std::move(done)](const Database* db, const PendingWrites& pending) {
            auto result = std::make_shared<Result>(work(db, pending));
            if (!guard) return;
            QMetaObject::invokeMethod(guard.data(), [guard, done, result]() {
                if (guard) done(std::move(*result));
            }, Qt::QueuedConnection);
        });
    }

    // Blocks until everything queued so far has run (shutdown, tests). Never call it from a
    // path the user waits on.
    void flush();

signals:
    void opened(const Database::OpenReport& report);
    // The database could not be opened or created at all (a newer version's file, …). An empty
    // history that saves nothing (Database::unavailable) then stands in: reads find nothing,
    // writes fail as read-only.
    void openFailed(const QString& message);
    void storageError(const QString& message); // a queued read or write failed and was dropped
    void backlogChanged(const StorageBacklog& backlog); // what waits to be saved, and why

private:
    class Worker;
    void inspect(std::function<void(const Database*, const PendingWrites&)> work);

    QThread thread_;
    Worker* worker_ = nullptr; // lives on thread_
};

Q_DECLARE_METATYPE(Database::OpenReport)
Q_DECLARE_METATYPE(StorageBacklog)
