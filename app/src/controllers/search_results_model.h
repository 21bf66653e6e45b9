// Hits of the sidebar search (titles and message text), newest conversations first.
#pragma once

#include "storage/records.h"

#include <QAbstractListModel>
#include <QtQml/qqmlregistration.h>

#include <vector>

class SearchResultsModel : public QAbstractListModel {
    Q_OBJECT
    QML_ELEMENT
    QML_UNCREATABLE("owned by ChatController")
    Q_PROPERTY(int count READ rowCount NOTIFY countChanged)
public:
    enum Role {
        ConversationIdRole = Qt::UserRole + 1, // "conversationId"
        MessageIdRole,                         // "messageId": 0 for a title hit
        TitleRole,                             // "title"
        SnippetRole,                           // "snippet": plain text, match in [brackets]
        DateTextRole,                          // "dateText"
    };
    Q_ENUM(Role)

    explicit SearchResultsModel(QObject* parent = nullptr);
    int rowCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QHash<int, QByteArray> roleNames() const override;
    void setHits(std::vector<SearchHit> hits);

signals:
    void countChanged();

private:
    std::vector<SearchHit> hits_;
};
