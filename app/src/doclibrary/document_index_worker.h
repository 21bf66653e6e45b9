// The app's document indexing thread: the only user of the document library's index file
// (<data dir>/documents.db) for writing. Lives on its own QThread; slots are invoked queued
// from the GUI thread and answer with queued signals, so the GUI thread never touches the
// disk. Indexing commits file by file; cancel() (thread-safe) stops after the current file,
// and the next addPaths()/rescan() resumes. While the app runs, the collections' folders are
// watched (FolderWatcher, on this thread): a change asks for a rescan with changedOnDisk().
#pragma once

#include "doclibrary/folder_watcher.h"

#include <QList>
#include <QObject>
#include <QString>
#include <QStringList>

#include <atomic>
#include <memory>

namespace latent::documents {
class Library;
}

// One row of the collections list.
struct CollectionRow {
    QString name;
    int documents = 0; // files of any status
    int indexed = 0;
    int problems = 0;  // failed or skipped
};

// One row of the documents list.
struct DocumentRow {
    QString path;       // absolute
    QString collection;
    QString status;     // indexed | updating | failed | skipped
    QString reason;     // why failed or skipped
    QString format;
    int pages = 0;
    int chunks = 0;
};

// What one indexing run did, as the panel reports it.
struct IndexSummary {
    QString collection;
    int indexed = 0, updated = 0, unchanged = 0, removed = 0, failed = 0, skipped = 0;
    bool cancelled = false;
    QString error; // the index itself could not be used ("" when it ran)
};

Q_DECLARE_METATYPE(CollectionRow)
Q_DECLARE_METATYPE(DocumentRow)
Q_DECLARE_METATYPE(IndexSummary)

class DocumentIndexWorker : public QObject {
    Q_OBJECT
public:
    explicit DocumentIndexWorker(const QString& databasePath, const FolderWatchOptions& watching = FolderWatchOptions{}, QObject* parent = nullptr);
    ~DocumentIndexWorker() override;

    void cancel() { cancel_.store(true); } // thread-safe

public slots:
    void addPaths(const QString& collection, const QStringList& paths); // files and folders
    void rescan(const QString& collection);
    void rescanChanged(const QString& collection); // rescan() unless the collection was removed meanwhile
    void removeCollection(const QString& collection);
    void refresh(); // answers with listed(), after watching what the index lists

signals:
    void progress(int done, int total, const QString& path);
    void finished(const IndexSummary& summary);
    void listed(const QList<CollectionRow>& collections, const QList<DocumentRow>& documents);
    void failed(const QString& message); // the index file cannot be opened or written
    void changedOnDisk(const QString& collection); // files of a watched collection changed (debounced)

private:
    latent::documents::Library* library(); // opened on first use, on this thread
    void run(const QString& collection, const QStringList* paths);
    void watch(const QList<CollectionRow>& collections, const QList<DocumentRow>& documents);

    QString path_;
    FolderWatchOptions watching_;
    FolderWatcher* watcher_ = nullptr; // created on this thread by the first watch()
    std::unique_ptr<latent::documents::Library> library_;
    std::atomic<bool> cancel_{false};
};
