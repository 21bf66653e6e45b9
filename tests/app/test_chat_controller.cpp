// The chat turn end to end below the UI: a real AppController (storage thread, inference thread,
// controllers) over FakeChatEngine in a temporary data dir. What the user sees is read from the
// list models; what would survive a crash is read back from latent.db with a separate connection.
#include "chat_app.h"
#include "controllers/app_controller.h"
#include "inference/fake_chat_engine.h"
#include "storage/database.h"
#include "storage/storage_thread.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>

#include <sqlite3.h>

#include <memory>
#include <vector>

namespace {

using Script = FakeChatEngine::Script;

// "w1 w2 … wN": a message whose echo streams one word per piece.
QString words(int n, const QString& stem = QStringLiteral("w")) {
    QStringList list;
    for (int i = 1; i <= n; ++i) list << stem + QString::number(i);
    return list.join(u' ');
}

// An echo whose pieces come `ms` apart: slow enough to act while the answer streams.
Script piecesEvery(int ms) {
    Script script;
    script.pieceDelayMs = ms;
    return script;
}

int wordCount(const QString& text) {
    static const QRegularExpression whitespace(QStringLiteral("\\s+"));
    return static_cast<int>(text.split(whitespace, Qt::SkipEmptyParts).size());
}

} // namespace

class TestChatController : public QObject {
    Q_OBJECT
private slots:
    void refusesWithoutModel();
    void modelFactsAndErrors();
    void loadCancelAndReplace();
    void sendStreamsAndCommits();
    void stopKeepsPartialAnswer();
    void reasoningStreamsIntoThinkingBlock();
    void queuedUpdatesRenderOnce();
    void regenerateReplacesLastAnswer();
    void editAndResendReplacesLaterTurns();
    void engineFailureMarksError();
    void switchConversationWhileGenerating();
    void deleteCurrentWhileGenerating();
    void loadModelWhileGenerating();
    void checkpointCommitsStreamingAnswer();
    void renameConversation();
    void searchFindsSentMessage();
    void exportWritesFiles();
    void restartRestoresEverything();
    void quitWhileGeneratingFinalises();
    void interruptedAnswerShownAsInterrupted();
    void damagedDatabaseNotice();
};

void TestChatController::refusesWithoutModel() {
    ChatApp app;
    app.create();
    QSignalSpy ready(app.controller.get(), &AppController::readyChanged);
    QVERIFY(ready.wait(5000));
    QVERIFY(app.controller->ready());
    QCOMPARE(app.controller->notice(), QString());
    QCOMPARE(app.controller->dataDir(), QDir(app.dir.path()).absolutePath());
    QVERIFY(!app.controller->version().isEmpty());
    ChatController* chat = app.chat();
    QCOMPARE(chat->currentConversationId(), qint64(0));
    QCOMPARE(chat->currentTitle(), QString());
    QVERIFY(!chat->canSend());
    QVERIFY(!chat->send(QStringLiteral("hello")));
    QCOMPARE(chat->messages()->rowCount(), 0);

    QSignalSpy canSend(chat, &ChatController::canSendChanged);
    QVERIFY(app.loadModel(makeModelFile(app.dir)));
    QVERIFY(chat->canSend());
    QCOMPARE(canSend.size(), 1);
    QVERIFY(!chat->send(QStringLiteral("  \n\t ")));
    QCOMPARE(chat->messages()->rowCount(), 0);
    QCOMPARE(chat->conversations()->rowCount(), 0);
    QCOMPARE(chat->contextSize(), 4096);

    QSignalSpy gone(app.model(), &ModelController::modelGone);
    app.model()->unload();
    QCOMPARE(gone.size(), 1);
    QCOMPARE(app.model()->state(), QStringLiteral("empty"));
    QVERIFY(!chat->canSend());
    QCOMPARE(canSend.size(), 2);
}

void TestChatController::modelFactsAndErrors() {
    ChatApp app;
    QVERIFY(app.start());
    ModelController* model = app.model();
    const QString path = makeModelFile(app.dir);

    QSignalSpy modelReady(model, &ModelController::modelReady);
    model->load(QUrl::fromLocalFile(path).toString()); // a file:// URL from the file dialog
    QCOMPARE(model->state(), QStringLiteral("loading"));
    QCOMPARE(model->loadingPath(), path);
    QTRY_COMPARE(model->state(), QStringLiteral("loaded"));
    QCOMPARE(modelReady.size(), 1);
    QCOMPARE(model->progress(), 1.0);
    QCOMPARE(model->errorText(), QString());

    const QVariantMap facts = model->facts();
    QCOMPARE(facts.value(QStringLiteral("path")).toString(), path);
    QCOMPARE(facts.value(QStringLiteral("fileName")).toString(), QStringLiteral("model.gguf"));
    QCOMPARE(facts.value(QStringLiteral("name")).toString(), QStringLiteral("model.gguf"));
    QCOMPARE(facts.value(QStringLiteral("architecture")).toString(), QStringLiteral("deepseek2"));
    QCOMPARE(facts.value(QStringLiteral("quantization")).toString(), QStringLiteral("Q4_K_M"));
    // The fake's numbers: 10 364 000 000 bytes, 15.706 B / 2.66 B parameters, 27 layers of
    // (512 + 64) latent values vs 16 heads × (192 + 128) uncompressed, f16.
    QCOMPARE(facts.value(QStringLiteral("fileSize")).toString(), QStringLiteral("9.65 GiB"));
    QCOMPARE(facts.value(QStringLiteral("totalParams")).toString(), QStringLiteral("15.7 B"));
    QCOMPARE(facts.value(QStringLiteral("activeParams")).toString(), QStringLiteral("2.66 B"));
    QCOMPARE(facts.value(QStringLiteral("kvPerTokenMla")).toString(), QStringLiteral("30.4 KiB"));
    QCOMPARE(facts.value(QStringLiteral("kvPerTokenMha")).toString(), QStringLiteral("270 KiB"));
    QVERIFY2(facts.value(QStringLiteral("kvReduction")).toString().startsWith(QStringLiteral("88.")),
             qPrintable(facts.value(QStringLiteral("kvReduction")).toString()));
    QCOMPARE(facts.value(QStringLiteral("kvCacheTotal")).toString(), QStringLiteral("122 MiB")); // 31104 × 4096
    QCOMPARE(facts.value(QStringLiteral("contextSize")).toInt(), 4096);
    QCOMPARE(facts.value(QStringLiteral("trainedContext")).toInt(), 163840);
    QCOMPARE(facts.value(QStringLiteral("layers")).toInt(), 27);
    QCOMPARE(facts.value(QStringLiteral("experts")).toInt(), 64);
    QCOMPARE(facts.value(QStringLiteral("expertsUsed")).toInt(), 6);
    QCOMPARE(facts.value(QStringLiteral("sharedExperts")).toInt(), 2);
    QCOMPARE(facts.value(QStringLiteral("backend")).toString(), QStringLiteral("fake"));
    QCOMPARE(model->recentModels(), QStringList{path});

    // A missing file is refused at once; the loaded model stays.
    const QString missing = app.dir.filePath(QStringLiteral("nope.gguf"));
    model->load(missing);
    QCOMPARE(model->errorText(), QStringLiteral("Cannot open %1: no such file").arg(QDir::toNativeSeparators(missing)));
    QCOMPARE(model->state(), QStringLiteral("loaded"));
    model->clearError();
    QCOMPARE(model->errorText(), QString());

    // A file the engine cannot load: its message, nothing loaded.
    const QString broken = makeModelFile(app.dir, QStringLiteral("fail.gguf"));
    model->load(broken);
    QTRY_COMPARE(model->state(), QStringLiteral("empty"));
    QCOMPARE(model->errorText(), QStringLiteral("cannot open model: %1").arg(broken));
    QVERIFY(!app.chat()->canSend());
    QCOMPARE(model->recentModels(), QStringList{path}); // failures are not remembered

    // Reload brings the last good one back.
    QVERIFY(app.loadModel(path));
    QCOMPARE(model->errorText(), QString());
    model->removeRecent(path);
    QCOMPARE(model->recentModels(), QStringList{});
}

void TestChatController::loadCancelAndReplace() {
    Script script;
    script.loadDelayMs = 100; // per progress step: 300 ms a load
    ChatApp app;
    QVERIFY(app.start(script));
    ModelController* model = app.model();
    const QString first = makeModelFile(app.dir, QStringLiteral("first.gguf"));
    const QString second = makeModelFile(app.dir, QStringLiteral("second.gguf"));

    // A load while loading replaces the first.
    model->load(first);
    model->load(second);
    QTRY_COMPARE(model->state(), QStringLiteral("loaded"));
    QCOMPARE(model->modelFacts().path, second);
    QCOMPARE(model->recentModels().value(0), second);
    QVERIFY(!model->recentModels().contains(first));
    QTest::qWait(150); // nothing late from the first load may change that
    QCOMPARE(model->state(), QStringLiteral("loaded"));
    QCOMPARE(model->modelFacts().path, second);

    // Cancel: back to empty, and no error shown.
    model->load(first);
    QCOMPARE(model->state(), QStringLiteral("loading"));
    model->cancelLoad();
    QTRY_COMPARE(model->state(), QStringLiteral("empty"));
    QCOMPARE(model->errorText(), QString());
    QVERIFY(!app.chat()->canSend());
}

void TestChatController::sendStreamsAndCommits() {
    ChatApp app;
    QVERIFY(app.startWithModel());
    ChatController* chat = app.chat();
    QSignalSpy generating(chat, &ChatController::generatingChanged);
    QSignalSpy current(chat, &ChatController::currentConversationChanged);

    QVERIFY(chat->send(QStringLiteral("  Hello there \n")));
    // At once: the conversation, the user message and an empty streaming answer.
    QVERIFY(chat->generating());
    QVERIFY(!chat->canSend());
    QCOMPARE(current.size(), 1);
    const qint64 conversationId = chat->currentConversationId();
    QVERIFY(conversationId > 0);
    QCOMPARE(chat->currentTitle(), QStringLiteral("Hello there"));
    QCOMPARE(chat->conversations()->rowCount(), 1);
    QCOMPARE(chat->conversations()->idAt(0), conversationId);
    QCOMPARE(chat->messages()->rowCount(), 2);
    QCOMPARE(app.role(0), QStringLiteral("user"));
    QCOMPARE(app.content(0), QStringLiteral("Hello there"));
    QCOMPARE(app.role(1), QStringLiteral("assistant"));
    QCOMPARE(app.status(1), QStringLiteral("streaming"));

    QVERIFY(app.waitIdle());
    QCOMPARE(generating.size(), 2);
    QCOMPARE(app.content(1), QStringLiteral("Echo: Hello there"));
    QCOMPARE(app.status(1), QStringLiteral("complete"));
    QVERIFY(app.messageData(1, MessageListModel::IsLastRole).toBool());
    QVERIFY(app.messageData(1, MessageListModel::StatsTextRole).toString().startsWith(QStringLiteral("3 tokens")));
    QVERIFY(chat->canSend());
    // Status line: 4 + 2 prompt tokens for one user turn of two words, 3 pieces generated.
    QCOMPARE(chat->contextUsed(), 9);
    QCOMPARE(chat->contextSize(), 4096);
    QCOMPARE(chat->droppedTurns(), 0);
    QVERIFY(chat->tokensPerSecond() > 0.0);

    const Database db = app.flushedDatabase();
    const auto conversations = db.conversations();
    QCOMPARE(conversations.size(), size_t(1));
    QCOMPARE(conversations[0].id, conversationId);
    QCOMPARE(conversations[0].title, QStringLiteral("Hello there"));
    QCOMPARE(conversations[0].model, QStringLiteral("model.gguf"));
    const auto rows = db.messages(conversationId);
    QCOMPARE(rows.size(), size_t(2));
    QCOMPARE(rows[0].role, MessageRole::User);
    QCOMPARE(rows[0].content, QStringLiteral("Hello there"));
    QCOMPARE(rows[0].status, MessageStatus::Complete);
    QCOMPARE(rows[1].role, MessageRole::Assistant);
    QCOMPARE(rows[1].content, QStringLiteral("Echo: Hello there"));
    QCOMPARE(rows[1].status, MessageStatus::Complete);
    QCOMPARE(rows[1].stopReason, QStringLiteral("end_of_turn"));
    QCOMPARE(rows[1].generatedTokens, 3);
    QCOMPARE(rows[1].promptTokens, 6);
    QCOMPARE(rows[1].model, QStringLiteral("model.gguf"));

    // A second turn in the same conversation.
    QVERIFY(chat->send(QStringLiteral("again")));
    QCOMPARE(chat->currentConversationId(), conversationId);
    QVERIFY(app.waitIdle());
    QCOMPARE(chat->messages()->rowCount(), 4);
    QCOMPARE(app.content(3), QStringLiteral("Echo: again"));
    QCOMPARE(chat->conversations()->rowCount(), 1);
}

void TestChatController::stopKeepsPartialAnswer() {
    ChatApp app;
    QVERIFY(app.startWithModel(piecesEvery(40)));
    ChatController* chat = app.chat();
    const QString question = words(30);
    const QString fullAnswer = QStringLiteral("Echo: ") + question;

    QVERIFY(chat->send(question));
    QTRY_VERIFY(!app.content(1).isEmpty());
    chat->stop();
    QVERIFY(app.waitIdle());
    const QString partial = app.content(1);
    QCOMPARE(app.status(1), QStringLiteral("stopped"));
    QVERIFY2(fullAnswer.startsWith(partial) && partial.size() < fullAnswer.size(), qPrintable(partial));

    const auto rows = app.storedMessages(chat->currentConversationId());
    QCOMPARE(rows.size(), size_t(2));
    QCOMPARE(rows[1].status, MessageStatus::Stopped);
    QCOMPARE(rows[1].stopReason, QStringLiteral("cancelled"));
    QCOMPARE(rows[1].content, partial);

    // A stopped answer stays part of the conversation the model sees: prompt = (4 + 30) for the
    // question + (4 + words of the partial answer) + (4 + 1) for "next"; 2 pieces generated.
    QVERIFY(chat->send(QStringLiteral("next")));
    QVERIFY(app.waitIdle(10000));
    QCOMPARE(chat->contextUsed(), 34 + 4 + wordCount(partial) + 5 + 2);
}

void TestChatController::reasoningStreamsIntoThinkingBlock() {
    // An R1-style prompt opens the think block, so the stream has only its end: the text must
    // show as reasoning from the first piece on, not as the answer until "</think>" arrives.
    Script script;
    script.opensReasoning = true;
    script.reply = QStringLiteral("first I think then I conclude</think>The answer is 4.");
    script.pieceDelayMs = 60;
    ChatApp app;
    QVERIFY(app.startWithModel(script));
    QVERIFY(app.chat()->send(QStringLiteral("2+2?")));
    QTRY_VERIFY(app.messageData(1, MessageListModel::ReasoningRole).toString().startsWith(QStringLiteral("first")));
    QVERIFY(app.chat()->generating());
    QCOMPARE(app.content(1), QString());
    QCOMPARE(app.messageData(1, MessageListModel::ThinkingRole).toBool(), true);
    QVERIFY(app.waitIdle());
    QCOMPARE(app.messageData(1, MessageListModel::ReasoningRole).toString(), QStringLiteral("first I think then I conclude"));
    QCOMPARE(app.content(1), QStringLiteral("The answer is 4."));
    QCOMPARE(app.messageData(1, MessageListModel::ThinkingRole).toBool(), false);
}

void TestChatController::queuedUpdatesRenderOnce() {
    // While the GUI thread is busy (re-rendering a long answer, say), the worker's text updates
    // queue up. Delivered, they must not update the view once each, back to back (that stalled
    // the GUI thread for 467 ms in CI): the view takes everything received on the next pass.
    ChatApp app;
    Script script;
    script.reply = words(4000);
    script.pieceDelayMs = 1; // at least 4 s of pieces, an update every 33 ms
    QVERIFY(app.startWithModel(script));
    ChatController* chat = app.chat();
    QVERIFY(chat->send(QStringLiteral("flood me")));
    QTRY_VERIFY(!app.content(1).isEmpty());

    int contentChanges = 0;
    connect(chat->messages(), &QAbstractItemModel::dataChanged, this,
            [&](const QModelIndex&, const QModelIndex&, const QList<int>& roles) {
                if (roles.contains(MessageListModel::ContentRole)) ++contentChanges;
            });
    const QString before = app.content(1);
    QThread::msleep(500);                 // the GUI thread busy: ~15 updates queue up
    QCoreApplication::sendPostedEvents(); // all of them delivered
    QVERIFY2(chat->generating(), "the answer ended before updates could queue up");
    QCOMPARE(contentChanges, 0);
    QCOMPARE(app.content(1), before);
    QTRY_VERIFY(contentChanges >= 1);
    // The first refresh shows at once what arrived during the 500 ms (about a word a millisecond).
    QVERIFY2(wordCount(app.content(1)) - wordCount(before) >= 100,
             qPrintable(QStringLiteral("%1 words, then %2").arg(wordCount(before)).arg(wordCount(app.content(1)))));
    QVERIFY(app.waitIdle(30000));
    QCOMPARE(app.content(1), script.reply);
}

void TestChatController::regenerateReplacesLastAnswer() {
    ChatApp app;
    QVERIFY(app.startWithModel());
    ChatController* chat = app.chat();
    QVERIFY(app.sendAndWait(QStringLiteral("one")));
    const qint64 oldAnswer = app.messageId(1);

    chat->regenerate();
    QVERIFY(chat->generating());
    QCOMPARE(chat->messages()->rowCount(), 2);
    const qint64 newAnswer = app.messageId(1);
    QVERIFY(newAnswer > oldAnswer);
    QCOMPARE(app.status(1), QStringLiteral("streaming"));
    chat->regenerate(); // while generating: nothing
    QCOMPARE(chat->messages()->rowCount(), 2);
    QCOMPARE(app.messageId(1), newAnswer);
    QVERIFY(app.waitIdle());
    QCOMPARE(app.content(1), QStringLiteral("Echo: one"));

    const auto rows = app.storedMessages(chat->currentConversationId());
    QCOMPARE(rows.size(), size_t(2));
    QCOMPARE(rows[0].content, QStringLiteral("one"));
    QCOMPARE(rows[1].id, newAnswer);
    QCOMPARE(rows[1].content, QStringLiteral("Echo: one"));
    QCOMPARE(rows[1].status, MessageStatus::Complete);
}

void TestChatController::editAndResendReplacesLaterTurns() {
    ChatApp app;
    QVERIFY(app.startWithModel());
    ChatController* chat = app.chat();
    QVERIFY(app.sendAndWait(QStringLiteral("first")));
    QVERIFY(app.sendAndWait(QStringLiteral("second")));
    QCOMPARE(chat->messages()->rowCount(), 4);
    const qint64 firstUser = app.messageId(0);
    const qint64 firstAnswer = app.messageId(1);

    chat->editAndResend(firstAnswer, QStringLiteral("not a user message")); // refused
    QCOMPARE(chat->messages()->rowCount(), 4);
    QVERIFY(!chat->generating());

    chat->editAndResend(firstUser, QStringLiteral("  changed  "));
    QCOMPARE(chat->messages()->rowCount(), 2);
    QCOMPARE(app.content(0), QStringLiteral("changed"));
    QVERIFY(app.messageId(0) > firstUser);
    QVERIFY(app.waitIdle());
    QCOMPARE(app.content(1), QStringLiteral("Echo: changed"));
    // Only the edited turn went to the model: 4 + 1 prompt tokens, 2 generated.
    QCOMPARE(chat->contextUsed(), 7);

    const auto rows = app.storedMessages(chat->currentConversationId());
    QCOMPARE(rows.size(), size_t(2));
    QCOMPARE(rows[0].content, QStringLiteral("changed"));
    QCOMPARE(rows[1].content, QStringLiteral("Echo: changed"));
}

void TestChatController::engineFailureMarksError() {
    Script script;
    script.failWith = QStringLiteral("boom");
    ChatApp app;
    QVERIFY(app.startWithModel(script));
    ChatController* chat = app.chat();
    QVERIFY(app.sendAndWait(QStringLiteral("a")));
    QCOMPARE(app.status(1), QStringLiteral("error"));
    QCOMPARE(app.messageData(1, MessageListModel::ErrorTextRole).toString(), QStringLiteral("boom"));
    QCOMPARE(app.content(1), QStringLiteral("Echo:"));
    QVERIFY(chat->canSend());

    const auto rows = app.storedMessages(chat->currentConversationId());
    QCOMPARE(rows.size(), size_t(2));
    QCOMPARE(rows[1].status, MessageStatus::Error);
    QCOMPARE(rows[1].errorText, QStringLiteral("boom"));

    // A failed answer is left out of the next prompt: (4 + 1) + (4 + 1) prompt, 1 generated.
    QVERIFY(app.sendAndWait(QStringLiteral("b")));
    QCOMPARE(chat->contextUsed(), 11);
}

void TestChatController::switchConversationWhileGenerating() {
    // Pieces faster than the worker's batching interval: when the stop lands, text is still
    // pending and arrives after the switch.
    ChatApp app;
    QVERIFY(app.startWithModel(piecesEvery(10)));
    ChatController* chat = app.chat();

    QVERIFY(app.sendAndWait(QStringLiteral("alpha")));
    const qint64 first = chat->currentConversationId();

    chat->newConversation();
    QCOMPARE(chat->currentConversationId(), qint64(0));
    QCOMPARE(chat->messages()->rowCount(), 0);
    const QString question = words(80, QStringLiteral("beta"));
    QVERIFY(chat->send(question));
    const qint64 second = chat->currentConversationId();
    QVERIFY(second != first);
    const qint64 secondAnswer = app.messageId(1);
    QTRY_VERIFY(!app.content(1).isEmpty());

    // From now on nothing about the second answer may reach the displayed messages.
    QStringList seen;
    MessageListModel* messages = chat->messages();
    connect(messages, &QAbstractItemModel::dataChanged, this, [&](const QModelIndex& from, const QModelIndex& to) {
        for (int row = from.row(); row <= to.row(); ++row)
            seen << messages->data(messages->index(row), MessageListModel::ContentRole).toString();
    });
    chat->selectConversation(first);
    QCOMPARE(chat->currentConversationId(), first);
    QVERIFY(app.waitIdle());
    QTRY_COMPARE(messages->rowCount(), 2);
    QCOMPARE(app.content(0), QStringLiteral("alpha"));
    QCOMPARE(app.content(1), QStringLiteral("Echo: alpha"));
    QCOMPARE(app.status(1), QStringLiteral("complete"));
    QTest::qWait(100);
    for (const QString& text : seen) QVERIFY2(!text.contains(QStringLiteral("beta")), qPrintable(text));
    QCOMPARE(messages->rowCount(), 2);

    // The second answer was finalised as stopped in its own conversation.
    {
        const Database db = app.flushedDatabase();
        const auto rows = db.messages(second);
        QCOMPARE(rows.size(), size_t(2));
        QCOMPARE(rows[1].id, secondAnswer);
        QCOMPARE(rows[1].status, MessageStatus::Stopped);
        QVERIFY(!rows[1].content.isEmpty());
        QVERIFY((QStringLiteral("Echo: ") + question).startsWith(rows[1].content));
        const auto firstRows = db.messages(first);
        QCOMPARE(firstRows.size(), size_t(2));
        QCOMPARE(firstRows[1].content, QStringLiteral("Echo: alpha"));
        QCOMPARE(firstRows[1].status, MessageStatus::Complete);
    }

    // Back to the second conversation: its stopped answer as stored.
    chat->selectConversation(second);
    QTRY_COMPARE(messages->rowCount(), 2);
    QCOMPARE(app.status(1), QStringLiteral("stopped"));
    QVERIFY(!app.content(1).isEmpty());
}

void TestChatController::deleteCurrentWhileGenerating() {
    ChatApp app;
    QVERIFY(app.startWithModel(piecesEvery(40)));
    ChatController* chat = app.chat();
    QSignalSpy errors(chat, &ChatController::errorOccurred);

    QVERIFY(chat->send(words(30)));
    const qint64 id = chat->currentConversationId();
    QTRY_VERIFY(!app.content(1).isEmpty());
    chat->deleteConversation(id);
    QCOMPARE(chat->currentConversationId(), qint64(0));
    QCOMPARE(chat->messages()->rowCount(), 0);
    QCOMPARE(chat->conversations()->rowCount(), 0);
    QVERIFY(app.waitIdle());
    QTest::qWait(50);
    QCOMPARE(chat->messages()->rowCount(), 0);
    QVERIFY(chat->canSend());

    const Database db = app.flushedDatabase();
    QCOMPARE(errors.size(), 0);
    QVERIFY(db.conversations().empty());
    QVERIFY(db.messages(id).empty());
}

void TestChatController::loadModelWhileGenerating() {
    ChatApp app;
    QVERIFY(app.startWithModel(piecesEvery(40)));
    ChatController* chat = app.chat();
    QVERIFY(chat->send(words(30)));
    QTRY_VERIFY(!app.content(1).isEmpty());

    const QString other = makeModelFile(app.dir, QStringLiteral("other.gguf"));
    app.model()->load(other);
    QVERIFY(app.waitIdle());
    QCOMPARE(app.status(1), QStringLiteral("stopped"));
    QTRY_VERIFY(app.model()->loaded());
    QCOMPARE(app.model()->facts().value(QStringLiteral("fileName")).toString(), QStringLiteral("other.gguf"));
    QVERIFY(chat->canSend());
    QVERIFY(chat->send(QStringLiteral("x")));
    QVERIFY(app.waitIdle(10000));
    QCOMPARE(app.content(3), QStringLiteral("Echo: x"));
    QCOMPARE(app.messageData(3, MessageListModel::ModelRole).toString(), QStringLiteral("other.gguf"));
}

void TestChatController::checkpointCommitsStreamingAnswer() {
    ChatApp app;
    QVERIFY(app.startWithModel(piecesEvery(100)));
    ChatController* chat = app.chat();
    const QString question = words(40);
    const QString fullAnswer = QStringLiteral("Echo: ") + question;

    QVERIFY(chat->send(question));
    const qint64 userId = app.messageId(0);
    const qint64 answerId = app.messageId(1);
    app.controller->storage()->flush();
    // Committed when sent: the question, and the answer as an empty streaming row.
    const RawMessage userRow = readRaw(app.dbPath(), userId);
    QVERIFY(userRow.found);
    QCOMPARE(userRow.content, question);
    QCOMPARE(userRow.status, QStringLiteral("complete"));
    RawMessage answerRow = readRaw(app.dbPath(), answerId);
    QVERIFY(answerRow.found);
    QCOMPARE(answerRow.status, QStringLiteral("streaming"));

    // Within kCheckpointMs (plus a margin) of streaming, what arrived is on disk.
    QTest::qWait(ChatController::kCheckpointMs + 500);
    QVERIFY(chat->generating());
    app.controller->storage()->flush();
    answerRow = readRaw(app.dbPath(), answerId);
    QCOMPARE(answerRow.status, QStringLiteral("streaming"));
    QVERIFY2(!answerRow.content.isEmpty(), "no checkpoint was written");
    QVERIFY2(fullAnswer.startsWith(answerRow.content) && answerRow.content.size() < fullAnswer.size(),
             qPrintable(answerRow.content));
    chat->stop();
    QVERIFY(app.waitIdle());
}

void TestChatController::renameConversation() {
    ChatApp app;
    QVERIFY(app.startWithModel());
    ChatController* chat = app.chat();
    QVERIFY(app.sendAndWait(QStringLiteral("original")));
    const qint64 id = chat->currentConversationId();
    QSignalSpy current(chat, &ChatController::currentConversationChanged);

    chat->renameConversation(id, QStringLiteral("   "));
    QCOMPARE(chat->currentTitle(), QStringLiteral("original"));
    QCOMPARE(current.size(), 0);
    chat->renameConversation(id, QStringLiteral("  A better   name "));
    QCOMPARE(chat->currentTitle(), QStringLiteral("A better name"));
    QCOMPARE(current.size(), 1);
    const QAbstractListModel* list = chat->conversations();
    QCOMPARE(list->data(list->index(0), ConversationListModel::TitleRole).toString(), QStringLiteral("A better name"));

    QCOMPARE(app.flushedDatabase().conversation(id)->title, QStringLiteral("A better name"));
}

void TestChatController::searchFindsSentMessage() {
    ChatApp app;
    QVERIFY(app.startWithModel());
    ChatController* chat = app.chat();
    QVERIFY(app.sendAndWait(QStringLiteral("Tell me about the zebra")));
    const qint64 id = chat->currentConversationId();
    chat->newConversation();
    QVERIFY(app.sendAndWait(QStringLiteral("Something else")));

    QSignalSpy queryChanged(chat, &ChatController::searchQueryChanged);
    chat->setSearchQuery(QStringLiteral("zebra"));
    QCOMPARE(queryChanged.size(), 1);
    QCOMPARE(chat->searchQuery(), QStringLiteral("zebra"));
    SearchResultsModel* results = chat->searchResults();
    QTRY_VERIFY(results->rowCount() >= 1);
    for (int row = 0; row < results->rowCount(); ++row) {
        const QModelIndex index = results->index(row);
        QCOMPARE(results->data(index, SearchResultsModel::ConversationIdRole).toLongLong(), id);
        const QString snippet = results->data(index, SearchResultsModel::SnippetRole).toString();
        QVERIFY2(snippet.contains(QStringLiteral("[zebra]"), Qt::CaseInsensitive), qPrintable(snippet));
    }

    chat->setSearchQuery(QStringLiteral("nomatchxyz"));
    QTRY_COMPARE(results->rowCount(), 0);
    chat->setSearchQuery(QStringLiteral("zebra"));
    QTRY_VERIFY(results->rowCount() >= 1);
    chat->setSearchQuery(QString());
    QCOMPARE(results->rowCount(), 0);
}

void TestChatController::exportWritesFiles() {
    ChatApp app;
    QVERIFY(app.startWithModel());
    ChatController* chat = app.chat();
    QVERIFY(app.sendAndWait(QStringLiteral("Export me")));
    const qint64 id = chat->currentConversationId();
    QSignalSpy finished(chat, &ChatController::exportFinished);

    const QString mdPath = app.dir.filePath(QStringLiteral("chat.md"));
    chat->exportConversation(id, QUrl::fromLocalFile(mdPath), QStringLiteral("markdown"));
    QTRY_COMPARE(finished.size(), 1);
    QCOMPARE(finished[0][0].toString(), mdPath);
    QVERIFY2(finished[0][1].toBool(), qPrintable(finished[0][2].toString()));
    QFile md(mdPath);
    QVERIFY(md.open(QIODevice::ReadOnly));
    const QString markdown = QString::fromUtf8(md.readAll());
    QVERIFY(markdown.startsWith(QStringLiteral("# Export me")));
    const qsizetype question = markdown.indexOf(QStringLiteral("Export me"), 5);
    const qsizetype answer = markdown.indexOf(QStringLiteral("Echo: Export me"));
    QVERIFY(question > 0);
    QVERIFY(answer > question);

    const QString jsonPath = app.dir.filePath(QStringLiteral("chat.json"));
    chat->exportConversation(id, QUrl::fromLocalFile(jsonPath), QStringLiteral("json"));
    QTRY_COMPARE(finished.size(), 2);
    QVERIFY(finished[1][1].toBool());
    QFile json(jsonPath);
    QVERIFY(json.open(QIODevice::ReadOnly));
    const QJsonObject root = QJsonDocument::fromJson(json.readAll()).object();
    QCOMPARE(root.value(QStringLiteral("title")).toString(), QStringLiteral("Export me"));
    QCOMPARE(root.value(QStringLiteral("model")).toString(), QStringLiteral("model.gguf"));
    const QJsonArray messages = root.value(QStringLiteral("messages")).toArray();
    QCOMPARE(messages.size(), 2);
    QCOMPARE(messages[0].toObject().value(QStringLiteral("role")).toString(), QStringLiteral("user"));
    QCOMPARE(messages[1].toObject().value(QStringLiteral("content")).toString(), QStringLiteral("Echo: Export me"));
    QCOMPARE(messages[1].toObject().value(QStringLiteral("generatedTokens")).toInt(), 3);

    // Failures are reported, not thrown.
    chat->exportConversation(id, QUrl::fromLocalFile(app.dir.filePath(QStringLiteral("no/such/dir/x.md"))),
                             QStringLiteral("markdown"));
    QTRY_COMPARE(finished.size(), 3);
    QVERIFY(!finished[2][1].toBool());
    QVERIFY(!finished[2][2].toString().isEmpty());
    chat->exportConversation(id, QUrl::fromLocalFile(jsonPath), QStringLiteral("pdf"));
    QCOMPARE(finished.size(), 4);
    QVERIFY(!finished[3][1].toBool());
    chat->exportConversation(9999, QUrl::fromLocalFile(app.dir.filePath(QStringLiteral("y.md"))), QStringLiteral("markdown"));
    QTRY_COMPARE(finished.size(), 5);
    QVERIFY(!finished[4][1].toBool());
}

void TestChatController::restartRestoresEverything() {
    ChatApp app;
    const QString modelPath = makeModelFile(app.dir);
    QVERIFY(app.start());
    app.controller->settings()->setTemperature(1.3);
    app.controller->settings()->setSystemPrompt(QStringLiteral("Be brief."));
    QVERIFY(app.loadModel(modelPath));
    QVERIFY(app.sendAndWait(QStringLiteral("persist me")));
    const qint64 id = app.chat()->currentConversationId();
    app.controller.reset();

    // Started again with --model: the settings, the list and the model come back.
    QVERIFY(app.start({}, modelPath));
    QCOMPARE(app.controller->settings()->temperature(), 1.3);
    QCOMPARE(app.controller->settings()->systemPrompt(), QStringLiteral("Be brief."));
    QCOMPARE(app.model()->recentModels(), QStringList{modelPath});
    QTRY_VERIFY(app.model()->loaded());
    ChatController* chat = app.chat();
    QTRY_COMPARE(chat->conversations()->rowCount(), 1);
    QCOMPARE(chat->conversations()->idAt(0), id);
    QCOMPARE(chat->currentConversationId(), qint64(0)); // a new chat is open

    chat->selectConversation(id);
    QCOMPARE(chat->currentTitle(), QStringLiteral("persist me"));
    QTRY_COMPARE(chat->messages()->rowCount(), 2);
    QCOMPARE(app.content(0), QStringLiteral("persist me"));
    QCOMPARE(app.content(1), QStringLiteral("Echo: persist me"));
    QCOMPARE(app.status(1), QStringLiteral("complete"));

    // Ids continue after the stored ones; the stored system prompt goes first: (4 + 2) system,
    // (4 + 2) + (4 + 3) history, (4 + 1) new question; 2 generated.
    QTRY_VERIFY(chat->canSend());
    QVERIFY(chat->send(QStringLiteral("more")));
    QVERIFY(app.messageId(2) > app.messageId(1));
    QVERIFY(app.waitIdle());
    QCOMPARE(chat->contextUsed(), 6 + 6 + 7 + 5 + 2);
}

void TestChatController::quitWhileGeneratingFinalises() {
    ChatApp app;
    QVERIFY(app.startWithModel(piecesEvery(40)));
    QVERIFY(app.chat()->send(words(30)));
    const qint64 conversationId = app.chat()->currentConversationId();
    QTRY_VERIFY(!app.content(1).isEmpty());
    app.controller.reset(); // quit mid-answer
    Database db(app.dbPath());
    QCOMPARE(db.openReport().interruptedMessages, 0);
    const auto rows = db.messages(conversationId);
    QCOMPARE(rows.size(), size_t(2));
    QCOMPARE(rows[1].status, MessageStatus::Stopped);
    QCOMPARE(rows[1].stopReason, QStringLiteral("cancelled"));
    QVERIFY(!rows[1].content.isEmpty());
}

void TestChatController::interruptedAnswerShownAsInterrupted() {
    ChatApp app;
    {
        // What a crash leaves: an answer still marked streaming.
        Database db(app.dbPath());
        ConversationRecord c;
        c.id = 5;
        c.title = QStringLiteral("Crashed");
        c.createdAt = c.updatedAt = QDateTime::currentMSecsSinceEpoch();
        db.insertConversation(c);
        MessageRecord user;
        user.id = 10;
        user.conversationId = 5;
        user.role = MessageRole::User;
        user.content = QStringLiteral("question");
        user.createdAt = c.createdAt;
        db.insertMessage(user);
        MessageRecord answer = user;
        answer.id = 11;
        answer.role = MessageRole::Assistant;
        answer.content = QStringLiteral("partial");
        answer.status = MessageStatus::Streaming;
        db.insertMessage(answer);
    }
    QVERIFY(app.start());
    QCOMPARE(app.controller->notice(), QString()); // interrupted answers need no notice
    ChatController* chat = app.chat();
    QTRY_COMPARE(chat->conversations()->rowCount(), 1);
    chat->selectConversation(5);
    QTRY_COMPARE(chat->messages()->rowCount(), 2);
    QCOMPARE(app.status(1), QStringLiteral("interrupted"));
    QCOMPARE(app.content(1), QStringLiteral("partial"));

    // A new chat continues the stored ids.
    QVERIFY(app.loadModel(makeModelFile(app.dir)));
    chat->newConversation();
    QVERIFY(chat->send(QStringLiteral("fresh")));
    QCOMPARE(chat->currentConversationId(), qint64(6));
    QCOMPARE(app.messageId(0), qint64(12));
    QVERIFY(app.waitIdle());
}

void TestChatController::damagedDatabaseNotice() {
    ChatApp app;
    {
        QFile garbage(app.dbPath());
        QVERIFY(garbage.open(QIODevice::WriteOnly));
        garbage.write(QByteArray(8192, 'x'));
    }
    QVERIFY(app.start());
    const QString notice = app.controller->notice();
    QVERIFY2(notice.startsWith(QStringLiteral("Your chat history could not be read (")), qPrintable(notice));
    QVERIFY2(notice.contains(QStringLiteral("It was moved to ")) && notice.contains(QStringLiteral("latent.db.damaged-")),
             qPrintable(notice));
    QVERIFY(notice.endsWith(QStringLiteral("and a new history was started.")));
    QSignalSpy changed(app.controller.get(), &AppController::noticeChanged);
    app.controller->dismissNotice();
    QCOMPARE(app.controller->notice(), QString());
    QCOMPARE(changed.size(), 1);
}

QTEST_MAIN(TestChatController)
#include "test_chat_controller.moc"
