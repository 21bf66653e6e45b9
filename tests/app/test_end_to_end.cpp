// End to end: the real UI (Main.qml), the real engine on a generated tiny model, the real
// database. A question is typed into the window (which must have the composer focused when it
// opens) and sent with Enter; the answer streams in; both land in latent.db; a restart shows the
// conversation again. While the answer is generated the GUI thread's event loop is timed: it
// must never stall (nothing slow on the GUI thread). The last test starts the `latent-chat`
// executable itself offscreen.
#include "app_window_support.h"
#include "controllers/app_controller.h"
#include "inference/engine_chat_engine.h"
#include "inference/fake_chat_engine.h"
#include "storage/database.h"
#include "storage/storage_thread.h"

#include <QElapsedTimer>
#include <QGuiApplication>
#include <QProcess>
#include <QQmlApplicationEngine>
#include <QQuickItem>
#include <QQuickWindow>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <QtQml/qqmlextensionplugin.h>

#include <memory>

Q_IMPORT_QML_PLUGIN(LatentChatPlugin)

using namespace app_test;

class EndToEndTest : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void typedQuestionIsAnsweredAndStored();
    void floodOfTextKeepsTheGuiResponsive();
    void keyboardShortcutsDriveTheWindow();
    void executableStartsAndAnswersVersion();
    void executableOpensDataDirAndModel();

private:
    QTemporaryDir models_;
    QString modelPath_;
};

void EndToEndTest::initTestCase() {
    QVERIFY(models_.isValid());
    modelPath_ = makeModel(models_);
}

void EndToEndTest::typedQuestionIsAnsweredAndStored() {
    QTemporaryDir data;
    QVERIFY(data.isValid());
    const QString question = QStringLiteral("What is multi-head latent attention?");
    QString answer;
    double maxGapMs = 0.0;
    {
        AppController app(data.path(), std::make_unique<EngineChatEngine>(), modelPath_);
        LoadedUi ui = loadUi(app);
        QVERIFY2(ui.window, "Main.qml did not load");
        ui.window->show();
        QVERIFY(QTest::qWaitForWindowExposed(ui.window));
        QTRY_VERIFY_WITH_TIMEOUT(app.ready(), 10000);
        QTRY_VERIFY_WITH_TIMEOUT(app.model()->loaded(), 30000);
        app.settings()->setMaxNewTokens(600);
        app.settings()->setTemperature(0.0);

        // The composer has focus when the window opens: typing goes straight into it.
        QTRY_VERIFY(ui.window->activeFocusItem() != nullptr);
        QQuickItem* input = ui.window->activeFocusItem();
        QVERIFY2(input->inherits("QQuickTextEdit"), qPrintable(QStringLiteral("focused item is a %1")
                                                                    .arg(QString::fromLatin1(input->metaObject()->className()))));
        typeText(ui.window, question);
        QCOMPARE(input->property("text").toString(), question);

        EventLoopProbe probe;
        QTest::keyClick(ui.window, Qt::Key_Return);
        QTRY_VERIFY_WITH_TIMEOUT(app.chat()->generating(), 5000);
        QTRY_VERIFY_WITH_TIMEOUT(!app.chat()->generating(), 60000);
        maxGapMs = probe.maxGapMs();

        // Sent: the composer is empty and focused again.
        QCOMPARE(input->property("text").toString(), QString());
        QCOMPARE(ui.window->activeFocusItem(), input);

        MessageListModel* messages = app.chat()->messages();
        QCOMPARE(messages->rowCount(), 2);
        const MessageRecord user = messages->rows()[0];
        const MessageRecord reply = messages->rows()[1];
        QCOMPARE(user.role, MessageRole::User);
        QCOMPARE(user.content, question);
        QCOMPARE(reply.role, MessageRole::Assistant);
        QVERIFY(reply.status == MessageStatus::Complete);
        QVERIFY(reply.generatedTokens > 0);
        answer = reply.content;
        qInfo("answer: %d tokens, %.1f tokens/s; max event-loop gap while generating %.1f ms (%d ticks)",
              reply.generatedTokens, reply.generationTokensPerSecond, maxGapMs, probe.ticks());
        app.storage()->flush();

        // Committed while the app runs, read through a second connection.
        Database db(data.filePath(QStringLiteral("latent.db")));
        const auto conversations = db.conversations();
        QCOMPARE(int(conversations.size()), 1);
        QCOMPARE(conversations[0].title, question);
        const auto stored = db.messages(conversations[0].id);
        QCOMPARE(int(stored.size()), 2);
        QCOMPARE(stored[0].content, question);
        QCOMPARE(stored[1].content, answer);
        QVERIFY(stored[1].status == MessageStatus::Complete);
    }
    QVERIFY2(maxGapMs < 250.0, qPrintable(QStringLiteral("GUI thread stalled for %1 ms while generating").arg(maxGapMs)));

    // Restart without a model: the conversation is listed and opens with both messages.
    AppController app(data.path(), std::make_unique<EngineChatEngine>());
    LoadedUi ui = loadUi(app);
    QVERIFY(ui.window);
    QTRY_VERIFY_WITH_TIMEOUT(app.ready(), 10000);
    QTRY_COMPARE_WITH_TIMEOUT(app.chat()->conversations()->rowCount(), 1, 5000);
    app.chat()->selectConversation(app.chat()->conversations()->idAt(0));
    QTRY_COMPARE_WITH_TIMEOUT(app.chat()->messages()->rowCount(), 2, 5000);
    QCOMPARE(app.chat()->messages()->rows()[0].content, question);
    QCOMPARE(app.chat()->messages()->rows()[1].content, answer);
}

void EndToEndTest::floodOfTextKeepsTheGuiResponsive() {
    // The worst case for the GUI thread: an engine that produces text as fast as it can, long
    // Markdown with code blocks, rendered by the real delegates.
    QTemporaryDir data;
    QVERIFY(data.isValid());
    FakeChatEngine::Script script;
    QString reply;
    for (int i = 0; i < 2000; ++i)
        reply += (i % 40 == 0) ? QStringLiteral("\n```cpp\nint x%1 = %1;\n```\n").arg(i)
                               : QStringLiteral("word%1 **bold** and `code` ").arg(i);
    script.reply = reply;
    script.pieceDelayMs = 1; // ~2,000 pieces in a few seconds, batched to ≤ 30 updates a second
    AppController app(data.path(), std::make_unique<FakeChatEngine>(script));
    LoadedUi ui;
    QVERIFY(showWithModel(app, ui, modelPath_)); // the fake reads nothing; the file only has to exist

    EventLoopProbe probe;
    QVERIFY(app.chat()->send(QStringLiteral("flood me")));
    QTRY_VERIFY_WITH_TIMEOUT(!app.chat()->generating(), 30000);
    qInfo("flood: max event-loop gap %.1f ms (%d ticks)", probe.maxGapMs(), probe.ticks());
    QVERIFY2(probe.maxGapMs() < 250.0, qPrintable(QStringLiteral("GUI thread stalled for %1 ms").arg(probe.maxGapMs())));
    QCOMPARE(app.chat()->messages()->rows().back().content.trimmed(), reply.trimmed());
}

void EndToEndTest::keyboardShortcutsDriveTheWindow() {
    // The shortcuts, pressed on the real window: Esc stops an answer, Ctrl+N starts a new
    // chat, Ctrl+F goes to the search field, Ctrl+L back to the composer.
    QTemporaryDir data;
    QVERIFY(data.isValid());
    FakeChatEngine::Script script;
    script.pieceDelayMs = 50;
    AppController app(data.path(), std::make_unique<FakeChatEngine>(script));
    LoadedUi ui;
    QVERIFY(showWithModel(app, ui, modelPath_)); // the fake reads nothing; the file only has to exist

    const QString question = QStringLiteral("one two three four five six seven eight nine ten");
    QTRY_VERIFY(ui.window->activeFocusItem() != nullptr);
    typeText(ui.window, question);
    QTest::keyClick(ui.window, Qt::Key_Return);
    QTRY_VERIFY_WITH_TIMEOUT(app.chat()->generating(), 5000);
    QTRY_VERIFY_WITH_TIMEOUT(!app.chat()->messages()->rows().back().content.isEmpty(), 5000);
    QTest::keyClick(ui.window, Qt::Key_Escape);
    QTRY_VERIFY_WITH_TIMEOUT(!app.chat()->generating(), 5000);
    QVERIFY(app.chat()->messages()->rows().back().status == MessageStatus::Stopped);
    const qint64 first = app.chat()->currentConversationId();
    QVERIFY(first != 0);

    QTest::keyClick(ui.window, Qt::Key_F, Qt::ControlModifier);
    QTRY_COMPARE(ui.window->activeFocusItem() ? ui.window->activeFocusItem()->objectName() : QString(),
                 QStringLiteral("searchField"));
    QTest::keyClick(ui.window, Qt::Key_L, Qt::ControlModifier);
    QTRY_COMPARE(ui.window->activeFocusItem() ? ui.window->activeFocusItem()->objectName() : QString(),
                 QStringLiteral("composerInput"));
    QTest::keyClick(ui.window, Qt::Key_N, Qt::ControlModifier);
    QTRY_COMPARE(app.chat()->currentConversationId(), qint64{0});
    QCOMPARE(app.chat()->messages()->rowCount(), 0);
    QCOMPARE(app.chat()->conversations()->rowCount(), 1); // the stopped chat is kept
}

void EndToEndTest::executableStartsAndAnswersVersion() {
    const QString exe = qEnvironmentVariable("LATENT_CHAT");
    if (exe.isEmpty()) QSKIP("LATENT_CHAT (path of latent-chat) is not set; run through CTest");
    QProcess process;
    process.start(exe, {QStringLiteral("--version")});
    QVERIFY(process.waitForFinished(20000));
    QCOMPARE(process.exitCode(), 0);
    QVERIFY2(process.readAllStandardOutput().contains("0.1"), "--version prints the version");
}

void EndToEndTest::executableOpensDataDirAndModel() {
    const QString exe = qEnvironmentVariable("LATENT_CHAT");
    if (exe.isEmpty()) QSKIP("LATENT_CHAT (path of latent-chat) is not set; run through CTest");
    QTemporaryDir data;
    QVERIFY(data.isValid());
    QProcess process;
    process.setProcessChannelMode(QProcess::MergedChannels);
    // The model as a plain argument, as a file manager's "Open with" passes it.
    process.start(exe, {QStringLiteral("--data-dir"), data.path(), modelPath_});
    QVERIFY(process.waitForStarted(10000));
    // The database is created and the model loaded (the log says so), and the app keeps running.
    QTRY_VERIFY_WITH_TIMEOUT(QFile::exists(data.filePath(QStringLiteral("latent.db"))), 20000);
    QTRY_VERIFY_WITH_TIMEOUT(appLog(data).contains("model loaded: " + modelPath_.toUtf8()), 30000);
    QTest::qWait(1500);
    QCOMPARE(process.state(), QProcess::Running);

    // A second start on the same data directory: see test_single_instance.cpp.

    // SIGTERM (a logout, `kill`) quits cleanly, like Ctrl+Q.
    QVERIFY2(quitsOnSigterm(process), "latent-chat did not quit on SIGTERM");
    QCOMPARE(process.exitStatus(), QProcess::NormalExit);
    QCOMPARE(process.exitCode(), 0);
}

QTEST_MAIN(EndToEndTest)
#include "test_end_to_end.moc"
