// Megabytes in the composer, driven through the real window (Main.qml, the real engine on a
// small random model): pasting (the clipboard and Ctrl+V, as a user does), typing after the
// paste and sending, while the GUI thread's event loop is timed and the process's peak memory
// is read. A paste over the composer's limit is refused with a message and loses nothing.
#include "app_window_support.h"
#include "controllers/app_controller.h"
#include "inference/engine_chat_engine.h"
#include "storage/database.h"
#include "storage/storage_thread.h"

#include <QClipboard>
#include <QGuiApplication>
#include <QQuickItem>
#include <QRandomGenerator>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>
#include <QtQml/qqmlextensionplugin.h>

#include <memory>

Q_IMPORT_QML_PLUGIN(LatentChatPlugin)

using namespace app_test;

namespace {

// `length` UTF-16 units of text in many scripts: prose lines, code, very long lines, CJK,
// Cyrillic, Greek, Arabic, combining marks and emoji (surrogate pairs are never split).
QString bigText(qsizetype length, quint32 seed) {
    QRandomGenerator random(seed);
    const QStringList words{QStringLiteral("latent"), QStringLiteral("attention"), QStringLiteral("Привет"),
                            QStringLiteral("мир"), QStringLiteral("λόγος"), QStringLiteral("注意力机制"),
                            QStringLiteral("日本語のテキスト"), QStringLiteral("مرحبا"), QStringLiteral("e\u0301te\u0301"),
                            QStringLiteral("\U0001F600\U0001F680"), QStringLiteral("x = y + 1;"), QStringLiteral("\t{")};
    QString text;
    text.reserve(length + 64);
    while (text.size() < length) {
        const quint32 kind = random.bounded(100);
        if (kind < 2) { // a very long line, up to 200,000 characters without a break
            const int n = 1000 + int(random.bounded(200000));
            for (int i = 0; i < n && text.size() < length; ++i) text += QChar(u'a' + char16_t(random.bounded(26)));
        } else if (kind < 10) { // a run of short lines
            for (int i = 0; i < 50; ++i) text += QStringLiteral("%1\n").arg(random.bounded(1000));
        } else { // a line of words in several scripts
            const int n = 3 + int(random.bounded(20));
            for (int i = 0; i < n; ++i) text += words[random.bounded(int(words.size()))] + u' ';
        }
        text += u'\n';
    }
    text.truncate(length);
    if (text.back().isHighSurrogate()) text.back() = u'.';
    return text;
}

// Bounds for a loaded 2-core CI machine; the faults they catch are 1–30 s long.
constexpr double kMaxGapMs = 500.0;      // longest the GUI thread may go without running its events
constexpr double kMaxGrowthMiB = 200.0;  // peak memory added by a paste, typing after it and sending it

// An item of the window by objectName, searched in the visual tree (list delegates included).
QQuickItem* findItem(QQuickItem* parent, const QString& name) {
    for (QQuickItem* child : parent->childItems()) {
        if (child->objectName() == name) return child;
        if (QQuickItem* found = findItem(child, name)) return found;
    }
    return nullptr;
}
QQuickItem* item(QQuickWindow* window, const char* name) {
    return findItem(window->contentItem(), QString::fromLatin1(name));
}

// The clipboard holds `text` and Ctrl+V is pressed, as a user pastes.
void paste(QQuickWindow* window, const QString& text) {
    QGuiApplication::clipboard()->setText(text);
    QTest::keyClick(window, Qt::Key_V, Qt::ControlModifier);
}

quint32 freshSeed() {
    const quint32 seed = QRandomGenerator::global()->generate();
    qInfo("text seed %u", seed);
    return seed;
}

} // namespace

class BigInputTest : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void pasteNearTheLimitStaysResponsive();
    void pasteOverTheLimitIsRefused_data();
    void pasteOverTheLimitIsRefused();
    void longTextSetOtherwiseMovesOutOfTheTextArea();

private:
    QTemporaryDir models_;
    QString modelPath_;
};

void BigInputTest::initTestCase() {
    QVERIFY(models_.isValid());
    modelPath_ = makeModel(models_);
}

void BigInputTest::pasteNearTheLimitStaysResponsive() {
    QTemporaryDir data;
    QVERIFY(data.isValid());
    AppController app(data.path(), std::make_unique<EngineChatEngine>());
    LoadedUi ui;
    QVERIFY(showWithModel(app, ui, modelPath_));
    DraftController* draft = app.draft();
    QTRY_VERIFY(ui.window->activeFocusItem() != nullptr);
    QQuickItem* input = ui.window->activeFocusItem();
    QCOMPARE(input->objectName(), QStringLiteral("composerInput"));

    const QString before = QStringLiteral("Summarise");
    typeText(ui.window, before);
    const QString text = bigText(draft->maxLength() - 64, freshSeed());
    QTest::qWait(100);
    resetPeakRss();
    const double rssBefore = rssMiB();

    QElapsedTimer clock;
    clock.start();
    double pasteGap = 0;
    {
        EventLoopProbe probe;
        paste(ui.window, text);
        QTest::qWait(300);
        pasteGap = probe.maxGapMs();
    }
    const qint64 pasteMs = clock.elapsed() - 300;
    QCOMPARE(draft->pastedLength(), int(text.size()));
    QCOMPARE(input->property("text").toString(), before); // the text area keeps only what was typed
    QVERIFY(item(ui.window, "pastedText") && item(ui.window, "pastedText")->isVisible());

    // Typing after the paste: every key is handled at once.
    const QString after = QStringLiteral(" this please");
    double typeGap = 0;
    qint64 slowestKeyMs = 0;
    {
        EventLoopProbe probe;
        for (const QChar c : after) {
            clock.restart();
            QTest::keyClick(ui.window, c.toLatin1());
            slowestKeyMs = std::max(slowestKeyMs, clock.elapsed());
            QTest::qWait(20);
        }
        typeGap = probe.maxGapMs();
    }
    QCOMPARE(input->property("text").toString(), before + after);

    // The count arrives from the inference thread and says the message cannot fit a 4,096
    // context; the note says so.
    QTRY_VERIFY_WITH_TIMEOUT(draft->tokens() >= 0, 120000);
    QVERIFY(draft->tooLong());
    const int shownTokens = draft->tokens();
    QVERIFY(item(ui.window, "draftNote"));
    QTRY_VERIFY(item(ui.window, "draftNote")->property("text").toString().contains(QStringLiteral("Too long")));

    double sendGap = 0;
    clock.restart();
    {
        EventLoopProbe probe;
        QTest::keyClick(ui.window, Qt::Key_Return);
        QTRY_VERIFY_WITH_TIMEOUT(app.chat()->messages()->rowCount() == 2 && !app.chat()->generating(), 120000);
        QTest::qWait(300);
        sendGap = probe.maxGapMs();
    }
    const qint64 sendMs = clock.elapsed();
    const double growth = peakRssMiB() - rssBefore;
    qInfo("paste of %lld characters: %lld ms (max gap %.0f ms); typing: slowest key %lld ms (max gap %.0f ms); "
          "send until the answer failed: %lld ms (max gap %.0f ms); peak memory +%.0f MiB",
          qlonglong(text.size()), pasteMs, pasteGap, slowestKeyMs, typeGap, sendMs, sendGap, growth);

    // Nothing lost: the whole message, typed text then the pasted block, is shown and stored.
    const QString message = before + after + QStringLiteral("\n\n") + text;
    const MessageRecord user = app.chat()->messages()->rows()[0];
    QCOMPARE(user.content.size(), message.size());
    QVERIFY(user.content == message);
    QCOMPARE(input->property("text").toString(), QString());
    QCOMPARE(draft->pastedLength(), 0);
    QVERIFY(item(ui.window, "showMoreButton") && item(ui.window, "showMoreButton")->isVisible());
    // The model refuses it with the same count the composer showed.
    const MessageRecord answer = app.chat()->messages()->rows()[1];
    QVERIFY(answer.status == MessageStatus::Error);
    const QRegularExpressionMatch counted = QRegularExpression(QStringLiteral("\\((\\d+) tokens;")).match(answer.errorText);
    QVERIFY2(counted.hasMatch(), qPrintable(answer.errorText));
    QCOMPARE(counted.captured(1).toInt(), shownTokens);
    app.storage()->flush();
    Database db(data.filePath(QStringLiteral("latent.db")));
    const auto stored = db.messages(app.chat()->currentConversationId());
    QVERIFY(!stored.empty());
    QVERIFY(stored[0].content == message);

    QVERIFY2(pasteGap < kMaxGapMs, qPrintable(QStringLiteral("paste stalled the GUI thread %1 ms").arg(pasteGap)));
    QVERIFY2(typeGap < kMaxGapMs, qPrintable(QStringLiteral("typing stalled the GUI thread %1 ms").arg(typeGap)));
    QVERIFY2(sendGap < kMaxGapMs, qPrintable(QStringLiteral("sending stalled the GUI thread %1 ms").arg(sendGap)));
    QVERIFY2(growth < kMaxGrowthMiB, qPrintable(QStringLiteral("memory grew by %1 MiB").arg(growth)));
}

void BigInputTest::pasteOverTheLimitIsRefused_data() {
    QTest::addColumn<int>("length");
    QTest::newRow("2 MiB") << 2 * 1024 * 1024;
    QTest::newRow("8 MiB") << 8 * 1024 * 1024;
}

void BigInputTest::pasteOverTheLimitIsRefused() {
    QFETCH(int, length);
    QTemporaryDir data;
    QVERIFY(data.isValid());
    AppController app(data.path(), std::make_unique<EngineChatEngine>());
    LoadedUi ui;
    QVERIFY(showWithModel(app, ui, modelPath_));
    QTRY_VERIFY(ui.window->activeFocusItem() != nullptr);
    QQuickItem* input = ui.window->activeFocusItem();
    const QString typed = QStringLiteral("keep me");
    typeText(ui.window, typed);
    const QString text = bigText(length, freshSeed());
    QTest::qWait(100);
    resetPeakRss();
    const double rssBefore = rssMiB();
    double gap = 0;
    {
        EventLoopProbe probe;
        paste(ui.window, text);
        QTest::qWait(300);
        typeText(ui.window, QStringLiteral("!"));
        QTest::qWait(100);
        gap = probe.maxGapMs();
    }
    const double growth = peakRssMiB() - rssBefore;
    qInfo("refused paste of %d characters: max gap %.0f ms, peak memory +%.0f MiB", length, gap, growth);

    // Refused with a note while it is fresh; nothing written is changed, the clipboard keeps it.
    QCOMPARE(input->property("text").toString(), typed + u'!');
    QCOMPARE(app.draft()->pastedLength(), 0);
    QCOMPARE(QGuiApplication::clipboard()->text().size(), text.size());
    paste(ui.window, text);
    QVERIFY(item(ui.window, "draftNote"));
    const QString note = item(ui.window, "draftNote")->property("text").toString();
    QVERIFY2(note.startsWith(QStringLiteral("Not pasted")), qPrintable(note));
    QVERIFY(item(ui.window, "draftNote")->isVisible());
    QCOMPARE(input->property("text").toString(), typed + u'!');

    QVERIFY2(gap < kMaxGapMs, qPrintable(QStringLiteral("the GUI thread stalled %1 ms").arg(gap)));
    QVERIFY2(growth < kMaxGrowthMiB, qPrintable(QStringLiteral("memory grew by %1 MiB").arg(growth)));
}

void BigInputTest::longTextSetOtherwiseMovesOutOfTheTextArea() {
    // Text that reaches the text area without a key paste (an input method, a middle click, a
    // suggestion) and is longer than it should hold goes to the pasted-text block.
    QTemporaryDir data;
    QVERIFY(data.isValid());
    AppController app(data.path(), std::make_unique<EngineChatEngine>());
    LoadedUi ui;
    QVERIFY(showWithModel(app, ui, modelPath_));
    QQuickItem* composer = item(ui.window, "composer");
    QVERIFY(composer);
    const QString text = bigText(app.draft()->inlineLength() * 4, freshSeed());
    composer->setProperty("text", text);
    QTRY_COMPARE(app.draft()->pastedLength(), int(text.size()));
    QCOMPARE(composer->property("text").toString(), QString());

    // The most the text area is given at once stays there, and typing on past it is not slowed
    // or moved.
    app.draft()->removePasted();
    const QString full = bigText(app.draft()->inlineLength(), freshSeed());
    composer->setProperty("text", full);
    QTRY_VERIFY(ui.window->activeFocusItem() != nullptr);
    double gap = 0;
    {
        EventLoopProbe probe;
        for (int i = 0; i < 5; ++i) {
            QTest::keyClick(ui.window, 'z');
            QTest::qWait(20);
        }
        gap = probe.maxGapMs();
    }
    qInfo("typing into a text area of %lld characters: max gap %.0f ms", qlonglong(full.size()), gap);
    QCOMPARE(app.draft()->pastedLength(), 0);
    QCOMPARE(composer->property("text").toString().size(), full.size() + 5);
    QVERIFY2(gap < kMaxGapMs, qPrintable(QStringLiteral("typing stalled the GUI thread %1 ms").arg(gap)));
}

QTEST_MAIN(BigInputTest)
#include "test_big_input.moc"
