#include "storage/storage_thread.h"

#include "storage/sqlite_support.h"

#include <QDebug>
#include <QSemaphore>
#include <QTimer>

#include <sqlite3.h>

#include <algorithm>
#include <exception>
#include <utility>

// Lives on thread_. Work reaches it as queued functor calls: Qt delivers the events posted to
// one receiver in the order they were posted, which gives post(), write() and query() their
// FIFO order. Its database, pending writes and retry timer are used on thread_ only.
class StorageThread::Worker : public QObject {
public:
    explicit Worker(StorageThread* owner) : owner_(owner) {
        retryTimer_.setSingleShot(true);
        connect(&retryTimer_, &QTimer::timeout, this, [this] { drain(Trigger::Timer); });
    }

    std::unique_ptr<Database> database;

    void submit(StorageWrite write) {
        if (!pending_.empty()) {
            // Behind what is pending, whatever it is: order is what keeps foreign keys satisfied.
            // A streaming checkpoint is no act of the user: it waits for the timer (a busy
            // database would otherwise hold this thread every couple of seconds).
            const bool checkpoint = write.kind == StorageWrite::Kind::UpdateMessageText;
            pending_.add(std::move(write));
            if (checkpoint) publish();
            else drain(Trigger::Write);
        } else if (!attempt(write)) {
            pending_.add(std::move(write));
            failed(Trigger::Write);
        }
    }

    void retryNow() { drain(Trigger::Now); }

    // What started an attempt: the back-off timer (the next delay doubles), a new write (the
    // timer keeps running as it was) or retryNow() (the back-off starts again).
    enum class Trigger { Timer, Write, Now };

    // Runs the pending writes in order until one fails (kept, retried later) or none is left.
    void drain(Trigger trigger) {
        const std::size_t before = pending_.size();
        while (!pending_.empty()) {
            if (!attempt(pending_.front())) return failed(trigger);
            pending_.popFront();
        }
        retryTimer_.stop();
        if (before > 0) {
            qInfo("storage: the %zu write(s) that were waiting are saved", before);
            retryDelayMs_ = 0;
            reason_.clear();
            detail_.clear();
        }
        publish();
    }

    // At exit: one last attempt, then every write that still could not be saved is logged.
    void finish() {
        if (!pending_.empty()) drain(Trigger::Now);
        retryTimer_.stop(); // on its own thread, before the worker is deleted on another
        if (pending_.empty()) return;
        qCritical("storage: %zu write(s) could not be saved before the app ended (%s; %s): %s", pending_.size(),
                  qPrintable(reason_), qPrintable(detail_), qPrintable(pending_.describe(1000)));
    }

    void inspect(const std::function<void(const Database*, const PendingWrites&)>& work) const {
        work(database.get(), pending_);
    }

private:
    // Applies `write`: true when it is saved, or dropped because retrying cannot help (reported
    // by storageError); false when it failed for a reason that can pass (reason_ and detail_
    // say which).
    bool attempt(const StorageWrite& write) {
        int code = SQLITE_CANTOPEN;
        QString detail = QStringLiteral("the database is not open");
        if (database) {
            try {
                write.apply(*database);
                return true;
            } catch (const storage_detail::SqliteError& error) {
                code = error.code();
                detail = QString::fromUtf8(error.what());
            } catch (const std::exception& error) {
                code = SQLITE_ERROR;
                detail = QString::fromUtf8(error.what());
            }
        }
        if (database && !isRetryableStorageFailure(code)) {
            qWarning("storage: %s", qPrintable(detail));
            QMetaObject::invokeMethod(owner_, [owner = owner_, detail] { emit owner->storageError(detail); },
                                      Qt::QueuedConnection);
            return true;
        }
        reason_ = database ? plainStorageFailure(code) : QStringLiteral("the chat history could not be opened");
        detail_ = detail;
        return false;
    }

    // After a failed attempt: a retry is scheduled with back-off, the failure logged and the
    // backlog published.
    void failed(Trigger trigger) {
        if (database && !(trigger == Trigger::Write && retryTimer_.isActive())) {
            if (trigger == Trigger::Timer && retryDelayMs_ > 0) retryDelayMs_ = std::min(retryDelayMs_ * 2, kMaxRetryMs);
            else if (trigger == Trigger::Now || retryDelayMs_ == 0) retryDelayMs_ = kFirstRetryMs;
            retryTimer_.start(retryDelayMs_);
        }
        qWarning("storage: %s (%s); %zu write(s) kept in memory, next attempt in %d ms (-1: none due)", qPrintable(detail_),
                 qPrintable(reason_), pending_.size(), retryTimer_.isActive() ? retryTimer_.remainingTime() : -1);
        publish();
    }

    // Tells the owner what is waiting, when that changed.
    void publish() {
        StorageBacklog backlog = pending_.backlog(reason_, detail_);
        if (backlog == published_) return;
        published_ = backlog;
        QMetaObject::invokeMethod(owner_, [owner = owner_, backlog] { emit owner->backlogChanged(backlog); },
                                  Qt::QueuedConnection);
    }

    StorageThread* owner_;
    PendingWrites pending_;
    QTimer retryTimer_{this};
    int retryDelayMs_ = 0; // the last delay used; 0 before the first failure of a streak
    QString reason_;
    QString detail_;
    StorageBacklog published_;
};

StorageThread::StorageThread(const QString& path, QObject* parent) : QObject(parent) {
    qRegisterMetaType<Database::OpenReport>();
    qRegisterMetaType<StorageBacklog>();
    thread_.setObjectName(QStringLiteral("storage"));
    worker_ = new Worker(this);
    worker_->moveToThread(&thread_);
    thread_.start();

    Worker* worker = worker_;
    QMetaObject::invokeMethod(worker_, [this, worker, path] {
        try {
            worker->database = std::make_unique<Database>(path);
            const Database::OpenReport report = worker->database->openReport();
            QMetaObject::invokeMethod(this, [this, report] { emit opened(report); }, Qt::QueuedConnection);
        } catch (const std::exception& error) {
            const QString message = QString::fromUtf8(error.what());
            qWarning("storage: %s", qPrintable(message));
            QMetaObject::invokeMethod(this, [this, message] { emit openFailed(message); }, Qt::QueuedConnection);
            // An empty history that saves nothing stands in, so queued reads still answer.
            try {
                worker->database = Database::unavailable(message);
            } catch (const std::exception& fallback) {
                qWarning("storage: not even an empty history can be opened: %s", fallback.what());
            }
        }
    }, Qt::QueuedConnection);
}

StorageThread::~StorageThread() {
    // Queued last: everything posted before runs first, then the database closes on its own
    // thread and the thread's event loop ends.
    Worker* worker = worker_;
    QMetaObject::invokeMethod(worker_, [worker] {
        worker->finish();
        worker->database.reset();
        QThread::currentThread()->quit();
    }, Qt::QueuedConnection);
    thread_.wait();
    delete worker_;
}

void StorageThread::post(std::function<void(Database&)> work) {
    Worker* worker = worker_;
    QMetaObject::invokeMethod(worker_, [this, worker, work = std::move(work)] {
        QString failure;
        if (!worker->database) {
            failure = QStringLiteral("the database is not open");
        } else {
            try {
                work(*worker->database);
                return;
            } catch (const std::exception& error) {
                failure = QString::fromUtf8(error.what());
            } catch (...) {
                failure = QStringLiteral("an unknown error in a storage task");
            }
        }
        qWarning("storage: %s", qPrintable(failure));
        // Emitted on this object's thread, like every other signal of it.
        QMetaObject::invokeMethod(this, [this, failure] { emit storageError(failure); }, Qt::QueuedConnection);
    }, Qt::QueuedConnection);
}

void StorageThread::write(StorageWrite write) {
    Worker* worker = worker_;
    QMetaObject::invokeMethod(worker_, [worker, write = std::move(write)]() mutable { worker->submit(std::move(write)); },
                              Qt::QueuedConnection);
}

void StorageThread::retryNow() {
    Worker* worker = worker_;
    QMetaObject::invokeMethod(worker_, [worker] { worker->retryNow(); }, Qt::QueuedConnection);
}

void StorageThread::inspect(std::function<void(const Database*, const PendingWrites&)> work) {
    Worker* worker = worker_;
    QMetaObject::invokeMethod(worker_, [worker, work = std::move(work)] { worker->inspect(work); }, Qt::QueuedConnection);
}

void StorageThread::flush() {
    if (QThread::currentThread() == &thread_) return; // inside a task everything before it has run
    QSemaphore done;
    QMetaObject::invokeMethod(worker_, [&done] { done.release(); }, Qt::QueuedConnection);
    done.acquire();
}
