// DraftController below the UI: what a paste does (left to the text area, held as pasted text,
// or refused at the limit), composing and restoring a message, and the token count, which runs
// on the inference thread (FakeChatEngine: 4 tokens a turn + 1 a word), debounced, one at a
// time, and always ends on the draft as it is now.
#include "controllers/app_controller.h"
#include "controllers/chat_controller.h"
#include "inference/fake_chat_engine.h"

#include <QFile>
#include <QRandomGenerator>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

namespace {

// The fake engine's count, computed here on its own (the oracle).
int expectedTokens(const QString& system, const QString& message) {
    static const QRegularExpression whitespace(QStringLiteral("\\s+"));
    int tokens = 4 + int(message.split(whitespace, Qt::SkipEmptyParts).size());
    if (!system.trimmed().isEmpty()) tokens += 4 + int(system.split(whitespace, Qt::SkipEmptyParts).size());
    return tokens;
}

QString words(int n, QRandomGenerator& random) {
    QString text;
    for (int i = 0; i < n; ++i) text += QStringLiteral("w%1 ").arg(random.bounded(1000));
    return text;
}

// An AppController over the fake engine with a (fake) model loaded.
struct DraftApp {
    QTemporaryDir dir;
    std::unique_ptr<AppController> app;
    bool start() {
        app = std::make_unique<AppController>(dir.path(), std::make_unique<FakeChatEngine>());
        const QString model = dir.filePath(QStringLiteral("fake.gguf"));
        QFile file(model);
        if (!file.open(QIODevice::WriteOnly)) return false;
        file.close();
        if (!QTest::qWaitFor([&] { return app->ready(); }, 10000)) return false;
        app->model()->load(model);
        return QTest::qWaitFor([&] { return app->model()->loaded(); }, 10000);
    }
    DraftController* draft() { return app->draft(); }
};

} // namespace

class DraftControllerTest : public QObject {
    Q_OBJECT
private slots:
    void insertDecides_data();
    void insertDecides();
    void composeAndRestore();
    void countIsDebouncedAndFollowsTheDraft();
    void tooLongAgainstTheContext();
    void noModelNoCount();
    void chatRefusesMessagesOverTheLimit();
};

void DraftControllerTest::insertDecides_data() {
    QTest::addColumn<int>("typed");
    QTest::addColumn<int>("selected");
    QTest::addColumn<int>("pastedBefore");
    QTest::addColumn<int>("length");
    QTest::addColumn<bool>("handled");
    QTest::addColumn<int>("pastedAfter");
    QTest::addColumn<bool>("refused");
    constexpr int inl = DraftController::kInlineLength;
    constexpr int max = DraftController::kMaxMessageLength;
    QTest::newRow("short: the text area pastes") << 10 << 0 << 0 << 100 << false << 0 << false;
    QTest::newRow("at the inline length") << 0 << 0 << 0 << inl << false << 0 << false;
    QTest::newRow("one over: held") << 0 << 0 << 0 << inl + 1 << true << inl + 1 << false;
    QTest::newRow("short into a full text area: held") << inl - 50 << 0 << 0 << 100 << true << 100 << false;
    QTest::newRow("short over a selection: the text area") << inl - 50 << 60 << 0 << 100 << false << 0 << false;
    QTest::newRow("exactly the limit") << 100 << 0 << 0 << max - 100 << true << max - 100 << false;
    QTest::newRow("one over the limit") << 101 << 0 << 0 << max - 100 << true << 0 << true;
    QTest::newRow("selection replaced") << 101 << 1 << 0 << max - 100 << true << max - 100 << false;
    QTest::newRow("second block appended") << 0 << 0 << inl * 2 << inl * 2 << true << inl * 4 + 2 << false;
    QTest::newRow("second block over") << 0 << 0 << max - 10 << inl * 2 << true << max - 10 << true;
    QTest::newRow("short over the limit") << 0 << 0 << max - 10 << 20 << true << max - 10 << true;
}

void DraftControllerTest::insertDecides() {
    QFETCH(int, typed);
    QFETCH(int, selected);
    QFETCH(int, pastedBefore);
    QFETCH(int, length);
    QFETCH(bool, handled);
    QFETCH(int, pastedAfter);
    QFETCH(bool, refused);
    DraftApp app;
    QVERIFY(app.start());
    DraftController* draft = app.draft();
    if (pastedBefore > 0) QVERIFY(draft->insert(QString(pastedBefore, u'p'), 0));
    QCOMPARE(draft->insert(QString(length, u'x'), typed, selected), handled);
    QCOMPARE(draft->pastedLength(), pastedAfter);
    QCOMPARE(!draft->refusal().isEmpty(), refused);
    if (refused) QVERIFY(draft->refusal().startsWith(QStringLiteral("Not pasted")));
    draft->typedChanged(QStringLiteral("a")); // the next edit clears the note
    QVERIFY(draft->refusal().isEmpty());
}

void DraftControllerTest::composeAndRestore() {
    DraftApp app;
    QVERIFY(app.start());
    DraftController* draft = app.draft();
    QCOMPARE(draft->compose(QStringLiteral("hi")), QStringLiteral("hi"));
    const QString block(DraftController::kInlineLength + 5, u'b');
    QVERIFY(draft->insert(block, 2));
    QCOMPARE(draft->compose(QStringLiteral("hi")), QStringLiteral("hi\n\n") + block);
    QCOMPARE(draft->compose(QStringLiteral("  ")), block);
    QCOMPARE(draft->pastedLines(), 1);
    QCOMPARE(draft->pastedPreview(), QString(160, u'b'));
    draft->removePasted();
    QCOMPARE(draft->pastedLength(), 0);

    // A failed send puts the message back: short into the text area, long into the block.
    QCOMPARE(draft->restore(QStringLiteral("short")), QStringLiteral("short"));
    QCOMPARE(draft->pastedLength(), 0);
    const QString lines = QStringLiteral("line\n").repeated(DraftController::kInlineLength);
    QCOMPARE(draft->restore(lines), QString());
    QCOMPARE(draft->pastedLength(), int(lines.size()));
    QCOMPARE(draft->pastedLines(), DraftController::kInlineLength + 1);
    draft->clear();
    QCOMPARE(draft->pastedLength(), 0);
}

void DraftControllerTest::countIsDebouncedAndFollowsTheDraft() {
    DraftApp app;
    QVERIFY(app.start());
    DraftController* draft = app.draft();
    const QString system = app.app->settings()->systemPrompt();
    QRandomGenerator random(QRandomGenerator::global()->generate());
    QTest::qWait(DraftController::kCountDelayMs * 2); // counts caused by the model load are done
    QSignalSpy changed(draft, &DraftController::tokensChanged);

    // Ten edits in quick succession: one count, of the last text.
    QString typed;
    for (int i = 0; i < 10; ++i) {
        typed += words(1 + int(random.bounded(5)), random);
        draft->typedChanged(typed);
        QTest::qWait(10);
    }
    QCOMPARE(draft->tokens(), -1);
    QTRY_COMPARE(draft->tokens(), expectedTokens(system, typed));
    QCOMPARE(changed.count(), 1); // it was unknown (-1) already: only the count's result

    // A pasted block counts too.
    QVERIFY(draft->insert(words(5000, random), int(typed.size())));
    QTRY_COMPARE(draft->tokens(), expectedTokens(system, draft->compose(typed)));
}

void DraftControllerTest::tooLongAgainstTheContext() {
    DraftApp app;
    QVERIFY(app.start());
    DraftController* draft = app.draft();
    app.app->settings()->setMaxNewTokens(1000);
    const int limit = draft->tokenLimit();
    QCOMPARE(limit, 4096 - 1000); // the fake model's context less the answer's room
    const QString system = app.app->settings()->systemPrompt();
    const int overhead = expectedTokens(system, QString());
    draft->typedChanged(QStringLiteral("w ").repeated(limit - overhead));
    QTRY_COMPARE(draft->tokens(), limit);
    QVERIFY(!draft->tooLong());
    draft->typedChanged(QStringLiteral("w ").repeated(limit - overhead + 1));
    QTRY_COMPARE(draft->tokens(), limit + 1);
    QVERIFY(draft->tooLong());
}

void DraftControllerTest::noModelNoCount() {
    QTemporaryDir dir;
    AppController app(dir.path(), std::make_unique<FakeChatEngine>());
    QTRY_VERIFY(app.ready());
    app.draft()->typedChanged(QStringLiteral("hello there"));
    QTest::qWait(DraftController::kCountDelayMs * 3);
    QCOMPARE(app.draft()->tokens(), -1);
    QVERIFY(!app.draft()->tooLong());
}

void DraftControllerTest::chatRefusesMessagesOverTheLimit() {
    // Whatever way a message reaches the chat, it is held to the composer's limit.
    DraftApp app;
    QVERIFY(app.start());
    ChatController* chat = app.app->chat();
    QSignalSpy errors(chat, &ChatController::errorOccurred);
    QVERIFY(!chat->send(QString(DraftController::kMaxMessageLength + 1, u'x')));
    QCOMPARE(errors.count(), 1);
    QVERIFY(errors.at(0).at(0).toString().startsWith(QStringLiteral("Not sent")));
    QCOMPARE(chat->messages()->rowCount(), 0);
    const QString atLimit(DraftController::kMaxMessageLength, u'y');
    QVERIFY(chat->send(atLimit));
    QTRY_VERIFY_WITH_TIMEOUT(!chat->generating(), 20000);
    QCOMPARE(chat->messages()->rows().front().content, atLimit);

    // Edit and resend too.
    const qint64 question = chat->messages()->rows().front().id;
    chat->editAndResend(question, QString(DraftController::kMaxMessageLength + 1, u'z'));
    QCOMPARE(errors.count(), 2);
    QCOMPARE(chat->messages()->rows().front().content, atLimit);
}

QTEST_MAIN(DraftControllerTest)
#include "test_draft_controller.moc"
