// The models of the shared model folders (SystemConfig::sharedModelFolders: the built-in
// /usr/share/latent-chat/models and any the administrator names), shown to every user in the
// model panel. The folders are listed on a pool thread (a network share can be slow), never on
// the GUI thread; the list is replaced in one reset when the scan ends.
#pragma once

#include <QAbstractListModel>
#include <QFutureWatcher>
#include <QStringList>
#include <QtQml/qqmlregistration.h>

#include <vector>

struct SharedModelFile {
    QString path;   // absolute path of the .gguf
    QString folder; // the shared folder it was found in
    qint64 bytes = 0;
};

class SharedModelListModel : public QAbstractListModel {
    Q_OBJECT
    QML_ELEMENT
    QML_UNCREATABLE("owned by AppController")
    Q_PROPERTY(int count READ rowCount NOTIFY countChanged)
    Q_PROPERTY(QStringList folders READ folders NOTIFY foldersChanged)
    Q_PROPERTY(bool scanning READ scanning NOTIFY scanningChanged)
    Q_PROPERTY(QStringList paths READ paths NOTIFY pathsChanged) // PathRole of every row, in order
public:
    enum Role {
        PathRole = Qt::UserRole + 1, // "path": absolute path of the .gguf
        FileNameRole,                // "fileName": its name
        FolderRole,                  // "folder": the shared folder it is in
        SizeTextRole,                // "sizeText": "9.66 GiB"
    };
    Q_ENUM(Role)

    // Models at most this many folder levels below a shared folder are found; at most kMaxModels.
    static constexpr int kMaxDepth = 3;
    static constexpr int kMaxModels = 500;

    explicit SharedModelListModel(QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QHash<int, QByteArray> roleNames() const override;

    QStringList folders() const { return folders_; }
    bool scanning() const { return watcher_.isRunning(); }
    QStringList paths() const;

    // Sets the folders and scans them.
    void setFolders(const QStringList& folders);
    // Scans the folders again (a scan in progress is finished first; its result is dropped).
    Q_INVOKABLE void refresh();

    // The scan itself (any thread): readable *.gguf files, sorted by file name then path.
    static std::vector<SharedModelFile> scan(const QStringList& folders);

signals:
    void countChanged();
    void foldersChanged();
    void scanningChanged();
    void pathsChanged();

private:
    void onScanned();

    QStringList folders_;
    std::vector<SharedModelFile> rows_;
    QFutureWatcher<std::vector<SharedModelFile>> watcher_;
    bool rescan_ = false; // refresh() came while a scan was running
};
