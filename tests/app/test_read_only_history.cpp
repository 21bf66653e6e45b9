// Read-only data: latent.db (or its whole folder) on a read-only tmpfs or bind mount — real
// read-only media even for root, where chmod stops nothing — and, not as root, chmod. The
// history is read (in memory when it must be migrated, repaired or have answers marked
// interrupted first), every write fails, nothing on the media changes; the app becomes ready,
// loads --model, says why in a persistent banner, and the composer never waits; problems met
// before the window exists are shown in a dialog; the executable itself keeps running.
#include "controllers/app_controller.h"
#include "controllers/startup_problems.h"
#include "inference/fake_chat_engine.h"
#include "model/model_builder.h"
#include "storage/database.h"

#include "storage_faults.h"

#include <QGuiApplication>
#include <QProcess>
#include <QQmlApplicationEngine>
#include <QQuickItem>
#include <QQuickWindow>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QtQml/qqmlextensionplugin.h>

#include <memory>

Q_IMPORT_QML_PLUGIN(LatentChatPlugin)

using namespace storage_faults;

namespace {

// Names and bytes of every file in `dir`: what must not change on read-only media.
QMap<QString, QByteArray> snapshot(const QString& dir) {
    QMap<QString, QByteArray> files;
    for (const QString& name : QDir(dir).entryList(QDir::Files)) files.insert(name, readFile(dir + QLatin1Char('/') + name));
    return files;
}

// FakeChatEngine reads no model file, but ModelController refuses a missing one.
QString makeModelFile(const QTemporaryDir& dir) {
    const QString path = dir.filePath(QStringLiteral("model.gguf"));
    QFile file(path);
    if (file.open(QIODevice::WriteOnly)) file.write("GGUF not really");
    return path;
}

// Every write kind the app does fails, as read-only (SQLITE_READONLY), and says so.
void checkWritesFail(Database& db) {
    ConversationRecord conversation;
    conversation.id = 4242;
    conversation.title = QStringLiteral("new");
    try {
        db.insertConversation(conversation);
        QFAIL("a write to a read-only history succeeded");
    } catch (const StorageError& error) {
        QVERIFY2(QString::fromUtf8(error.what()).contains(QStringLiteral("readonly")), error.what());
    }
    QVERIFY_THROWS_EXCEPTION(StorageError, db.setSetting(QStringLiteral("k"), 1));
    QVERIFY_THROWS_EXCEPTION(StorageError, db.deleteConversation(1));
}

} // namespace

class TestReadOnlyHistory : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<QTemporaryDir> dir_;
    std::unique_ptr<ProtectedFolder> folder_;
    QString data_; // the folder that becomes read-only
    QString path_; // latent.db in it

private slots:
    void init() {
        dir_ = std::make_unique<QTemporaryDir>();
        QVERIFY(dir_->isValid());
        data_ = dir_->filePath(QStringLiteral("data"));
        QVERIFY(QDir().mkpath(data_));
        path_ = data_ + QStringLiteral("/latent.db");
        folder_ = std::make_unique<ProtectedFolder>(data_);
        if (!folder_->unavailable().isEmpty()) QSKIP(qPrintable(folder_->unavailable()));
    }
    void cleanup() {
        folder_.reset(); // unmounts before the temporary folder goes
        dir_.reset();
    }

    void readOnlyFolderShowsEverything() {
        const History history = writeHistory(path_);
        QVERIFY(folder_->protect());
        const auto before = snapshot(data_);
        {
            Database db(path_);
            QVERIFY(db.readOnly());
            const QString reason = db.openReport().readOnlyReason;
            QVERIFY2(reason.contains(QStringLiteral("read-only file system")) || reason.contains(QStringLiteral("cannot be written")),
                     qPrintable(reason));
            QCOMPARE(db.conversations().size(), std::size_t(9));
            for (const ConversationRecord& conversation : db.conversations()) {
                const auto messages = db.messages(conversation.id);
                QCOMPARE(messages.size(), std::size_t(13));
                for (const MessageRecord& message : messages) QCOMPARE(message.content, history.messages[message.id].content);
            }
            QCOMPARE(db.search(QStringLiteral("only17z")).size(), std::size_t(1));
            QCOMPARE(db.openReport().nextMessageId, qint64(history.messages.size() + 1));
            checkWritesFail(db);
        }
        QCOMPARE(snapshot(data_), before);
    }

    void readOnlyFileInWritableFolder() {
        writeHistory(path_, 2, 4);
        QVERIFY(folder_->protectFile(path_));
        const QByteArray before = readFile(path_);
        {
            Database db(path_);
            QVERIFY(db.readOnly());
            QVERIFY2(db.openReport().readOnlyReason.contains(QStringLiteral("latent.db")), qPrintable(db.openReport().readOnlyReason));
            QCOMPARE(db.messages(2).size(), std::size_t(4));
            checkWritesFail(db);
        }
        QCOMPARE(readFile(path_), before);
    }

    void missingFileInReadOnlyFolder() {
        QVERIFY(folder_->protect());
        Database db(path_);
        QVERIFY(db.readOnly());
        QVERIFY(db.conversations().empty());
        QCOMPARE(db.openReport().nextConversationId, qint64(1));
        checkWritesFail(db);
        QVERIFY(!QFile::exists(path_));
    }

    void olderSchemaIsMigratedInMemory() {
        Database::createAtVersion(path_, 1);
        QCOMPARE(rawExec(path_, R"sql(
                INSERT INTO conversations (id, title, created_at, updated_at) VALUES (1, 'old chat', 1, 2);
                INSERT INTO messages (id, conversation_id, role, content, status, created_at, tokens_per_second)
                    VALUES (1, 1, 'user', 'from version one', 'complete', 1, 0),
                           (2, 1, 'assistant', 'half an answer', 'streaming', 2, 12.5);
            )sql"), QString());
        QVERIFY(folder_->protect());
        const auto before = snapshot(data_);
        {
            Database db(path_);
            QVERIFY(db.readOnly());
            QCOMPARE(db.openReport().foundVersion, 1);
            QVERIFY(db.openReport().backupPath.isEmpty());
            QCOMPARE(db.openReport().interruptedMessages, 1);
            const auto messages = db.messages(1);
            QCOMPARE(messages.size(), std::size_t(2));
            QCOMPARE(messages[0].content, QStringLiteral("from version one"));
            QCOMPARE(messages[1].status, MessageStatus::Stopped);
            QCOMPARE(messages[1].stopReason, QString::fromLatin1(kStopReasonInterrupted));
            QCOMPARE(messages[1].generationTokensPerSecond, 12.5);
            QCOMPARE(db.search(QStringLiteral("version")).size(), std::size_t(1));
            checkWritesFail(db);
        }
        QCOMPARE(snapshot(data_), before);
    }

    void damagedHistoryIsSalvagedInMemory() {
        const uint32_t seed = testSeed("read-only and damaged");
        latent::test::Random random(seed);
        const History history = writeHistory(path_);
        const QList<qint64> pages = pagesOf(path_, QStringLiteral("message_fts_data"));
        QVERIFY(writeAt(path_, (pages.at(random.bits() % pages.size()) - 1) * kPageSize, damagedPage(random)));
        QVERIFY(folder_->protect());
        const auto before = snapshot(data_);
        {
            Database db(path_);
            const Database::OpenReport& report = db.openReport();
            QVERIFY(db.readOnly());
            QVERIFY(report.salvaged);
            QVERIFY(report.salvageComplete);
            QVERIFY(report.damagedCopyPath.isEmpty()); // nothing can be moved on read-only media
            QCOMPARE(report.messagesRecovered, qint64(history.messages.size()));
            QVERIFY(AppController::repairNotice(report).contains(QStringLiteral("the damaged file was left as it is")));
            QCOMPARE(db.search(QStringLiteral("only33z")).size(), std::size_t(1));
            checkWritesFail(db);
        }
        QCOMPARE(snapshot(data_), before);
    }

    void fullDiskDuringOpenFallsBackToReadOnly() {
        if (::geteuid() != 0) QSKIP("needs a small tmpfs, mounted as root");
        Database::createAtVersion(path_, 1);
        QCOMPARE(rawExec(path_, "INSERT INTO conversations (id, title, created_at, updated_at) VALUES (1, 'kept', 1, 1);"
                                "INSERT INTO messages (id, conversation_id, role, content, status, created_at) "
                                "VALUES (1, 1, 'user', 'still readable', 'complete', 1);"),
                 QString());
        QVERIFY(folder_->fill()); // the migration's backup copy cannot be written
        Database db(path_);
        QVERIFY(db.readOnly());
        QVERIFY2(db.openReport().readOnlyReason.contains(QStringLiteral("full")), qPrintable(db.openReport().readOnlyReason));
        QCOMPARE(db.messages(1).size(), std::size_t(1));
        QCOMPARE(db.messages(1)[0].content, QStringLiteral("still readable"));
    }

    // ---- the app ----

    void appShowsHistoryLoadsModelAndSaysWhy() {
        writeHistory(path_, 3, 4);
        QVERIFY(folder_->protect());
        QTemporaryDir models;
        const QString model = makeModelFile(models);
        AppController app(data_, std::make_unique<FakeChatEngine>(), model);
        QVERIFY(QTest::qWaitFor([&] { return app.ready(); }, 10'000));
        QVERIFY(app.readOnly());
        QVERIFY2(app.readOnlyNotice().contains(QStringLiteral("new messages cannot be saved")), qPrintable(app.readOnlyNotice()));
        QVERIFY(app.readOnlyNotice().contains(app.readOnlyReason()));
        QTRY_COMPARE(app.chat()->conversations()->rowCount(), 3);
        QTRY_VERIFY_WITH_TIMEOUT(app.model()->loaded(), 10'000); // --model
        app.chat()->selectConversation(2);
        QTRY_COMPARE(app.chat()->messages()->rowCount(), 4);
        QTRY_VERIFY(app.chat()->canSend());
        // A question is still answered; the unsaved messages are kept in memory and counted
        // (the unsaved banner), nothing waits and nothing is dropped with an error.
        QSignalSpy errors(app.chat(), &ChatController::errorOccurred);
        QVERIFY(app.chat()->send(QStringLiteral("still answered?")));
        QTRY_VERIFY_WITH_TIMEOUT(!app.chat()->generating(), 10'000);
        QTRY_VERIFY(app.chat()->canSend());
        QCOMPARE(app.chat()->messages()->rowCount(), 6);
        QTRY_COMPARE(app.unsavedMessages(), 2);
        QCOMPARE(app.unsavedReason(), QStringLiteral("the chat history is read-only"));
        QVERIFY(errors.isEmpty());
    }

    void appWhenTheHistoryCannotBeOpenedAtAll() {
        // A file from a newer version is refused, not read: the app still starts.
        QCOMPARE(rawExec(path_, "CREATE TABLE future(x); PRAGMA user_version = 99;"), QString());
        QTemporaryDir models;
        AppController app(data_, std::make_unique<FakeChatEngine>(), makeModelFile(models));
        QVERIFY(QTest::qWaitFor([&] { return app.ready(); }, 10'000));
        QVERIFY(app.readOnly());
        QVERIFY2(app.readOnlyNotice().contains(QStringLiteral("could not be opened")), qPrintable(app.readOnlyNotice()));
        QVERIFY(app.readOnlyReason().contains(QStringLiteral("newer Latent Chat")));
        QTRY_VERIFY_WITH_TIMEOUT(app.model()->loaded(), 10'000);
        QVERIFY(app.chat()->send(QStringLiteral("hello")));
        QTRY_VERIFY_WITH_TIMEOUT(!app.chat()->generating(), 10'000);
        QTRY_VERIFY(app.chat()->canSend());
    }

    void windowShowsThePersistentBanner() {
        writeHistory(path_, 1, 2);
        QVERIFY(folder_->protect());
        QTemporaryDir models;
        AppController app(data_, std::make_unique<FakeChatEngine>(), makeModelFile(models));
        QQmlApplicationEngine engine;
        engine.addImportPath(QStringLiteral("qrc:/qt/qml"));
        engine.setInitialProperties({{QStringLiteral("app"), QVariant::fromValue(&app)}});
        engine.load(QUrl(QStringLiteral("qrc:/qt/qml/LatentChat/Main.qml")));
        QVERIFY(!engine.rootObjects().isEmpty());
        auto* window = qobject_cast<QQuickWindow*>(engine.rootObjects().first());
        QVERIFY(window);
        QTRY_VERIFY_WITH_TIMEOUT(app.model()->loaded(), 10'000);
        auto* banner = window->findChild<QQuickItem*>(QStringLiteral("readOnlyBanner"));
        QVERIFY(banner);
        QTRY_VERIFY(banner->isVisible());
        QCOMPARE(banner->property("text").toString(), app.readOnlyNotice());
        QCOMPARE(banner->property("dismissible").toBool(), false);
        auto* dismiss = banner->findChild<QQuickItem*>(QStringLiteral("dismissNoticeButton"));
        QVERIFY(dismiss);
        QVERIFY(!dismiss->isVisible()); // it stays while the cause does
        auto* composer = window->findChild<QQuickItem*>(QStringLiteral("composer"));
        QVERIFY(composer);
        QTRY_COMPARE(composer->property("disabledReason").toString(), QString()); // not "Opening the chat history…"
    }

    void startupProblemsGetADialog() {
        QVERIFY(folder_->protect());
        StartupProblems problems;
        problems.add(StartupProblems::dataDirProblem(data_));
        problems.add(QString()); // nothing to say: ignored
        QCOMPARE(problems.problems().size(), 1);
        QVERIFY2(problems.problems().first().contains(QStringLiteral("cannot be written")), qPrintable(problems.text()));
        QQmlEngine engine;
        QVERIFY(problems.show(engine));
        QWindow* dialog = nullptr;
        for (QWindow* window : QGuiApplication::topLevelWindows())
            if (window->title() == QStringLiteral("Latent Chat cannot save your data")) dialog = window;
        QVERIFY(dialog);
        QVERIFY(dialog->isVisible());
        auto* text = dialog->findChild<QQuickItem*>(QStringLiteral("startupMessage"));
        QVERIFY(text);
        QCOMPARE(text->property("text").toString(), problems.text());
    }

    void executableRunsOnReadOnlyData() {
        const QString exe = qEnvironmentVariable("LATENT_CHAT");
        if (exe.isEmpty()) QSKIP("LATENT_CHAT (path of latent-chat) is not set; run through CTest");
        writeHistory(path_, 2, 2);
        QVERIFY(folder_->protect());
        QTemporaryDir models;
        const QString model = models.filePath(QStringLiteral("tiny.gguf"));
        latent::ModelShape shape = *latent::model_shape_preset("tiny");
        latent::build_model_file(shape, latent::BuildOptions{}, model.toStdString());
        QProcess process;
        process.setProcessChannelMode(QProcess::MergedChannels);
        process.start(exe, {QStringLiteral("--data-dir"), data_, QStringLiteral("--model"), model});
        QVERIFY(process.waitForStarted(10'000));
        QByteArray output;
        QTRY_VERIFY_WITH_TIMEOUT((output += process.readAll()).contains("model loaded: " + model.toUtf8()), 30'000);
        QVERIFY2(output.contains("chat history opened read-only"), output.constData());
        QVERIFY2(output.contains("startup: The data folder"), output.constData());
        QCOMPARE(process.state(), QProcess::Running);
        process.terminate();
        QVERIFY(process.waitForFinished(15'000));
        QCOMPARE(process.exitCode(), 0);
    }
};

int main(int argc, char** argv) {
    isolateMounts(); // before QGuiApplication starts any thread
    QGuiApplication app(argc, argv);
    TestReadOnlyHistory test;
    return QTest::qExec(&test, argc, argv);
}
#include "test_read_only_history.moc"
