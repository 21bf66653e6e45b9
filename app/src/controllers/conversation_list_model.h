// The sidebar's conversations, newest first.
#pragma once

#include "storage/records.h"

#include <QAbstractListModel>
#include <QtQml/qqmlregistration.h>

#include <optional>
#include <vector>

class ConversationListModel : public QAbstractListModel {
    Q_OBJECT
    QML_ELEMENT
    QML_UNCREATABLE("owned by ChatController")
    Q_PROPERTY(int count READ rowCount NOTIFY countChanged)
public:
    enum Role {
        ConversationIdRole = Qt::UserRole + 1, // "conversationId": qint64
        TitleRole,                             // "title": QString
        UpdatedAtRole,                         // "updatedAt": QDateTime (local)
        DateTextRole,                          // "dateText": "14:02" today, "Yesterday", "Mon 3 Nov", "2025-11-01"
        ModelRole,                             // "model": file name of the model last used
    };
    Q_ENUM(Role)

    explicit ConversationListModel(QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QHash<int, QByteArray> roleNames() const override;

    void setConversations(std::vector<ConversationRecord> rows); // sorts newest first
    void upsert(const ConversationRecord& row);                   // inserts or updates, keeps order
    void remove(qint64 id);
    Q_INVOKABLE int indexOf(qint64 id) const;                     // -1 when absent
    Q_INVOKABLE qint64 idAt(int row) const;                       // 0 when out of range
    std::optional<ConversationRecord> find(qint64 id) const;
    const std::vector<ConversationRecord>& rows() const { return rows_; }

signals:
    void countChanged();

private:
    std::vector<ConversationRecord> rows_;
};
