#include "controllers/search_results_model.h"

#include "controllers/text_helpers.h"

SearchResultsModel::SearchResultsModel(QObject* parent) : QAbstractListModel(parent) {}

int SearchResultsModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(hits_.size());
}

QVariant SearchResultsModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
    const SearchHit& hit = hits_[static_cast<size_t>(index.row())];
    switch (role) {
    case ConversationIdRole: return hit.conversationId;
    case MessageIdRole: return hit.messageId;
    case Qt::DisplayRole:
    case TitleRole: return hit.title;
    case SnippetRole: return hit.snippet;
    case DateTextRole: return relativeDateText(hit.updatedAt);
    default: return {};
    }
}

QHash<int, QByteArray> SearchResultsModel::roleNames() const {
    return {
        {ConversationIdRole, "conversationId"},
        {MessageIdRole, "messageId"},
        {TitleRole, "title"},
        {SnippetRole, "snippet"},
        {DateTextRole, "dateText"},
    };
}

void SearchResultsModel::setHits(std::vector<SearchHit> hits) {
    const auto before = hits_.size();
    beginResetModel();
    hits_ = std::move(hits);
    endResetModel();
    if (hits_.size() != before) emit countChanged();
}
