// Watching the document collections' folders while the app runs, so that a file added, edited,
// renamed or deleted there is indexed again within seconds without the user asking.
//
// QFileSystemWatcher (inotify on Linux) tells when a watched folder's entries change (a file
// created, deleted or renamed in it) and when a watched file is written. Each folder and file is
// one inotify watch, and watches are a per-user limit shared with every other program
// (fs.inotify.max_user_watches), so at most max_watched paths are watched: every collection's
// folders first, then its documents' files while the budget lasts. A collection that does not
// fit whole (or whose folder holds the index file itself, which its own writes would keep
// changing) is rescanned every fallback_rescan_ms instead, and the log says so.
//
// Changes are debounced: a rescan is asked for once nothing changed for debounce_ms, at the
// latest max_delay_ms after the first change (a long copy still shows up while it runs). A
// rescan only reads files whose size or mtime changed, so a spurious one is cheap.
//
// Lives on the indexing thread (DocumentIndexWorker creates it there); every call comes from it.
#pragma once

#include <QElapsedTimer>
#include <QHash>
#include <QObject>
#include <QSet>
#include <QString>
#include <QStringList>
#include <QTimer>

class QFileSystemWatcher;

struct FolderWatchOptions {
    bool enabled = true;
    int max_watched = 4096;                  // folders and files watched at most, all collections together
    int debounce_ms = 1000;                  // quiet time after the last change before a rescan
    int max_delay_ms = 10000;                // a rescan starts at the latest this long after the first change
    int fallback_rescan_ms = 5 * 60 * 1000;  // period of rescans of collections not watched whole
};

// What one collection asks to watch, as listed by the indexing thread.
struct WatchRequest {
    QString collection;
    QStringList folders; // every folder under its sources (and the folders holding its file sources)
    QStringList files;   // its documents and file sources
    bool complete = true; // false: the folder walk stopped (more folders than the whole budget)
};

class FolderWatcher : public QObject {
    Q_OBJECT
public:
    // indexFile: the index's own file; neither it (nor its -wal, -shm) nor its folder is watched.
    FolderWatcher(const FolderWatchOptions& options, const QString& indexFile, QObject* parent = nullptr);

    // Watches what the requests list (and stops watching the rest), within the budget.
    void watch(const QList<WatchRequest>& requests);

    QStringList fallbackCollections() const { return fallback_.values(); } // for tests and the log

signals:
    void changed(const QString& collection); // debounced; also each fallback period

private:
    void onPathChanged(const QString& path);
    void flush();

    FolderWatchOptions options_;
    QString indexFile_;                         // the index file (its writes are ours)
    QString indexFolder_;                       // where it lives: never watched
    QFileSystemWatcher* watcher_ = nullptr;
    QHash<QString, QStringList> collectionsOf_; // watched path → collections it belongs to
    QSet<QString> fallback_;                    // collections rescanned periodically
    QSet<QString> pending_;                     // collections changed since the last flush
    QTimer debounce_;
    QTimer fallbackTimer_;
    QElapsedTimer firstPending_;
};
