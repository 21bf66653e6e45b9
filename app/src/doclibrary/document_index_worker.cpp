#include "doclibrary/document_index_worker.h"

#include "documents/indexer.h"
#include "documents/library.h"

#include <QElapsedTimer>

using namespace latent::documents;

namespace {
QString q(const std::string& s) { return QString::fromStdString(s); }
}

DocumentIndexWorker::DocumentIndexWorker(const QString& databasePath, QObject* parent) : QObject(parent), path_(databasePath) {
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
    emit finished(summary);
    refresh();
}

void DocumentIndexWorker::addPaths(const QString& collection, const QStringList& paths) { run(collection, &paths); }

void DocumentIndexWorker::rescan(const QString& collection) { run(collection, nullptr); }

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
    } catch (const std::exception& e) {
        emit failed(QString::fromUtf8(e.what()));
    }
    emit listed(collections, documents);
}
