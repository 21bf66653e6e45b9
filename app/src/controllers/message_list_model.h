// The open conversation's messages in order. The streaming answer is updated in place (one
// dataChanged per batch of text, ≤ 30 a second).
#pragma once

#include "storage/records.h"

#include <QAbstractListModel>
#include <QSet>
#include <QtQml/qqmlregistration.h>

#include <optional>
#include <vector>

class MessageListModel : public QAbstractListModel {
    Q_OBJECT
    QML_ELEMENT
    QML_UNCREATABLE("owned by ChatController")
    Q_PROPERTY(int count READ rowCount NOTIFY countChanged)
public:
    enum Role {
        MessageIdRole = Qt::UserRole + 1, // "messageId": qint64
        RoleNameRole,      // "role": "system" | "user" | "assistant"
        ContentRole,       // "content": answer text (Markdown), without reasoning
        ReasoningRole,     // "reasoning": the thinking block's text, "" when none
        ThinkingRole,      // "thinking": bool, the answer is still inside its thinking block
        StatusRole,        // "status": "complete" | "streaming" | "stopped" | "interrupted" | "error"
        ErrorTextRole,     // "errorText": what failed (status "error")
        BlocksRole,        // "blocks": list of {kind: "markdown"|"code", text, language} (see markdownBlocks)
        StatsTextRole,     // "statsText": "128 tokens · 9.3 tokens/s · first token 0.42 s", "" when none
        CreatedAtRole,     // "createdAt": QDateTime (local)
        ModelRole,         // "model"
        IsLastRole,        // "isLast": bool, the last message of the conversation
        SavedRole,         // "saved": bool, false while a write of it waits to reach the disk
        SourcesRole,       // "sources": an answer's document passages, a list of {number, path, fileName,
                           //   page, start, end, text, label} (label: "manual.pdf, p. 3"); [] when none
    };
    Q_ENUM(Role)

    explicit MessageListModel(QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QHash<int, QByteArray> roleNames() const override;

    void setMessages(std::vector<MessageRecord> rows);
    void append(const MessageRecord& row);
    // Streaming update of the answer with id (content/reasoning replaced, status streaming).
    void updateText(qint64 id, const QString& content, const QString& reasoning, bool thinking);
    void replace(const MessageRecord& row);      // the row with row.id, every field
    void setSources(qint64 id, const QList<SourceRecord>& sources);
    void removeFrom(qint64 id);                  // rows with id >= id
    void clear();
    // The messages whose writes are waiting (StorageBacklog::messageIds): their "saved" is false.
    void setUnsaved(const QList<qint64>& ids);
    int indexOf(qint64 id) const;
    std::optional<MessageRecord> find(qint64 id) const;
    const std::vector<MessageRecord>& rows() const { return rows_; }

signals:
    void countChanged();

private:
    std::vector<MessageRecord> rows_;
    std::vector<bool> thinking_;
    QSet<qint64> unsaved_;
};
