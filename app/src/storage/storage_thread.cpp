#include "storage/storage_thread.h"

#include <QDebug>
#include <QSemaphore>

#include <exception>
#include <utility>

// Lives on thread_. Work reaches it as queued functor calls: Qt delivers the events posted to
// one receiver in the order they were posted, which gives post() and query() their FIFO order.
// Its database is created, used and destroyed on thread_ only.
class StorageThread::Worker : public QObject {
public:
    std::unique_ptr<Database> database;
};

StorageThread::StorageThread(const QString& path, QObject* parent) : QObject(parent) {
    qRegisterMetaType<Database::OpenReport>();
    thread_.setObjectName(QStringLiteral("storage"));
    worker_ = new Worker;
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

void StorageThread::flush() {
    if (QThread::currentThread() == &thread_) return; // inside a task everything before it has run
    QSemaphore done;
    QMetaObject::invokeMethod(worker_, [&done] { done.release(); }, Qt::QueuedConnection);
    done.acquire();
}
