#include "controllers/documents_controller.h"

#include <QFileInfo>

DocumentsController::DocumentsController(const QString& databasePath, bool rescanOnStart, const FolderWatchOptions& watching, QObject* parent)
    : QObject(parent) {
    worker_ = new DocumentIndexWorker(databasePath, watching);
    worker_->moveToThread(&thread_);
    connect(&thread_, &QThread::finished, worker_, &QObject::deleteLater);
    connect(worker_, &DocumentIndexWorker::progress, this, &DocumentsController::onProgress);
    connect(worker_, &DocumentIndexWorker::finished, this, &DocumentsController::onFinished);
    connect(worker_, &DocumentIndexWorker::listed, this, &DocumentsController::onListed);
    connect(worker_, &DocumentIndexWorker::failed, this, &DocumentsController::errorOccurred);
    // A watched folder changed: a rescan like the user's (progress, summary, the indexing flag).
    connect(worker_, &DocumentIndexWorker::changedOnDisk, this, [this](const QString& collection) {
        startRun();
        QMetaObject::invokeMethod(worker_, [w = worker_, collection] { w->rescanChanged(collection); }, Qt::QueuedConnection);
    });
    if (rescanOnStart) {
        // Every collection, once the list arrives. Connected before the worker is asked for the
        // list: a signal reaches only the connections made before it is emitted, and the worker
        // thread may list the collections before this constructor would get to a later connect
        // (then no rescan ran at all: seen under load in CI).
        connect(worker_, &DocumentIndexWorker::listed, this, [this](const QList<CollectionRow>& rows) {
            for (const CollectionRow& c : rows) {
                startRun();
                QMetaObject::invokeMethod(worker_, [w = worker_, name = c.name] { w->rescan(name); }, Qt::QueuedConnection);
            }
        }, Qt::SingleShotConnection);
    }
    thread_.setObjectName(QStringLiteral("documents"));
    thread_.start(QThread::LowPriority);
    QMetaObject::invokeMethod(worker_, &DocumentIndexWorker::refresh, Qt::QueuedConnection);
}

DocumentsController::~DocumentsController() {
    worker_->cancel();
    thread_.quit();
    thread_.wait();
}

void DocumentsController::setSelectedCollection(const QString& name) {
    if (name == selected_ || name.trimmed().isEmpty()) return;
    selected_ = name.trimmed();
    applyDocuments();
    emit selectedCollectionChanged();
}

void DocumentsController::startRun() {
    if (runs_++ == 0) emit indexingChanged();
    progress_ = 0;
    emit progressChanged();
}

void DocumentsController::addUrls(const QList<QUrl>& urls) {
    QStringList paths;
    for (const QUrl& url : urls) {
        if (!url.isLocalFile()) {
            emit errorOccurred(tr("Only local files can be added: %1").arg(url.toString()));
            continue;
        }
        paths << QFileInfo(url.toLocalFile()).absoluteFilePath();
    }
    if (paths.isEmpty()) return;
    startRun();
    QMetaObject::invokeMethod(worker_, [w = worker_, c = selected_, paths] { w->addPaths(c, paths); }, Qt::QueuedConnection);
}

void DocumentsController::addFolder(const QUrl& folder) { addUrls({folder}); }

void DocumentsController::addFiles(const QList<QUrl>& files) { addUrls(files); }

void DocumentsController::rescan() {
    startRun();
    QMetaObject::invokeMethod(worker_, [w = worker_, c = selected_] { w->rescan(c); }, Qt::QueuedConnection);
}

void DocumentsController::cancel() {
    if (indexing()) worker_->cancel();
}

void DocumentsController::removeCollection(const QString& name) {
    QMetaObject::invokeMethod(worker_, [w = worker_, name] { w->removeCollection(name); }, Qt::QueuedConnection);
}

void DocumentsController::onProgress(int done, int total, const QString& path) {
    progress_ = total > 0 ? static_cast<double>(done) / total : 0;
    currentFile_ = path;
    emit progressChanged();
}

void DocumentsController::onFinished(const IndexSummary& s) {
    if (!s.error.isEmpty()) {
        lastSummary_ = tr("Indexing failed: %1").arg(s.error);
    } else {
        lastSummary_ = tr("%1 indexed (%2 read now), %3 failed, %4 skipped, %5 removed%6")
                           .arg(s.indexed).arg(s.updated).arg(s.failed).arg(s.skipped).arg(s.removed)
                           .arg(s.cancelled ? tr("; cancelled (adding again resumes)") : QString());
    }
    emit lastSummaryChanged();
    currentFile_.clear();
    progress_ = 1;
    emit progressChanged();
    if (--runs_ == 0) emit indexingChanged();
    emit indexingFinished(s);
}

void DocumentsController::onListed(const QList<CollectionRow>& collections, const QList<DocumentRow>& documents) {
    collections_.setRows(collections);
    allDocuments_ = documents;
    applyDocuments();
}

void DocumentsController::applyDocuments() {
    QList<DocumentRow> rows;
    for (const DocumentRow& d : allDocuments_) {
        if (d.collection == selected_) rows.append(d);
    }
    documents_.setRows(rows);
}
