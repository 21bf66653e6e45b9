// The database on its own thread: the GUI thread never waits for the disk. Writes are posted
// and run in order (fire and forget; a failure is reported by storageError()); reads run in the
// same queue and deliver their result on the caller's thread through a context object.
//
//   store.post([record](Database& db) { db.insertMessage(record); });
//   store.query<std::vector<MessageRecord>>(this,
//       [id](Database& db) { return db.messages(id); },
//       [this](std::vector<MessageRecord> rows) { model->setMessages(rows); });
#pragma once

#include "storage/database.h"

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

    // Queues work (runs after everything queued before it). Exceptions become storageError().
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

    // Blocks until everything queued so far has run (shutdown, tests). Never call it from a
    // path the user waits on.
    void flush();

signals:
    void opened(const Database::OpenReport& report);
    // The database could not be opened or created at all (a newer version's file, …). An empty
    // history that saves nothing (Database::unavailable) then stands in: reads find nothing,
    // writes fail as read-only.
    void openFailed(const QString& message);
    void storageError(const QString& message); // a queued read or write failed

private:
    class Worker;
    QThread thread_;
    Worker* worker_ = nullptr; // lives on thread_
};

Q_DECLARE_METATYPE(Database::OpenReport)
