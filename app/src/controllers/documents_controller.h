// Documents for Q&A, the GUI side: collections of folders and files the user adds (add
// folder, add files, drag and drop), their documents with status and reason, and indexing on
// the DocumentIndexWorker's thread with progress and cancel. The index lives in
// <data dir>/documents.db, the same format `latent docs` reads. Opening rescans every
// collection (files changed while the app was closed; a run that was interrupted resumes);
// while the app runs, the collections' folders are watched and a change rescans its collection
// (FolderWatcher: debounced, a bounded number of watches, periodic rescans beyond them).
#pragma once

#include "controllers/document_models.h"

#include <QObject>
#include <QThread>
#include <QUrl>
#include <QtQml/qqmlregistration.h>

class DocumentsController : public QObject {
    Q_OBJECT
    QML_ELEMENT
    QML_UNCREATABLE("owned by AppController")
    Q_PROPERTY(CollectionListModel* collections READ collections CONSTANT)
    Q_PROPERTY(DocumentListModel* documents READ documents CONSTANT) // of selectedCollection
    Q_PROPERTY(QString selectedCollection READ selectedCollection WRITE setSelectedCollection NOTIFY selectedCollectionChanged)
    Q_PROPERTY(bool indexing READ indexing NOTIFY indexingChanged)
    Q_PROPERTY(double progress READ progress NOTIFY progressChanged)       // 0 … 1 of the run in progress
    Q_PROPERTY(QString currentFile READ currentFile NOTIFY progressChanged) // the file being read
    Q_PROPERTY(QString lastSummary READ lastSummary NOTIFY lastSummaryChanged) // "12 indexed, 1 failed" after a run
public:
    static constexpr const char* kDefaultCollection = "Documents";

    // rescanOnStart: index every collection's sources again once (what the app does at start).
    explicit DocumentsController(const QString& databasePath, bool rescanOnStart = true, const FolderWatchOptions& watching = FolderWatchOptions{},
                                 QObject* parent = nullptr);
    ~DocumentsController() override; // cancels indexing and joins the thread

    CollectionListModel* collections() { return &collections_; }
    DocumentListModel* documents() { return &documents_; }
    QString selectedCollection() const { return selected_; }
    void setSelectedCollection(const QString& name);
    bool indexing() const { return runs_ > 0; }
    double progress() const { return progress_; }
    QString currentFile() const { return currentFile_; }
    QString lastSummary() const { return lastSummary_; }

    // Into the selected collection (created when new). Local files only.
    Q_INVOKABLE void addFolder(const QUrl& folder);
    Q_INVOKABLE void addFiles(const QList<QUrl>& files);
    Q_INVOKABLE void addUrls(const QList<QUrl>& urls); // drag and drop: files and folders
    Q_INVOKABLE void rescan();                          // the selected collection
    Q_INVOKABLE void cancel();                          // stops after the current file
    Q_INVOKABLE void removeCollection(const QString& name);

signals:
    void selectedCollectionChanged();
    void indexingChanged();
    void progressChanged();
    void lastSummaryChanged();
    void errorOccurred(const QString& message);
    void indexingFinished(const IndexSummary& summary); // for tests and notifications

private:
    void startRun();
    void onProgress(int done, int total, const QString& path);
    void onFinished(const IndexSummary& summary);
    void onListed(const QList<CollectionRow>& collections, const QList<DocumentRow>& documents);
    void applyDocuments();

    CollectionListModel collections_;
    DocumentListModel documents_;
    QList<DocumentRow> allDocuments_;
    QString selected_ = QString::fromLatin1(kDefaultCollection);
    QThread thread_;
    DocumentIndexWorker* worker_ = nullptr; // lives on thread_
    int runs_ = 0;                          // queued or running
    double progress_ = 0;
    QString currentFile_;
    QString lastSummary_;
};
