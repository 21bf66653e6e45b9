#include "controllers/shared_model_list_model.h"

#include "controllers/text_helpers.h"

#include <QDir>
#include <QDirIterator>
#include <QFileInfo>
#include <QtConcurrent/QtConcurrentRun>

#include <spdlog/spdlog.h>

#include <algorithm>

SharedModelListModel::SharedModelListModel(QObject* parent) : QAbstractListModel(parent) {
    connect(&watcher_, &QFutureWatcherBase::finished, this, &SharedModelListModel::onScanned);
}

int SharedModelListModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(rows_.size());
}

QVariant SharedModelListModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
    const SharedModelFile& row = rows_[static_cast<size_t>(index.row())];
    switch (role) {
    case Qt::DisplayRole:
    case FileNameRole: return QFileInfo(row.path).fileName();
    case PathRole: return row.path;
    case FolderRole: return row.folder;
    case SizeTextRole: return formatBytes(row.bytes);
    default: return {};
    }
}

QHash<int, QByteArray> SharedModelListModel::roleNames() const {
    return {{PathRole, "path"}, {FileNameRole, "fileName"}, {FolderRole, "folder"}, {SizeTextRole, "sizeText"}};
}

QStringList SharedModelListModel::paths() const {
    QStringList list;
    for (const SharedModelFile& row : rows_) list << row.path;
    return list;
}

void SharedModelListModel::setFolders(const QStringList& folders) {
    if (folders != folders_) {
        folders_ = folders;
        emit foldersChanged();
    }
    refresh();
}

void SharedModelListModel::refresh() {
    if (watcher_.isRunning()) {
        rescan_ = true;
        return;
    }
    watcher_.setFuture(QtConcurrent::run(&SharedModelListModel::scan, folders_));
    emit scanningChanged();
}

void SharedModelListModel::onScanned() {
    if (rescan_) {
        rescan_ = false;
        refresh();
        return;
    }
    const qsizetype before = static_cast<qsizetype>(rows_.size());
    beginResetModel();
    rows_ = watcher_.result();
    endResetModel();
    if (static_cast<qsizetype>(rows_.size()) != before) emit countChanged();
    emit pathsChanged();
    spdlog::info("shared model folders ({}): {} models", folders_.join(QStringLiteral(", ")).toStdString(), rows_.size());
    emit scanningChanged();
}

std::vector<SharedModelFile> SharedModelListModel::scan(const QStringList& folders) {
    std::vector<SharedModelFile> found;
    for (const QString& folder : folders) {
        const QString root = QDir::cleanPath(folder);
        // No symlinked folders: a link back up would loop. Linked files are followed (QFileInfo).
        QDirIterator it(root, {QStringLiteral("*.gguf"), QStringLiteral("*.GGUF")}, QDir::Files | QDir::Readable,
                        QDirIterator::Subdirectories);
        while (it.hasNext() && static_cast<int>(found.size()) < kMaxModels) {
            const QString path = it.next();
            if (QDir(root).relativeFilePath(path).count(QLatin1Char('/')) > kMaxDepth) continue;
            const QFileInfo info(path);
            found.push_back({info.absoluteFilePath(), root, info.size()});
        }
    }
    std::sort(found.begin(), found.end(), [](const SharedModelFile& a, const SharedModelFile& b) {
        const QString an = QFileInfo(a.path).fileName();
        const QString bn = QFileInfo(b.path).fileName();
        if (an != bn) return an.localeAwareCompare(bn) < 0;
        return a.path < b.path;
    });
    found.erase(std::unique(found.begin(), found.end(), [](const SharedModelFile& a, const SharedModelFile& b) { return a.path == b.path; }),
                found.end());
    return found;
}
