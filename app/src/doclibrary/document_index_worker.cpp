#include "doclibrary/document_index_worker.h"

#include "documents/indexer.h"
#include "documents/library.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFileInfo>

using namespace latent::documents;

namespace {

QString q(const std::string& s) { return QString::fromStdString(s); }

constexpr int kMaxFolderDepth = 64; // as the indexer's walk (Limits::max_dir_depth)

// The folders under `folder` (itself included) into `out`, as the indexer walks them: hidden
// folders are not documents. Symbolic links to folders are not followed (the folders behind
// them are not watched), nor folders past `budget`: then `complete` turns false.
void list_folders(const QString& folder, int depth, int& budget, QStringList& out, bool& complete) {
    if (budget <= 0 || depth > kMaxFolderDepth) {
        complete = false;
        return;
    }
    --budget;
    out.append(folder);
    for (const QFileInfo& entry : QDir(folder).entryInfoList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name)) {
        if (entry.isSymLink()) complete = false; // a symbolic link to a folder
        else list_folders(entry.filePath(), depth + 1, budget, out, complete);
    }
}

} // namespace

DocumentIndexWorker::DocumentIndexWorker(const QString& databasePath, const FolderWatchOptions& watching, QObject* parent)
    : QObject(parent), path_(databasePath), watching_(watching) {
    qRegisterMetaType<CollectionRow>();
    qRegisterMetaType<DocumentRow>();
    qRegisterMetaType<IndexSummary>();
    qRegisterMetaType<QList<CollectionRow>>();
    qRegisterMetaType<QList<DocumentRow>>();
}

DocumentIndexWorker::~DocumentIndexWorker() = default;

Library* DocumentIndexWorker::library() {
    if (!library_) library_ = std::make_unique<Library>(path_.toStdString());
    return library_.get();
}

void DocumentIndexWorker::run(const QString& collection, const QStringList* paths) {
    cancel_.store(false);
    IndexSummary summary;
    summary.collection = collection;
    try {
        Library& lib = *library();
        const int64_t id = lib.ensure_collection(collection.toStdString());
        IndexOptions options;
        options.cancel = &cancel_;
        QElapsedTimer since;
        since.start();
        // At most ~20 progress signals a second: the GUI thread only draws them.
        options.progress = [&](const IndexProgress& p) {
            if (p.done == 0 || p.done == p.total || since.elapsed() >= 50) {
                emit progress(static_cast<int>(p.done), static_cast<int>(p.total), q(p.path));
                since.restart();
            }
        };
        IndexReport report;
        if (paths) {
            std::vector<std::string> list;
            for (const QString& p : *paths) list.push_back(p.toStdString());
            report = index_paths(lib, id, list, options);
        } else {
            report = rescan_collection(lib, id, options);
        }
        summary.indexed = static_cast<int>(report.indexed);
        summary.updated = static_cast<int>(report.updated);
        summary.unchanged = static_cast<int>(report.unchanged);
        summary.removed = static_cast<int>(report.removed);
        summary.failed = static_cast<int>(report.failed.size());
        summary.skipped = static_cast<int>(report.skipped.size());
        summary.cancelled = report.cancelled;
    } catch (const std::exception& e) {
        summary.error = QString::fromUtf8(e.what());
        emit failed(summary.error);
    }
    // The list (and with it the watches of new folders) first: whoever waits for finished can
    // rely on the folders being watched by then.
    refresh();
    emit finished(summary);
}

void DocumentIndexWorker::addPaths(const QString& collection, const QStringList& paths) { run(collection, &paths); }

void DocumentIndexWorker::rescan(const QString& collection) { run(collection, nullptr); }

void DocumentIndexWorker::rescanChanged(const QString& collection) {
    bool present = false;
    try {
        present = library()->find_collection(collection.toStdString()).has_value();
    } catch (const std::exception&) {
        // run() reports what is wrong with the index
        present = true;
    }
    if (present) {
        run(collection, nullptr);
    } else {
        IndexSummary summary;
        summary.collection = collection;
        emit finished(summary);
    }
}

void DocumentIndexWorker::watch(const QList<CollectionRow>& collections, const QList<DocumentRow>& documents) {
    if (!watching_.enabled) return;
    if (!watcher_) {
        watcher_ = new FolderWatcher(watching_, path_, this);
        connect(watcher_, &FolderWatcher::changed, this, &DocumentIndexWorker::changedOnDisk);
    }
    QList<WatchRequest> requests;
    int budget = watching_.max_watched; // the folder walk stops past what could be watched
    for (const CollectionRow& c : collections) {
        WatchRequest r;
        r.collection = c.name;
        const auto id = library()->find_collection(c.name.toStdString());
        for (const std::string& source : id ? library()->sources(*id) : std::vector<std::string>{}) {
            const QString path = q(source);
            if (QFileInfo(path).isDir()) {
                list_folders(path, 0, budget, r.folders, r.complete);
            } else {
                // A file source: the file (edits) and its folder (the file deleted or replaced).
                r.files.append(path);
                r.folders.append(QFileInfo(path).absolutePath());
            }
        }
        for (const DocumentRow& d : documents) {
            if (d.collection == c.name) r.files.append(d.path);
        }
        requests.append(r);
    }
    watcher_->watch(requests);
}

void DocumentIndexWorker::removeCollection(const QString& collection) {
    try {
        if (const auto id = library()->find_collection(collection.toStdString())) library()->remove_collection(*id);
    } catch (const std::exception& e) {
        emit failed(QString::fromUtf8(e.what()));
    }
    refresh();
}

void DocumentIndexWorker::refresh() {
    QList<CollectionRow> collections;
    QList<DocumentRow> documents;
    try {
        for (const CollectionInfo& c : library()->collections()) collections.append({q(c.name), static_cast<int>(c.documents), static_cast<int>(c.indexed), 0});
        for (const DocumentInfo& d : library()->documents()) {
            documents.append({q(d.path), q(d.collection), q(d.status), q(d.reason), q(d.format), d.pages, static_cast<int>(d.chunks)});
            for (CollectionRow& c : collections) {
                if (c.name == documents.back().collection && (d.status == "failed" || d.status == "skipped")) ++c.problems;
            }
        }
        // Before listed(): when the list shows a new folder's file, the folder is watched.
        watch(collections, documents);
    } catch (const std::exception& e) {
        emit failed(QString::fromUtf8(e.what()));
    }
    emit listed(collections, documents);
}
