// The documents panel's controller: adding a folder indexes it on the indexing thread with
// progress while the GUI thread stays responsive; the models show each file's status and
// reason (checked by QAbstractItemModelTester); cancel stops a run and the next one resumes;
// a restart rescans what changed; while it runs, watched folders follow files added, edited and
// deleted without user action, and past the watch limit periodic rescans do.
#include "controllers/documents_controller.h"

#include "documents/library.h"
#include "documents/retriever.h"

#include <QAbstractItemModelTester>
#include <QElapsedTimer>
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTimer>
#include <QtTest>

namespace {

void write(const QString& path, const QByteArray& bytes) {
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
    f.write(bytes);
}

// File name → status, from the documents list.
QMap<QString, QString> listed(DocumentsController& c) {
    QMap<QString, QString> out;
    for (int i = 0; i < c.documents()->rowCount(); ++i) {
        const QModelIndex idx = c.documents()->index(i);
        out[idx.data(DocumentListModel::FileNameRole).toString()] = idx.data(DocumentListModel::StatusRole).toString();
    }
    return out;
}

// Whether the index (read on this thread, as `latent docs` would) finds `word`.
bool index_finds(const QString& database, const std::string& word) {
    latent::documents::Library library(database.toStdString(), false);
    return !latent::documents::search(library, word, latent::documents::SearchOptions{}).empty();
}

IndexSummary wait_for_run(DocumentsController& c) {
    QSignalSpy finished(&c, &DocumentsController::indexingFinished);
    if (!finished.wait(120000)) return {};
    return finished.takeFirst().at(0).value<IndexSummary>();
}

} // namespace

class TestDocumentsController : public QObject {
    Q_OBJECT

private slots:
    void add_folder_shows_status_and_reasons() {
        QTemporaryDir dir;
        const QString folder = dir.filePath("docs");
        QDir().mkpath(folder);
        write(folder + "/guide.md", "# Guide\n\nThe kestrel setting controls the fan.\n");
        write(folder + "/notes.txt", "Plain notes.\n");
        write(folder + "/broken.docx", "not a zip");
        write(folder + "/blob.txt", QByteArray("\x01\0\0\x02", 4));
        DocumentsController controller(dir.filePath("documents.db"), false);
        QAbstractItemModelTester collectionsTester(controller.collections());
        QAbstractItemModelTester documentsTester(controller.documents());
        QSignalSpy indexing(&controller, &DocumentsController::indexingChanged);
        QSignalSpy progress(&controller, &DocumentsController::progressChanged);

        controller.addFolder(QUrl::fromLocalFile(folder));
        QVERIFY(controller.indexing());
        const IndexSummary s = wait_for_run(controller);
        QCOMPARE(s.indexed, 2);
        QCOMPARE(s.failed, 1);
        QCOMPARE(s.skipped, 1);
        QVERIFY(!controller.indexing());
        QCOMPARE(indexing.count(), 2);
        QVERIFY(progress.count() >= 2);
        QVERIFY(controller.lastSummary().contains("2 indexed"));
        QTRY_COMPARE(controller.documents()->rowCount(), 4);
        QCOMPARE(controller.collections()->rowCount(), 1);
        const QModelIndex c0 = controller.collections()->index(0);
        QCOMPARE(c0.data(CollectionListModel::NameRole).toString(), QString(DocumentsController::kDefaultCollection));
        QCOMPARE(c0.data(CollectionListModel::IndexedRole).toInt(), 2);
        QCOMPARE(c0.data(CollectionListModel::ProblemsRole).toInt(), 2);
        QMap<QString, QString> status, reason;
        for (int i = 0; i < controller.documents()->rowCount(); ++i) {
            const QModelIndex idx = controller.documents()->index(i);
            status[idx.data(DocumentListModel::FileNameRole).toString()] = idx.data(DocumentListModel::StatusRole).toString();
            reason[idx.data(DocumentListModel::FileNameRole).toString()] = idx.data(DocumentListModel::ReasonRole).toString();
        }
        QCOMPARE(status["guide.md"], QString("indexed"));
        QCOMPARE(status["broken.docx"], QString("failed"));
        QVERIFY(reason["broken.docx"].contains("zip"));
        QCOMPARE(status["blob.txt"], QString("skipped"));
        QVERIFY(reason["blob.txt"].contains("binary"));

        // Another collection: its own list.
        controller.setSelectedCollection("Work");
        QCOMPARE(controller.documents()->rowCount(), 0);
        controller.addFiles({QUrl::fromLocalFile(folder + "/notes.txt")});
        QCOMPARE(wait_for_run(controller).indexed, 1);
        QTRY_COMPARE(controller.documents()->rowCount(), 1);
        QTRY_COMPARE(controller.collections()->rowCount(), 2);
    }

    void gui_thread_stays_responsive_and_cancel_resumes() {
        QTemporaryDir dir;
        const QString folder = dir.filePath("many");
        QDir().mkpath(folder);
        const QByteArray filler = QByteArray("lorem ipsum dolor sit amet ").repeated(80);
        for (int i = 0; i < 600; ++i) write(folder + QString("/f%1.md").arg(i), "# File " + QByteArray::number(i) + "\n\n" + filler + "\n");
        DocumentsController controller(dir.filePath("documents.db"), false);

        // The GUI thread's event loop is timed while the first run goes; it is cancelled after
        // the first progress report.
        QElapsedTimer clock;
        qint64 last = 0, worst = 0;
        QTimer tick;
        tick.setInterval(5);
        connect(&tick, &QTimer::timeout, this, [&] {
            worst = std::max(worst, clock.elapsed() - last);
            last = clock.elapsed();
        });
        bool cancelled = false;
        connect(&controller, &DocumentsController::progressChanged, this, [&] {
            if (!cancelled && controller.progress() > 0.05) {
                cancelled = true;
                controller.cancel();
            }
        });
        clock.start();
        tick.start();
        controller.addFolder(QUrl::fromLocalFile(folder));
        const IndexSummary first = wait_for_run(controller);
        tick.stop();
        QVERIFY(first.cancelled);
        QVERIFY(first.updated > 0 && first.updated < 600);
        QVERIFY2(worst < 250, qPrintable(QString("the GUI thread was blocked for %1 ms").arg(worst)));
        qInfo("cancelled after %d of 600 files; longest GUI-thread pause %lld ms", first.updated, static_cast<long long>(worst));

        controller.rescan();
        const IndexSummary second = wait_for_run(controller);
        QVERIFY(!second.cancelled);
        QCOMPARE(second.unchanged, first.updated);
        QCOMPARE(second.updated, 600 - first.updated);
    }

    void start_rescans_changed_files() {
        QTemporaryDir dir;
        const QString folder = dir.filePath("docs");
        QDir().mkpath(folder);
        write(folder + "/a.txt", "first version");
        write(folder + "/b.txt", "unchanged");
        {
            DocumentsController controller(dir.filePath("documents.db"), false);
            controller.addFolder(QUrl::fromLocalFile(folder));
            QCOMPARE(wait_for_run(controller).indexed, 2);
        }
        write(folder + "/a.txt", "second version, longer");
        QFile::remove(folder + "/b.txt");
        DocumentsController restarted(dir.filePath("documents.db"));
        const IndexSummary s = wait_for_run(restarted);
        QCOMPARE(s.updated, 1);
        QCOMPARE(s.removed, 1);
        QTRY_COMPARE(restarted.documents()->rowCount(), 1);
    }

    void watched_folders_follow_changes() {
        QTemporaryDir dir;
        const QString folder = dir.filePath("docs");
        const QString database = dir.filePath("documents.db");
        QDir().mkpath(folder + "/sub");
        write(folder + "/a.txt", "The first version mentions alpacas.\n");
        write(folder + "/sub/b.md", "# B\n\nbravo\n");
        FolderWatchOptions watching;
        watching.debounce_ms = 200;
        DocumentsController controller(database, false, watching);
        controller.addFolder(QUrl::fromLocalFile(folder));
        QCOMPARE(wait_for_run(controller).indexed, 2);
        QTRY_COMPARE(listed(controller).size(), 2);
        QAbstractItemModelTester documentsTester(controller.documents());

        // Created in a subfolder.
        write(folder + "/sub/c.txt", "charlie\n");
        QTRY_VERIFY_WITH_TIMEOUT(listed(controller).contains("c.txt"), 10000);
        // Edited in place (the same file written again): its new words are found.
        write(folder + "/sub/b.md", "# B\n\nbravo zebrafinch\n");
        QTRY_VERIFY_WITH_TIMEOUT(index_finds(database, "zebrafinch"), 10000);
        // Edited in place into something that is not text: the list shows it skipped.
        write(folder + "/a.txt", QByteArray("\x01\0\0\x02\0\0", 6));
        QTRY_COMPARE_WITH_TIMEOUT(listed(controller).value("a.txt"), QString("skipped"), 10000);
        // A new folder: its first file comes with the rescan that finds the folder, the next
        // one because that folder is watched from then on.
        QDir().mkpath(folder + "/new");
        write(folder + "/new/d.txt", "delta\n");
        QTRY_VERIFY_WITH_TIMEOUT(listed(controller).contains("d.txt"), 10000);
        write(folder + "/new/e.txt", "echo\n");
        QTRY_VERIFY_WITH_TIMEOUT(listed(controller).contains("e.txt"), 10000);
        // Deleted, and renamed.
        QVERIFY(QFile::remove(folder + "/sub/c.txt"));
        QVERIFY(QFile::rename(folder + "/new/d.txt", folder + "/new/d2.txt"));
        QTRY_VERIFY_WITH_TIMEOUT(!listed(controller).contains("c.txt") && !listed(controller).contains("d.txt") && listed(controller).contains("d2.txt"),
                                 10000);
        QTRY_VERIFY(!controller.indexing());

        // Nothing changes now: no more runs (indexing itself does not look like a change).
        QSignalSpy runs(&controller, &DocumentsController::indexingFinished);
        QTest::qWait(1500);
        QCOMPARE(runs.count(), 0);
    }

    void over_the_watch_limit_rescans_periodically() {
        QTemporaryDir dir;
        const QString folder = dir.filePath("docs");
        QDir().mkpath(folder + "/sub");
        write(folder + "/a.txt", "alpha\n");
        write(folder + "/sub/b.txt", "bravo\n");
        FolderWatchOptions watching;
        watching.max_watched = 1; // the top folder only: sub/ is over the limit
        watching.debounce_ms = 100;
        watching.fallback_rescan_ms = 400;
        DocumentsController controller(dir.filePath("documents.db"), false, watching);
        controller.addFolder(QUrl::fromLocalFile(folder));
        QCOMPARE(wait_for_run(controller).indexed, 2);
        write(folder + "/sub/c.txt", "charlie\n"); // no watch sees this
        QTRY_VERIFY_WITH_TIMEOUT(listed(controller).contains("c.txt"), 10000);
    }

    void index_inside_a_watched_folder_does_not_rescan_forever() {
        // The index's own folder is added: its writes must not count as changes (the folder is
        // left to periodic rescans, the index files are never watched).
        QTemporaryDir dir;
        write(dir.filePath("a.txt"), "alpha\n");
        QDir().mkpath(dir.filePath("sub"));
        write(dir.filePath("sub/b.txt"), "bravo\n");
        FolderWatchOptions watching;
        watching.debounce_ms = 100;
        DocumentsController controller(dir.filePath("documents.db"), false, watching);
        controller.addFolder(QUrl::fromLocalFile(dir.path()));
        wait_for_run(controller);
        // Its subfolders are still watched; the run this change starts writes the index.
        write(dir.filePath("sub/c.txt"), "charlie\n");
        QTRY_VERIFY_WITH_TIMEOUT(listed(controller).contains("c.txt"), 10000);
        QTRY_VERIFY(!controller.indexing());
        QSignalSpy runs(&controller, &DocumentsController::indexingFinished);
        QTest::qWait(2000);
        QCOMPARE(runs.count(), 0);
    }

    void without_watching_changes_wait_for_a_rescan() {
        QTemporaryDir dir;
        const QString folder = dir.filePath("docs");
        QDir().mkpath(folder);
        write(folder + "/a.txt", "alpha\n");
        FolderWatchOptions watching;
        watching.enabled = false;
        DocumentsController controller(dir.filePath("documents.db"), false, watching);
        controller.addFolder(QUrl::fromLocalFile(folder));
        QCOMPARE(wait_for_run(controller).indexed, 1);
        write(folder + "/b.txt", "bravo\n");
        QTest::qWait(1500);
        QVERIFY(!listed(controller).contains("b.txt"));
        controller.rescan();
        QTRY_VERIFY_WITH_TIMEOUT(listed(controller).contains("b.txt"), 10000);
    }
};

QTEST_GUILESS_MAIN(TestDocumentsController)
#include "test_documents_controller.moc"
