#include "controllers/document_models.h"

#include <QFileInfo>

QVariant CollectionListModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
    const CollectionRow& r = rows_.at(index.row());
    switch (role) {
    case Qt::DisplayRole:
    case NameRole: return r.name;
    case DocumentsRole: return r.documents;
    case IndexedRole: return r.indexed;
    case ProblemsRole: return r.problems;
    default: return {};
    }
}

QHash<int, QByteArray> CollectionListModel::roleNames() const {
    return {{NameRole, "name"}, {DocumentsRole, "documents"}, {IndexedRole, "indexed"}, {ProblemsRole, "problems"}};
}

void CollectionListModel::setRows(const QList<CollectionRow>& rows) {
    const bool countChanges = rows.size() != rows_.size();
    beginResetModel();
    rows_ = rows;
    endResetModel();
    if (countChanges) emit countChanged();
}

QVariant DocumentListModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
    const DocumentRow& r = rows_.at(index.row());
    switch (role) {
    case Qt::DisplayRole:
    case PathRole: return r.path;
    case FileNameRole: return QFileInfo(r.path).fileName();
    case StatusRole: return r.status;
    case ReasonRole: return r.reason;
    case FormatRole: return r.format;
    case PagesRole: return r.pages;
    case ChunksRole: return r.chunks;
    default: return {};
    }
}

QHash<int, QByteArray> DocumentListModel::roleNames() const {
    return {{PathRole, "path"}, {FileNameRole, "fileName"}, {StatusRole, "status"}, {ReasonRole, "reason"},
            {FormatRole, "format"}, {PagesRole, "pages"}, {ChunksRole, "chunks"}};
}

void DocumentListModel::setRows(const QList<DocumentRow>& rows) {
    const bool countChanges = rows.size() != rows_.size();
    beginResetModel();
    rows_ = rows;
    endResetModel();
    if (countChanges) emit countChanged();
}
