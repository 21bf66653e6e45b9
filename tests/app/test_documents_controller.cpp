// The documents panel's controller: adding a folder indexes it on the indexing thread with
// progress while the GUI thread stays responsive; the models show each file's status and
// reason (checked by QAbstractItemModelTester); cancel stops a run and the next one resumes;
// a restart rescans what changed.
#include "controllers/documents_controller.h"

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
};

QTEST_GUILESS_MAIN(TestDocumentsController)
#include "test_documents_controller.moc"
