#include "controllers/message_list_model.h"

#include "controllers/text_helpers.h"

#include <QDateTime>
#include <QFileInfo>

MessageListModel::MessageListModel(QObject* parent) : QAbstractListModel(parent) {}

int MessageListModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(rows_.size());
}

namespace {

QString statusText(const MessageRecord& row) {
    if (row.status == MessageStatus::Stopped && row.stopReason == QLatin1String(kStopReasonInterrupted))
        return QStringLiteral("interrupted");
    return messageStatusName(row.status);
}

QVariantList sourcesList(const QList<SourceRecord>& sources) {
    QVariantList list;
    int number = 0;
    for (const SourceRecord& source : sources) {
        const QString fileName = QFileInfo(source.path).fileName();
        list.append(QVariantMap{
            {QStringLiteral("number"), ++number},
            {QStringLiteral("path"), source.path},
            {QStringLiteral("fileName"), fileName},
            {QStringLiteral("page"), source.page},
            {QStringLiteral("start"), source.start},
            {QStringLiteral("end"), source.end},
            {QStringLiteral("text"), source.text},
            {QStringLiteral("label"), source.page > 0 ? QStringLiteral("%1, p. %2").arg(fileName).arg(source.page) : fileName},
        });
    }
    return list;
}

} // namespace

QVariant MessageListModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
    const auto i = static_cast<size_t>(index.row());
    const MessageRecord& row = rows_[i];
    switch (role) {
    case MessageIdRole: return row.id;
    case RoleNameRole: return messageRoleName(row.role);
    case Qt::DisplayRole:
    case ContentRole: return row.content;
    case ReasoningRole: return row.reasoning;
    case ThinkingRole: return thinking_[i];
    case StatusRole: return statusText(row);
    case ErrorTextRole: return row.errorText;
    // The user's own text is shown as typed, never as Markdown: no blocks (a pasted megabyte
    // would otherwise be split into lines each time a delegate asks).
    case BlocksRole: return row.role == MessageRole::User ? QVariantList() : markdownBlocks(row.content);
    case StatsTextRole: return row.role == MessageRole::Assistant ? messageStatsText(row) : QString();
    case CreatedAtRole: return QDateTime::fromMSecsSinceEpoch(row.createdAt);
    case ModelRole: return row.model;
    case IsLastRole: return i + 1 == rows_.size();
    case SavedRole: return !unsaved_.contains(row.id);
    case SourcesRole: return sourcesList(row.sources);
    default: return {};
    }
}

QHash<int, QByteArray> MessageListModel::roleNames() const {
    return {
        {MessageIdRole, "messageId"},   {RoleNameRole, "role"},     {ContentRole, "content"},
        {ReasoningRole, "reasoning"},   {ThinkingRole, "thinking"}, {StatusRole, "status"},
        {ErrorTextRole, "errorText"},   {BlocksRole, "blocks"},     {StatsTextRole, "statsText"},
        {CreatedAtRole, "createdAt"},   {ModelRole, "model"},       {IsLastRole, "isLast"},
        {SavedRole, "saved"},           {SourcesRole, "sources"},
    };
}

void MessageListModel::setMessages(std::vector<MessageRecord> rows) {
    const auto before = rows_.size();
    beginResetModel();
    rows_ = std::move(rows);
    thinking_.assign(rows_.size(), false);
    endResetModel();
    if (rows_.size() != before) emit countChanged();
}

void MessageListModel::append(const MessageRecord& row) {
    const int at = rowCount();
    beginInsertRows({}, at, at);
    rows_.push_back(row);
    thinking_.push_back(false);
    endInsertRows();
    if (at > 0) emit dataChanged(index(at - 1), index(at - 1), {IsLastRole});
    emit countChanged();
}

void MessageListModel::updateText(qint64 id, const QString& content, const QString& reasoning, bool thinking) {
    const int at = indexOf(id);
    if (at < 0) return;
    MessageRecord& row = rows_[static_cast<size_t>(at)];
    row.content = content;
    row.reasoning = reasoning;
    row.status = MessageStatus::Streaming;
    thinking_[static_cast<size_t>(at)] = thinking;
    emit dataChanged(index(at), index(at), {ContentRole, ReasoningRole, ThinkingRole, StatusRole, BlocksRole});
}

void MessageListModel::replace(const MessageRecord& row) {
    const int at = indexOf(row.id);
    if (at < 0) return;
    const auto i = static_cast<size_t>(at);
    const MessageRecord old = rows_[i];
    const bool wasThinking = thinking_[i];
    rows_[i] = row;
    thinking_[i] = false;

    QList<int> roles;
    if (old.role != row.role) roles << RoleNameRole;
    if (old.content != row.content) roles << ContentRole << Qt::DisplayRole << BlocksRole;
    if (old.reasoning != row.reasoning) roles << ReasoningRole;
    if (wasThinking) roles << ThinkingRole;
    if (statusText(old) != statusText(row)) roles << StatusRole;
    if (old.errorText != row.errorText) roles << ErrorTextRole;
    if (messageStatsText(old) != messageStatsText(row)) roles << StatsTextRole;
    if (old.createdAt != row.createdAt) roles << CreatedAtRole;
    if (old.model != row.model) roles << ModelRole;
    if (old.sources != row.sources) roles << SourcesRole;
    if (!roles.isEmpty()) emit dataChanged(index(at), index(at), roles);
}

void MessageListModel::removeFrom(qint64 id) {
    // Rows are in id order, but remove every matching row even if they were not, one
    // contiguous range at a time from the end.
    bool removed = false;
    const qint64 lastIdBefore = rows_.empty() ? 0 : rows_.back().id;
    int end = rowCount();
    while (end > 0) {
        int last = end - 1;
        while (last >= 0 && rows_[static_cast<size_t>(last)].id < id) --last;
        if (last < 0) break;
        int first = last;
        while (first > 0 && rows_[static_cast<size_t>(first - 1)].id >= id) --first;
        beginRemoveRows({}, first, last);
        rows_.erase(rows_.begin() + first, rows_.begin() + last + 1);
        thinking_.erase(thinking_.begin() + first, thinking_.begin() + last + 1);
        endRemoveRows();
        removed = true;
        end = first;
    }
    if (!removed) return;
    if (!rows_.empty() && rows_.back().id != lastIdBefore) {
        const int last = rowCount() - 1;
        emit dataChanged(index(last), index(last), {IsLastRole});
    }
    emit countChanged();
}

void MessageListModel::clear() {
    if (rows_.empty()) return;
    beginResetModel();
    rows_.clear();
    thinking_.clear();
    endResetModel();
    emit countChanged();
}

void MessageListModel::setUnsaved(const QList<qint64>& ids) {
    QSet<qint64> now(ids.begin(), ids.end());
    if (now == unsaved_) return;
    std::swap(now, unsaved_);
    for (int at = 0; at < rowCount(); ++at) {
        const qint64 id = rows_[static_cast<size_t>(at)].id;
        if (now.contains(id) != unsaved_.contains(id)) emit dataChanged(index(at), index(at), {SavedRole});
    }
}

int MessageListModel::indexOf(qint64 id) const {
    for (size_t i = rows_.size(); i-- > 0;) // the row asked for is usually the last one
        if (rows_[i].id == id) return static_cast<int>(i);
    return -1;
}

std::optional<MessageRecord> MessageListModel::find(qint64 id) const {
    const int at = indexOf(id);
    if (at < 0) return std::nullopt;
    return rows_[static_cast<size_t>(at)];
}

void MessageListModel::setSources(qint64 id, const QList<SourceRecord>& sources) {
    const int at = indexOf(id);
    if (at < 0) return;
    rows_[static_cast<size_t>(at)].sources = sources;
    emit dataChanged(index(at), index(at), {SourcesRole});
}
