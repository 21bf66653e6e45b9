// The first run: a fresh data folder and no model of the user's own. The app loads the built-in
// demo model (the real shipped file, resources/models/), labels it as such in the window, and a
// typed question is answered and stored. A later start without a model of their own offers it
// again (the demo never enters the recent models); once the user has used a model of their own,
// the demo is not forced on them (the first-run page offers it instead). The last test starts the
// `latent-chat` executable itself offscreen on a fresh data folder.
#include "app_window_support.h"
#include "controllers/app_controller.h"
#include "inference/engine_chat_engine.h"
#include "storage/database.h"
#include "storage/storage_thread.h"

#include "model/demo_model.h"

#include <QGuiApplication>
#include <QProcess>
#include <QQuickItem>
#include <QQuickWindow>
#include <QTemporaryDir>
#include <QTest>
#include <QtQml/qqmlextensionplugin.h>

#include <memory>

Q_IMPORT_QML_PLUGIN(LatentChatPlugin)

using namespace app_test;

class FirstRunTest : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void freshStartLoadsTheDemoModelAndAnswers();
    void modelOfTheirOwnIsNotReplacedByTheDemo();
    void executableFirstRunLoadsTheDemoModel();

private:
    QString demoPath_;
};

namespace {

// The visible item of that objectName, or null.
QQuickItem* findItem(QQuickWindow* window, const char* name) {
    return findItems(window->contentItem(), QString::fromLatin1(name)).value(0);
}

} // namespace

void FirstRunTest::initTestCase() {
    const auto demo = latent::find_demo_model();
    if (!demo) {
        QString looked;
        for (const auto& candidate : latent::demo_model_candidates())
            looked += (looked.isEmpty() ? "" : ", ") + QString::fromStdString(candidate.string());
        QSKIP(qPrintable("the demo model is not in this tree (looked for " + looked + "); tools/demo-model/make.sh makes it"));
    }
    demoPath_ = QFileInfo(QString::fromStdString(demo->string())).canonicalFilePath();
}

void FirstRunTest::freshStartLoadsTheDemoModelAndAnswers() {
    QTemporaryDir data;
    QVERIFY(data.isValid());
    const QString question = QStringLiteral("What does \"violin\" mean?");
    QString answer;
    {
        AppController app(data.path(), std::make_unique<EngineChatEngine>());
        app.setDemoOnFirstRun(true);
        LoadedUi ui = loadUi(app);
        QVERIFY2(ui.window, "Main.qml did not load");
        ui.window->show();
        QVERIFY(QTest::qWaitForWindowExposed(ui.window));
        QTRY_VERIFY_WITH_TIMEOUT(app.ready(), 10000);
        QTRY_VERIFY_WITH_TIMEOUT(app.model()->loaded(), 30000);
        QCOMPARE(QFileInfo(app.model()->facts().value("path").toString()).canonicalFilePath(), demoPath_);
        QVERIFY(app.model()->demoLoaded());
        QCOMPARE(app.model()->facts().value("demo").toBool(), true);

        // Labelled in the window: the banner says what it is and offers Open model….
        QTRY_VERIFY(findItem(ui.window, "demoModelBanner") != nullptr);
        QQuickItem* banner = findItem(ui.window, "demoModelBanner");
        const QString bannerText = banner->property("text").toString();
        QVERIFY2(bannerText.contains(QStringLiteral("Demo model")) && bannerText.contains(QStringLiteral("not a general assistant")) &&
                     bannerText.contains(QStringLiteral("download")),
                 qPrintable(bannerText));

        app.settings()->setTemperature(0.0);
        app.settings()->setMaxNewTokens(64);
        QTRY_VERIFY(ui.window->activeFocusItem() != nullptr);
        typeText(ui.window, question);
        QTest::keyClick(ui.window, Qt::Key_Return);
        QTRY_VERIFY_WITH_TIMEOUT(app.chat()->generating(), 5000);
        QTRY_VERIFY_WITH_TIMEOUT(!app.chat()->generating(), 60000);

        MessageListModel* messages = app.chat()->messages();
        QCOMPARE(messages->rowCount(), 2);
        const MessageRecord reply = messages->rows()[1];
        QCOMPARE(reply.role, MessageRole::Assistant);
        QVERIFY(reply.status == MessageStatus::Complete);
        QVERIFY(reply.generatedTokens > 0);
        answer = reply.content;
        QVERIFY2(!answer.trimmed().isEmpty(), "the demo model gave an empty answer");
        qInfo("demo model's answer to %s: %s", qPrintable(question), qPrintable(answer));
        QVERIFY(app.model()->recentModels().isEmpty()); // the demo is not a model the user chose
        app.storage()->flush();

        Database db(data.filePath(QStringLiteral("latent.db")));
        const auto conversations = db.conversations();
        QCOMPARE(int(conversations.size()), 1);
        const auto stored = db.messages(conversations[0].id);
        QCOMPARE(int(stored.size()), 2);
        QCOMPARE(stored[0].content, question);
        QCOMPARE(stored[1].content, answer);
    }

    // A second start, still without a model of their own: the demo again.
    AppController app(data.path(), std::make_unique<EngineChatEngine>());
    app.setDemoOnFirstRun(true);
    LoadedUi ui = loadUi(app);
    QVERIFY(ui.window);
    QTRY_VERIFY_WITH_TIMEOUT(app.model()->loaded(), 30000);
    QVERIFY(app.model()->demoLoaded());
}

void FirstRunTest::modelOfTheirOwnIsNotReplacedByTheDemo() {
    QTemporaryDir models, data;
    QVERIFY(models.isValid() && data.isValid());
    const QString own = makeModel(models);
    {
        AppController app(data.path(), std::make_unique<EngineChatEngine>(), own);
        app.setDemoOnFirstRun(true);
        QTRY_VERIFY_WITH_TIMEOUT(app.model()->loaded(), 30000);
        QVERIFY(!app.model()->demoLoaded());
        QCOMPARE(app.model()->facts().value("demo").toBool(), false);
        QCOMPARE(app.model()->recentModels(), QStringList{QFileInfo(own).absoluteFilePath()});
        app.storage()->flush();
    }
    // Restarted without a model: their model is in the recent list; nothing is loaded for them,
    // and the first-run page offers the demo as a button.
    AppController app(data.path(), std::make_unique<EngineChatEngine>());
    app.setDemoOnFirstRun(true);
    LoadedUi ui = loadUi(app);
    QVERIFY(ui.window);
    ui.window->show();
    QTRY_VERIFY_WITH_TIMEOUT(app.ready(), 10000);
    QTRY_COMPARE_WITH_TIMEOUT(app.model()->recentModels().size(), qsizetype(1), 5000);
    QTest::qWait(300);
    QCOMPARE(app.model()->state(), QStringLiteral("empty"));
    QTRY_VERIFY(findItem(ui.window, "firstRunDemoButton") != nullptr);
    QVERIFY(findItem(ui.window, "demoModelBanner") == nullptr);
    QVERIFY(QMetaObject::invokeMethod(findItem(ui.window, "firstRunDemoButton"), "clicked"));
    QTRY_VERIFY_WITH_TIMEOUT(app.model()->demoLoaded(), 30000);
    QTRY_VERIFY(findItem(ui.window, "demoModelBanner") != nullptr);
    QVERIFY(app.model()->recentModels().size() == 1); // still only their own
}

void FirstRunTest::executableFirstRunLoadsTheDemoModel() {
    const QString exe = qEnvironmentVariable("LATENT_CHAT");
    if (exe.isEmpty()) QSKIP("LATENT_CHAT (path of latent-chat) is not set; run through CTest");
    QTemporaryDir data;
    QVERIFY(data.isValid());
    QProcess process;
    process.setProcessChannelMode(QProcess::MergedChannels);
    process.start(exe, {QStringLiteral("--data-dir"), data.path()});
    QVERIFY(process.waitForStarted(10000));
    QTRY_VERIFY2_WITH_TIMEOUT(appLog(data).contains("model loaded: " + demoPath_.toUtf8()), appLog(data).constData(), 30000);
    QCOMPARE(process.state(), QProcess::Running);
    QVERIFY2(quitsOnSigterm(process), "latent-chat did not quit on SIGTERM");
    QCOMPARE(process.exitCode(), 0);
}

QTEST_MAIN(FirstRunTest)
#include "test_first_run.moc"
