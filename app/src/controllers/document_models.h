// The document panel's lists: collections, and the documents of the selected collection with
// their status and reason. Filled from DocumentIndexWorker snapshots (the GUI thread only
// copies rows).
#pragma once

#include "doclibrary/document_index_worker.h"

#include <QAbstractListModel>
#include <QtQml/qqmlregistration.h>

class CollectionListModel : public QAbstractListModel {
    Q_OBJECT
    QML_ELEMENT
    QML_UNCREATABLE("owned by DocumentsController")
    Q_PROPERTY(int count READ rowCount NOTIFY countChanged)
public:
    enum Role {
        NameRole = Qt::UserRole + 1, // "name"
        DocumentsRole,               // "documents": files of any status
        IndexedRole,                 // "indexed"
        ProblemsRole,                // "problems": failed or skipped
    };
    Q_ENUM(Role)

    explicit CollectionListModel(QObject* parent = nullptr) : QAbstractListModel(parent) {}
    int rowCount(const QModelIndex& parent = {}) const override { return parent.isValid() ? 0 : static_cast<int>(rows_.size()); }
    QVariant data(const QModelIndex& index, int role) const override;
    QHash<int, QByteArray> roleNames() const override;
    void setRows(const QList<CollectionRow>& rows);
    const QList<CollectionRow>& rows() const { return rows_; }

signals:
    void countChanged();

private:
    QList<CollectionRow> rows_;
};

class DocumentListModel : public QAbstractListModel {
    Q_OBJECT
    QML_ELEMENT
    QML_UNCREATABLE("owned by DocumentsController")
    Q_PROPERTY(int count READ rowCount NOTIFY countChanged)
public:
    enum Role {
        PathRole = Qt::UserRole + 1, // "path": absolute
        FileNameRole,                // "fileName"
        StatusRole,                  // "status": indexed | updating | failed | skipped
        ReasonRole,                  // "reason": why failed or skipped, else ""
        FormatRole,                  // "format": text, code, markdown, html, pdf, docx, odt, epub
        PagesRole,                   // "pages": PDF pages, else 0
        ChunksRole,                  // "chunks"
    };
    Q_ENUM(Role)

    explicit DocumentListModel(QObject* parent = nullptr) : QAbstractListModel(parent) {}
    int rowCount(const QModelIndex& parent = {}) const override { return parent.isValid() ? 0 : static_cast<int>(rows_.size()); }
    QVariant data(const QModelIndex& index, int role) const override;
    QHash<int, QByteArray> roleNames() const override;
    void setRows(const QList<DocumentRow>& rows);
    const QList<DocumentRow>& rows() const { return rows_; }

signals:
    void countChanged();

private:
    QList<DocumentRow> rows_;
};
