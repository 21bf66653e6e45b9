#include "doclibrary/folder_watcher.h"

#include <QDir>
#include <QFileInfo>
#include <QFileSystemWatcher>

#include <spdlog/spdlog.h>

#include <algorithm>

FolderWatcher::FolderWatcher(const FolderWatchOptions& options, const QString& indexFile, QObject* parent)
    : QObject(parent), options_(options), indexFile_(QDir::cleanPath(QFileInfo(indexFile).absoluteFilePath())),
      indexFolder_(QFileInfo(indexFile_).absolutePath()), watcher_(new QFileSystemWatcher(this)), debounce_(this),
      fallbackTimer_(this) {
    connect(watcher_, &QFileSystemWatcher::directoryChanged, this, &FolderWatcher::onPathChanged);
    connect(watcher_, &QFileSystemWatcher::fileChanged, this, &FolderWatcher::onPathChanged);
    debounce_.setSingleShot(true);
    connect(&debounce_, &QTimer::timeout, this, &FolderWatcher::flush);
    connect(&fallbackTimer_, &QTimer::timeout, this, [this] {
        for (const QString& collection : std::as_const(fallback_)) emit changed(collection);
    });
}

void FolderWatcher::watch(const QList<WatchRequest>& requests) {
    QHash<QString, QStringList> wanted; // path → collections
    QStringList order;                  // wanted paths by priority
    QSet<QString> fallback;
    int budget = std::max(0, options_.max_watched);
    const auto take = [&](const QString& path, const QString& collection) {
        const auto it = wanted.find(path);
        if (it != wanted.end()) {
            if (!it->contains(collection)) it->append(collection);
            return true;
        }
        if (budget == 0) return false;
        --budget;
        wanted.insert(path, {collection});
        order.append(path);
        return true;
    };
    // Folders first: they see files come and go (and new subfolders, watched after the rescan
    // that finds them). Files next: they see edits made in place, which a folder does not.
    for (const WatchRequest& r : requests) {
        if (!r.complete) fallback.insert(r.collection);
        for (const QString& folder : r.folders) {
            if (QDir::cleanPath(folder) == indexFolder_ || !take(folder, r.collection)) fallback.insert(r.collection);
        }
    }
    for (const WatchRequest& r : requests) {
        for (const QString& file : r.files) {
            if (QDir::cleanPath(file).startsWith(indexFile_)) continue; // documents.db, -wal, -shm: changed by every run
            if (!take(file, r.collection)) fallback.insert(r.collection);
        }
    }

    const QStringList current = watcher_->directories() + watcher_->files();
    const QSet<QString> watching(current.begin(), current.end());
    QStringList stale, fresh;
    for (const QString& path : current) {
        if (!wanted.contains(path)) stale.append(path);
    }
    for (const QString& path : std::as_const(order)) {
        if (!watching.contains(path)) fresh.append(path);
    }
    if (!stale.isEmpty()) watcher_->removePaths(stale);
    // A path refused while it exists means the system's watch limit (or an unreadable folder):
    // its collection is rescanned periodically. A path gone since the listing is seen by its folder.
    const QStringList refused = fresh.isEmpty() ? QStringList() : watcher_->addPaths(fresh);
    int refusedExisting = 0;
    for (const QString& path : refused) {
        if (QFileInfo::exists(path)) {
            ++refusedExisting;
            for (const QString& collection : wanted.value(path)) fallback.insert(collection);
        }
        wanted.remove(path);
    }
    if (refusedExisting > 0) {
        spdlog::warn("documents: the system refused to watch {} paths (inotify limit fs.inotify.max_user_watches?)", refusedExisting);
    }

    for (const QString& collection : fallback) {
        if (!fallback_.contains(collection)) {
            spdlog::warn("documents: the folders of collection '{}' are not all watched (at most {} folders and files are watched, the "
                         "index's own folder never); it is rescanned every {:.1f} s instead",
                         collection.toStdString(), options_.max_watched, options_.fallback_rescan_ms / 1000.0);
        }
    }
    for (const QString& collection : std::as_const(fallback_)) {
        if (!fallback.contains(collection)) spdlog::info("documents: collection '{}' is watched whole again", collection.toStdString());
    }
    if (wanted.size() != collectionsOf_.size()) {
        spdlog::info("documents: watching {} folders and files of {} collection(s) for changes", wanted.size(), requests.size());
    }
    collectionsOf_ = std::move(wanted);
    fallback_ = std::move(fallback);
    QSet<QString> known;
    for (const WatchRequest& r : requests) known.insert(r.collection);
    pending_.intersect(known); // a removed collection is not rescanned (that would create it again)
    if (fallback_.isEmpty()) fallbackTimer_.stop();
    else if (!fallbackTimer_.isActive()) fallbackTimer_.start(std::max(1, options_.fallback_rescan_ms));
}

void FolderWatcher::onPathChanged(const QString& path) {
    const auto it = collectionsOf_.constFind(path);
    if (it == collectionsOf_.constEnd()) return;
    if (pending_.isEmpty()) firstPending_.start();
    for (const QString& collection : *it) pending_.insert(collection);
    const qint64 left = options_.max_delay_ms - firstPending_.elapsed();
    debounce_.start(static_cast<int>(std::clamp<qint64>(left, 0, options_.debounce_ms)));
}

void FolderWatcher::flush() {
    const QSet<QString> collections = std::exchange(pending_, {});
    for (const QString& collection : collections) emit changed(collection);
}
