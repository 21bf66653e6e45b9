// The chat turn on a disk that refuses writes: a real AppController over FakeChatEngine with
// fault_vfs.h failing every write from a chosen point on. The failure point is walked across
// every write call of a send + stream + finish; each time, while the disk refuses, the window
// says how many messages wait and why and marks them "not saved"; once it has room again and a
// retry ran, a fresh connection reads exactly the conversation and messages on screen, and no
// foreign-key (or any) error was shown. Also: an answer whose disk fills mid-stream reaches the
// disk whole, a follow-up after space returns saves everything, a conversation opened again
// still shows its unsaved messages, the quit flow (ask / save elsewhere / wait / quit anyway),
// in the window as well (banner, Retry now, Ctrl+Q asking, Wait closing it once saved), and a
// real full tmpfs (skipped when it cannot be mounted).
#include "chat_app.h"
#include "fault_vfs.h"

#include <QQmlApplicationEngine>
#include <QQuickItem>
#include <QQuickWindow>
#include <QtQml/qqmlextensionplugin.h>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QScopeGuard>
#include <QSignalSpy>

#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

Q_IMPORT_QML_PLUGIN(LatentChatPlugin)

namespace {

using Script = FakeChatEngine::Script;

QString reasonFor(int code) {
    return code == SQLITE_FULL ? QStringLiteral("the disk is full")
                               : QStringLiteral("the disk reported an error while reading or writing");
}

// A reply of `n` words of `width` characters each ("w1xxx…").
QString longWords(int n, int width) {
    QStringList list;
    for (int i = 1; i <= n; ++i) list << (QStringLiteral("w%1").arg(i) + QString(width, u'x')).left(width);
    return list.join(u' ');
}

// The rows on screen marked "not saved".
int unsavedOnScreen(const ChatApp& app) {
    int count = 0;
    for (int row = 0; row < app.chat()->messages()->rowCount(); ++row)
        if (!app.messageData(row, MessageListModel::SavedRole).toBool()) ++count;
    return count;
}

// The current conversation as the disk holds it (read through a connection of our own) equals
// what the window shows, message by message.
void verifyDiskMatchesScreen(const ChatApp& app) {
    app.controller->storage()->flush();
    Database fresh(app.dbPath());
    const qint64 id = app.chat()->currentConversationId();
    QVERIFY(id != 0);
    const auto conversation = fresh.conversation(id);
    QVERIFY2(conversation.has_value(), "the conversation row is on disk");
    QCOMPARE(conversation->title, app.chat()->currentTitle());
    QCOMPARE(fresh.conversations().size(), 1u);
    const std::vector<MessageRecord> stored = fresh.messages(id);
    const std::vector<MessageRecord>& shown = app.chat()->messages()->rows();
    QCOMPARE(stored.size(), shown.size());
    for (std::size_t i = 0; i < shown.size(); ++i) {
        QCOMPARE(stored[i].id, shown[i].id);
        QCOMPARE(stored[i].role, shown[i].role);
        QCOMPARE(stored[i].content, shown[i].content);
        QCOMPARE(stored[i].reasoning, shown[i].reasoning);
        QCOMPARE(stored[i].status, shown[i].status);
        QCOMPARE(stored[i].stopReason, shown[i].stopReason);
        QCOMPARE(stored[i].generatedTokens, shown[i].generatedTokens);
    }
}

// The app started with the model loaded and everything it wrote so far on disk, so that a fault
// armed next hits the chat turn only.
bool startQuiet(ChatApp& app, const Script& script) {
    if (!app.startWithModel(script)) return false;
    app.controller->storage()->flush();
    QCoreApplication::processEvents();
    return true;
}

} // namespace

class TestUnsavedChat : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() { fault_vfs::install(); }
    void cleanup() { fault_vfs::stop(); }

    void walkTheFailurePointAcrossATurn_data() {
        QTest::addColumn<int>("code");
        QTest::newRow("disk full") << SQLITE_FULL;
        QTest::newRow("I/O error") << SQLITE_IOERR_WRITE;
    }
    void walkTheFailurePointAcrossATurn() {
        QFETCH(int, code);
        Script script;
        script.reply = longWords(12, 40);
        script.pieceDelayMs = 4;
        int faultedRuns = 0;
        int writeCalls = 0;
        for (int failAfter = 0;; ++failAfter) {
            QVERIFY2(failAfter < 400, "the walk ends once a turn runs without reaching the failure point");
            ChatApp app;
            QVERIFY(startQuiet(app, script));
            app.chat()->setCheckpointInterval(15); // a few streaming checkpoints per answer
            QSignalSpy errors(app.chat(), &ChatController::errorOccurred);
            fault_vfs::failAfter(failAfter, code);
            QVERIFY(app.chat()->send(QStringLiteral("question %1").arg(failAfter)));
            QVERIFY(app.waitIdle());
            app.controller->storage()->flush();
            QCoreApplication::processEvents();
            if (fault_vfs::failures() == 0) {
                writeCalls = fault_vfs::calls();
                verifyDiskMatchesScreen(app);
                break;
            }
            ++faultedRuns;
            QTRY_VERIFY(app.controller->unsavedWrites() > 0);
            QCOMPARE(app.controller->unsavedReason(), reasonFor(code));
            QCOMPARE(unsavedOnScreen(app), app.controller->unsavedMessages());
            QCOMPARE(app.chat()->messages()->rowCount(), 2);
            QCOMPARE(app.content(1), script.reply); // shown whole whatever the disk did

            fault_vfs::stop();
            app.controller->retrySaving();
            QTRY_COMPARE(app.controller->unsavedWrites(), 0);
            QCOMPARE(app.controller->unsavedReason(), QString());
            QCOMPARE(unsavedOnScreen(app), 0);
            verifyDiskMatchesScreen(app);
            if (QTest::currentTestFailed()) {
                qWarning("failed with the failure point after %d write calls", failAfter);
                return;
            }
            QVERIFY2(errors.isEmpty(), qPrintable(errors.isEmpty() ? QString() : errors.first().first().toString()));
        }
        qInfo("%d failure points walked; the turn makes %d write calls", faultedRuns, writeCalls);
        QVERIFY(faultedRuns >= 10);
    }

    // The disk fills after the first checkpoints of a long answer; the whole answer is saved once
    // there is room again (by the back-off timer alone).
    void wholeAnswerReachesTheDiskWhenSpaceReturns() {
        Script script;
        script.reply = longWords(300, 100); // 30 KB
        script.pieceDelayMs = 1;
        ChatApp app;
        QVERIFY(startQuiet(app, script));
        app.chat()->setCheckpointInterval(50);
        QVERIFY(app.chat()->send(QStringLiteral("a long answer, please")));
        QVERIFY(QTest::qWaitFor([&] { return app.content(1).size() > 9000; }, 10'000));
        const qint64 answerId = app.messageId(1);
        QTRY_VERIFY(readRaw(app.dbPath(), answerId).content.size() > 0); // a checkpoint reached the disk
        fault_vfs::failFromNow(SQLITE_FULL);
        QVERIFY(app.waitIdle(20'000));
        QCOMPARE(app.content(1), script.reply);
        QTRY_COMPARE(app.controller->unsavedMessages(), 1);
        QCOMPARE(app.messageData(1, MessageListModel::SavedRole).toBool(), false);
        QCOMPARE(app.messageData(0, MessageListModel::SavedRole).toBool(), true);
        const RawMessage partial = readRaw(app.dbPath(), answerId);
        QVERIFY(partial.content.size() < script.reply.size());
        QCOMPARE(partial.status, QStringLiteral("streaming"));

        fault_vfs::stop();
        QTRY_COMPARE_WITH_TIMEOUT(app.controller->unsavedWrites(), 0, StorageThread::kMaxRetryMs + 2000);
        QCOMPARE(readRaw(app.dbPath(), answerId).content, script.reply);
        verifyDiskMatchesScreen(app);
    }

    // The case: a full disk at the first message, then a follow-up once there is room.
    void followUpAfterSpaceReturnsSavesEverything() {
        ChatApp app;
        QVERIFY(startQuiet(app, {}));
        QSignalSpy errors(app.chat(), &ChatController::errorOccurred);
        fault_vfs::failFromNow(SQLITE_FULL);
        QVERIFY(app.sendAndWait(QStringLiteral("first question")));
        QTRY_COMPARE(app.controller->unsavedMessages(), 2);
        QCOMPARE(app.controller->unsavedReason(), QStringLiteral("the disk is full"));
        QCOMPARE(unsavedOnScreen(app), 2);
        QCOMPARE(app.controller->unsavedText(),
                 QStringLiteral("2 messages are not saved yet: the disk is full. They are kept and saved as soon as possible."));
        fault_vfs::stop();
        QVERIFY(app.sendAndWait(QStringLiteral("second question"))); // the user acts: a retry
        QTRY_COMPARE(app.controller->unsavedWrites(), 0);
        QCOMPARE(app.controller->unsavedText(), QString());
        QCOMPARE(app.chat()->messages()->rowCount(), 4);
        verifyDiskMatchesScreen(app);
        QVERIFY(errors.isEmpty());
    }

    void reopenedConversationShowsItsUnsavedMessages() {
        ChatApp app;
        QVERIFY(startQuiet(app, {}));
        fault_vfs::failFromNow(SQLITE_IOERR_WRITE);
        QVERIFY(app.sendAndWait(QStringLiteral("keep me")));
        const qint64 id = app.chat()->currentConversationId();
        const QString answer = app.content(1);
        app.chat()->newConversation();
        QCOMPARE(app.chat()->messages()->rowCount(), 0);
        app.chat()->selectConversation(id);
        QTRY_COMPARE(app.chat()->messages()->rowCount(), 2);
        QCOMPARE(app.content(0), QStringLiteral("keep me"));
        QCOMPARE(app.content(1), answer);
        QCOMPARE(unsavedOnScreen(app), 2);
    }

    // Quitting with unsaved messages asks; "save elsewhere" exports them; "wait" quits once
    // they are saved; "quit anyway" quits.
    void quitWithUnsavedAsks() {
        ChatApp app;
        QVERIFY(startQuiet(app, {}));
        AppController* controller = app.controller.get();
        QSignalSpy asked(controller, &AppController::quitConfirmationNeeded);
        QSignalSpy approved(controller, &AppController::quitApproved);
        QVERIFY(controller->requestQuit()); // nothing unsaved: no question
        QCOMPARE(asked.size(), 0);

        fault_vfs::failFromNow(SQLITE_FULL);
        QVERIFY(app.sendAndWait(QStringLiteral("please keep this")));
        QTRY_COMPARE(controller->unsavedMessages(), 2);
        QVERIFY(!controller->requestQuit());
        QCOMPARE(asked.size(), 1);
        QCOMPARE(approved.size(), 0);

        // Save elsewhere: JSON and Markdown hold the whole conversation as shown.
        QSignalSpy exported(app.chat(), &ChatController::exportFinished);
        const QString jsonPath = app.dir.filePath(QStringLiteral("unsaved.json"));
        app.chat()->exportUnsaved(QUrl::fromLocalFile(jsonPath), QStringLiteral("json"));
        QTRY_COMPARE(exported.size(), 1);
        QVERIFY2(exported.at(0).at(1).toBool(), qPrintable(exported.at(0).at(2).toString()));
        QFile json(jsonPath);
        QVERIFY(json.open(QIODevice::ReadOnly));
        const QJsonArray conversations = QJsonDocument::fromJson(json.readAll()).object().value(QStringLiteral("conversations")).toArray();
        QCOMPARE(conversations.size(), 1);
        const QJsonObject conversation = conversations.at(0).toObject();
        QCOMPARE(conversation.value(QStringLiteral("title")).toString(), app.chat()->currentTitle());
        const QJsonArray messages = conversation.value(QStringLiteral("messages")).toArray();
        QCOMPARE(messages.size(), 2);
        QCOMPARE(messages.at(0).toObject().value(QStringLiteral("content")).toString(), QStringLiteral("please keep this"));
        QCOMPARE(messages.at(1).toObject().value(QStringLiteral("content")).toString(), app.content(1));
        QCOMPARE(messages.at(1).toObject().value(QStringLiteral("status")).toString(), QStringLiteral("complete"));
        const QString markdownPath = app.dir.filePath(QStringLiteral("unsaved.md"));
        app.chat()->exportUnsaved(QUrl::fromLocalFile(markdownPath), QStringLiteral("markdown"));
        QTRY_COMPARE(exported.size(), 2);
        QVERIFY(exported.at(1).at(1).toBool());
        QFile markdown(markdownPath);
        QVERIFY(markdown.open(QIODevice::ReadOnly));
        const QString text = QString::fromUtf8(markdown.readAll());
        QVERIFY(text.contains(QStringLiteral("please keep this")));
        QVERIFY(text.contains(app.content(1)));

        // Wait: nothing happens while the disk is still full; the quit follows the save.
        controller->waitThenQuit();
        QVERIFY(controller->waitingToQuit());
        QTest::qWait(100);
        QCOMPARE(approved.size(), 0);
        fault_vfs::stop();
        QTRY_COMPARE_WITH_TIMEOUT(approved.size(), 1, StorageThread::kMaxRetryMs + 2000);
        QVERIFY(!controller->waitingToQuit());
        QVERIFY(controller->requestQuit());
        verifyDiskMatchesScreen(app);

        // Quit anyway.
        ChatApp other;
        QVERIFY(startQuiet(other, {}));
        fault_vfs::failFromNow(SQLITE_FULL);
        QVERIFY(other.sendAndWait(QStringLiteral("lost on purpose")));
        QTRY_VERIFY(other.controller->unsavedWrites() > 0);
        QSignalSpy otherApproved(other.controller.get(), &AppController::quitApproved);
        QVERIFY(!other.controller->requestQuit());
        other.controller->quitAnyway();
        QCOMPARE(otherApproved.size(), 1);
        QVERIFY(other.controller->requestQuit());
        QTest::ignoreMessage(QtCriticalMsg, QRegularExpression(QStringLiteral("could not be saved before the app ended")));
        other.controller.reset(); // the last attempt at exit logs what is lost
    }

    // The window: the banner with its count, reason and Retry now; Ctrl+Q asks instead of
    // closing; Wait closes the window once the disk took everything.
    void windowShowsTheBacklogAndAsksAtQuit() {
        ChatApp app;
        app.create();
        QQmlApplicationEngine engine;
        engine.addImportPath(QStringLiteral("qrc:/qt/qml"));
        engine.setInitialProperties({{QStringLiteral("app"), QVariant::fromValue(app.controller.get())}});
        engine.load(QUrl(QStringLiteral("qrc:/qt/qml/LatentChat/Main.qml")));
        QVERIFY(!engine.rootObjects().isEmpty());
        auto* window = qobject_cast<QQuickWindow*>(engine.rootObjects().first());
        QVERIFY(window);
        window->show();
        QVERIFY(QTest::qWaitForWindowExposed(window));
        QVERIFY(QTest::qWaitFor([&] { return app.controller->ready(); }, 5000));
        QVERIFY(app.loadModel(makeModelFile(app.dir)));
        app.controller->storage()->flush();

        auto* banner = window->findChild<QQuickItem*>(QStringLiteral("unsavedBanner"));
        QVERIFY(banner);
        QCOMPARE(banner->isVisible(), false);
        fault_vfs::failFromNow(SQLITE_FULL);
        QVERIFY(app.sendAndWait(QStringLiteral("shown, not saved")));
        QTRY_VERIFY(banner->isVisible());
        const QQuickItem* text = banner->findChild<QQuickItem*>(QStringLiteral("noticeText"));
        QTRY_COMPARE(text->property("text").toString(), app.controller->unsavedText());
        QTRY_VERIFY2(text->property("text").toString().startsWith(QStringLiteral("2 messages are not saved yet: the disk is full")),
                     qPrintable(text->property("text").toString()));

        // Retry now, still full: still shown.
        auto* retry = banner->findChild<QQuickItem*>(QStringLiteral("noticeActionButton"));
        QVERIFY(retry && retry->isVisible());
        const int failuresBefore = fault_vfs::failures();
        QTest::mouseClick(window, Qt::LeftButton, {}, retry->mapToScene(QPointF(retry->width() / 2, retry->height() / 2)).toPoint());
        QTRY_VERIFY(fault_vfs::failures() > failuresBefore);
        QVERIFY(banner->isVisible());

        QTest::keyClick(window, Qt::Key_Q, Qt::ControlModifier);
        QObject* dialog = window->findChild<QObject*>(QStringLiteral("unsavedQuitDialog"));
        QVERIFY(dialog);
        QTRY_VERIFY(dialog->property("opened").toBool());
        QVERIFY(window->isVisible());
        app.controller->waitThenQuit(); // the dialog's Wait
        QTest::qWait(50);
        QVERIFY(window->isVisible());
        fault_vfs::stop();
        QTRY_VERIFY_WITH_TIMEOUT(!window->isVisible(), StorageThread::kMaxRetryMs + 2000);
        QCOMPARE(app.controller->unsavedWrites(), 0);
        verifyDiskMatchesScreen(app);
    }

    // A real file system that fills up: a 600 KB tmpfs (needs root; skipped otherwise).
    void realFullFileSystem() {
        if (::geteuid() != 0) QSKIP("mounting a small tmpfs needs root");
        QTemporaryDir base;
        QVERIFY(base.isValid());
        const QString mountPoint = base.filePath(QStringLiteral("small"));
        QVERIFY(QDir().mkpath(mountPoint));
        if (::mount("tmpfs", QFile::encodeName(mountPoint).constData(), "tmpfs", 0, "size=600k") != 0)
            QSKIP(qPrintable(QStringLiteral("cannot mount a tmpfs: %1").arg(QString::fromLocal8Bit(std::strerror(errno)))));
        const auto unmount = qScopeGuard([&] { ::umount2(QFile::encodeName(mountPoint).constData(), MNT_DETACH); });

        Script script;
        script.reply = longWords(200, 100); // 20 KB
        ChatApp app;
        app.dataDirOverride = mountPoint;
        QVERIFY(startQuiet(app, script));
        QSignalSpy errors(app.chat(), &ChatController::errorOccurred);
        int mostUnsaved = 0;
        connect(app.controller.get(), &AppController::unsavedChanged, this,
                [&] { mostUnsaved = std::max(mostUnsaved, app.controller->unsavedWrites()); });

        const QString fillerPath = QDir(mountPoint).filePath(QStringLiteral("filler"));
        {
            QFile filler(fillerPath);
            QVERIFY(filler.open(QIODevice::WriteOnly));
            const QByteArray block(4096, 'f');
            while (filler.write(block) == block.size() && filler.flush()) {
            }
        }
        QVERIFY(app.sendAndWait(QStringLiteral("a question on a full disk")));
        app.controller->storage()->flush();
        QTRY_VERIFY(unsavedOnScreen(app) > 0);
        QCOMPARE(unsavedOnScreen(app), app.controller->unsavedMessages());
        QCOMPARE(app.controller->unsavedReason(), QStringLiteral("the disk is full"));

        QVERIFY(QFile::remove(fillerPath));
        app.controller->retrySaving();
        QTRY_COMPARE(app.controller->unsavedWrites(), 0);
        QVERIFY(mostUnsaved > 0);
        verifyDiskMatchesScreen(app);
        QVERIFY(errors.isEmpty());
        app.controller.reset();
    }
};

QTEST_MAIN(TestUnsavedChat)

#include "test_unsaved_chat.moc"
