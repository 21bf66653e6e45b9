#include "controllers/conversation_list_model.h"

#include "controllers/text_helpers.h"

#include <QDateTime>

#include <algorithm>

namespace {

// Newest first; equal times keep the newer conversation (higher id) on top so the order is total.
bool newerFirst(const ConversationRecord& a, const ConversationRecord& b) {
    if (a.updatedAt != b.updatedAt) return a.updatedAt > b.updatedAt;
    return a.id > b.id;
}

} // namespace

ConversationListModel::ConversationListModel(QObject* parent) : QAbstractListModel(parent) {}

int ConversationListModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(rows_.size());
}

QVariant ConversationListModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
    const ConversationRecord& row = rows_[static_cast<size_t>(index.row())];
    switch (role) {
    case Qt::DisplayRole:
    case TitleRole: return row.title;
    case ConversationIdRole: return row.id;
    case UpdatedAtRole: return QDateTime::fromMSecsSinceEpoch(row.updatedAt);
    case DateTextRole: return relativeDateText(row.updatedAt);
    case ModelRole: return row.model;
    default: return {};
    }
}

QHash<int, QByteArray> ConversationListModel::roleNames() const {
    return {
        {ConversationIdRole, "conversationId"},
        {TitleRole, "title"},
        {UpdatedAtRole, "updatedAt"},
        {DateTextRole, "dateText"},
        {ModelRole, "model"},
    };
}

void ConversationListModel::setConversations(std::vector<ConversationRecord> rows) {
    const auto before = rows_.size();
    std::stable_sort(rows.begin(), rows.end(), newerFirst);
    beginResetModel();
    rows_ = std::move(rows);
    endResetModel();
    if (rows_.size() != before) emit countChanged();
}

void ConversationListModel::upsert(const ConversationRecord& row) {
    const int from = indexOf(row.id);
    if (from < 0) {
        const auto at = std::lower_bound(rows_.begin(), rows_.end(), row, newerFirst);
        const int to = static_cast<int>(at - rows_.begin());
        beginInsertRows({}, to, to);
        rows_.insert(at, row);
        endInsertRows();
        emit countChanged();
        return;
    }

    const ConversationRecord old = rows_[static_cast<size_t>(from)];
    QList<int> roles;
    if (old.title != row.title) roles << TitleRole << Qt::DisplayRole;
    if (old.updatedAt != row.updatedAt) roles << UpdatedAtRole << DateTextRole;
    if (old.model != row.model) roles << ModelRole;

    // Where the row belongs among the others decides whether it moves.
    std::vector<ConversationRecord> others = rows_;
    others.erase(others.begin() + from);
    const int to = static_cast<int>(std::lower_bound(others.begin(), others.end(), row, newerFirst) - others.begin());
    if (to != from) {
        // beginMoveRows wants the destination as an index in the list before the move.
        beginMoveRows({}, from, from, {}, to > from ? to + 1 : to);
        others.insert(others.begin() + to, row);
        rows_ = std::move(others);
        endMoveRows();
    } else {
        rows_[static_cast<size_t>(from)] = row;
    }
    if (!roles.isEmpty()) emit dataChanged(index(to), index(to), roles);
}

void ConversationListModel::remove(qint64 id) {
    const int row = indexOf(id);
    if (row < 0) return;
    beginRemoveRows({}, row, row);
    rows_.erase(rows_.begin() + row);
    endRemoveRows();
    emit countChanged();
}

int ConversationListModel::indexOf(qint64 id) const {
    for (size_t i = 0; i < rows_.size(); ++i)
        if (rows_[i].id == id) return static_cast<int>(i);
    return -1;
}

qint64 ConversationListModel::idAt(int row) const {
    if (row < 0 || row >= rowCount()) return 0;
    return rows_[static_cast<size_t>(row)].id;
}

std::optional<ConversationRecord> ConversationListModel::find(qint64 id) const {
    const int row = indexOf(id);
    if (row < 0) return std::nullopt;
    return rows_[static_cast<size_t>(row)];
}
