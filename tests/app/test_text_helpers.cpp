// The pure text helpers: Markdown block splitting, titles, dates, statistics, size formatting
// and the Markdown/JSON export of a conversation.
#include "controllers/text_helpers.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTest>

namespace {

QVariantMap prose(const QString& text) {
    return {{QStringLiteral("kind"), QStringLiteral("markdown")},
            {QStringLiteral("text"), text},
            {QStringLiteral("language"), QString()}};
}

QVariantMap code(const QString& text, const QString& language = {}) {
    return {{QStringLiteral("kind"), QStringLiteral("code")},
            {QStringLiteral("text"), text},
            {QStringLiteral("language"), language}};
}

QString describe(const QVariantList& blocks) {
    QStringList parts;
    for (const QVariant& b : blocks) {
        const QVariantMap m = b.toMap();
        parts << QStringLiteral("%1[%2]<%3>")
                     .arg(m.value(QStringLiteral("kind")).toString(), m.value(QStringLiteral("language")).toString(),
                          m.value(QStringLiteral("text")).toString());
    }
    return parts.join(QStringLiteral(" | "));
}

qint64 ms(int year, int month, int day, int hour, int minute) {
    return QDateTime(QDate(year, month, day), QTime(hour, minute), Qt::UTC).toMSecsSinceEpoch();
}

} // namespace

class TestTextHelpers : public QObject {
    Q_OBJECT
private slots:
    void markdownBlocks_data();
    void markdownBlocks();
    void markdownBlocksKeepsProseCharacters();
    void titleFromMessage_data();
    void titleFromMessage();
    void relativeDateText_data();
    void relativeDateText();
    void messageStatsText_data();
    void messageStatsText();
    void formatBytes_data();
    void formatBytes();
    void formatCount_data();
    void formatCount();
    void exportJson();
    void exportMarkdown();
    void exportKeepsSources();
};

void TestTextHelpers::markdownBlocks_data() {
    QTest::addColumn<QString>("input");
    QTest::addColumn<QVariantList>("expected");

    QTest::newRow("empty") << QString() << QVariantList{};
    QTest::newRow("text only") << QStringLiteral("Hello **world**\n\nSecond paragraph")
                               << QVariantList{prose(QStringLiteral("Hello **world**\n\nSecond paragraph"))};
    QTest::newRow("code only") << QStringLiteral("```\nint x;\n```") << QVariantList{code(QStringLiteral("int x;"))};
    QTest::newRow("language and prose around")
        << QStringLiteral("Intro:\n```python\nprint(1)\n```\nOutro")
        << QVariantList{prose(QStringLiteral("Intro:")), code(QStringLiteral("print(1)"), QStringLiteral("python")),
                        prose(QStringLiteral("Outro"))};
    QTest::newRow("tilde fence, info string")
        << QStringLiteral("~~~ js {.numbered}\nlet a = 1;\n~~~")
        << QVariantList{code(QStringLiteral("let a = 1;"), QStringLiteral("js"))};
    QTest::newRow("indented fence in a list")
        << QStringLiteral("1. Step\n   ```sh\n   ls -l\n     indented\n   ```\n2. Next")
        << QVariantList{prose(QStringLiteral("1. Step")), code(QStringLiteral("ls -l\n  indented"), QStringLiteral("sh")),
                        prose(QStringLiteral("2. Next"))};
    QTest::newRow("four spaces is not a fence")
        << QStringLiteral("    ```\n    code\n    ```")
        << QVariantList{prose(QStringLiteral("    ```\n    code\n    ```"))};
    QTest::newRow("longer closing fence")
        << QStringLiteral("```\na\n`````\nafter") << QVariantList{code(QStringLiteral("a")), prose(QStringLiteral("after"))};
    QTest::newRow("shorter fence inside stays code")
        << QStringLiteral("````md\n```\ninner\n```\n````")
        << QVariantList{code(QStringLiteral("```\ninner\n```"), QStringLiteral("md"))};
    QTest::newRow("other marker does not close")
        << QStringLiteral("~~~\n```\nx\n~~~") << QVariantList{code(QStringLiteral("```\nx"))};
    QTest::newRow("crlf line ends")
        << QStringLiteral("a\r\n```c\r\nint x;\r\n```\r\nb")
        << QVariantList{prose(QStringLiteral("a")), code(QStringLiteral("int x;"), QStringLiteral("c")),
                        prose(QStringLiteral("b"))};
    QTest::newRow("unterminated fence while streaming")
        << QStringLiteral("Look:\n```python\ndef f():\n    return")
        << QVariantList{prose(QStringLiteral("Look:")), code(QStringLiteral("def f():\n    return"), QStringLiteral("python"))};
    QTest::newRow("only the opening line so far")
        << QStringLiteral("```py") << QVariantList{code(QString(), QStringLiteral("py"))};
    QTest::newRow("inline triple backticks are prose")
        << QStringLiteral("use ```x``` inline") << QVariantList{prose(QStringLiteral("use ```x``` inline"))};
    QTest::newRow("fence with trailing text does not close")
        << QStringLiteral("```\na\n``` not closing\n```") << QVariantList{code(QStringLiteral("a\n``` not closing"))};
    QTest::newRow("two code blocks, blank line between")
        << QStringLiteral("```\na\n```\n\n```\nb\n```") << QVariantList{code(QStringLiteral("a")), code(QStringLiteral("b"))};
    QTest::newRow("blank lines in prose kept")
        << QStringLiteral("para1\n\n\npara2\n```\nx\n```")
        << QVariantList{prose(QStringLiteral("para1\n\n\npara2")), code(QStringLiteral("x"))};
    QTest::newRow("empty code block") << QStringLiteral("```\n```") << QVariantList{code(QString())};
    QTest::newRow("indentation of prose kept")
        << QStringLiteral("  indented text\n```\nx\n```\n  tail  ")
        << QVariantList{prose(QStringLiteral("  indented text")), code(QStringLiteral("x")), prose(QStringLiteral("  tail  "))};
    QTest::newRow("two-backtick line is prose")
        << QStringLiteral("``\nnot code\n``") << QVariantList{prose(QStringLiteral("``\nnot code\n``"))};
}

void TestTextHelpers::markdownBlocks() {
    QFETCH(QString, input);
    QFETCH(QVariantList, expected);
    const QVariantList actual = ::markdownBlocks(input);
    QCOMPARE(describe(actual), describe(expected));
    QCOMPARE(actual, expected);
}

// Outside fence lines nothing is lost: joining the blocks' texts with the fence lines gives the
// input back (for unindented fences and text that is not blank between fences).
void TestTextHelpers::markdownBlocksKeepsProseCharacters() {
    const QString input = QStringLiteral(
        "# Title\n\nSome *text* with `inline` code.\n```cpp\nint main() {\n  return 0;\n}\n```\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n~~~\nraw ``` inside\n~~~\nLast line, no newline");
    const QVariantList blocks = ::markdownBlocks(input);
    QCOMPARE(blocks.size(), 5);
    QStringList rebuilt;
    rebuilt << blocks[0].toMap().value(QStringLiteral("text")).toString();
    rebuilt << QStringLiteral("```cpp") << blocks[1].toMap().value(QStringLiteral("text")).toString() << QStringLiteral("```");
    rebuilt << blocks[2].toMap().value(QStringLiteral("text")).toString();
    rebuilt << QStringLiteral("~~~") << blocks[3].toMap().value(QStringLiteral("text")).toString() << QStringLiteral("~~~");
    rebuilt << blocks[4].toMap().value(QStringLiteral("text")).toString();
    QCOMPARE(rebuilt.join(u'\n'), input);
}

void TestTextHelpers::titleFromMessage_data() {
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("expected");
    const QString ellipsis(QChar(0x2026));
    QTest::newRow("short") << QStringLiteral("Hello there") << QStringLiteral("Hello there");
    QTest::newRow("whitespace collapsed") << QStringLiteral("  What   is\tMLA?  ") << QStringLiteral("What is MLA?");
    QTest::newRow("first line only") << QStringLiteral("Explain this:\nsecond line") << QStringLiteral("Explain this:");
    QTest::newRow("leading blank lines") << QStringLiteral("\n\n  \nReal title\nmore") << QStringLiteral("Real title");
    QTest::newRow("empty") << QString() << QStringLiteral("New chat");
    QTest::newRow("whitespace only") << QStringLiteral("   \n\t ") << QStringLiteral("New chat");
    QTest::newRow("exactly 60") << QString(60, u'a') << QString(60, u'a');
    QTest::newRow("cut at a word")
        << QStringLiteral("The quick brown fox jumps over the lazy dog and keeps running far away from home")
        << QStringLiteral("The quick brown fox jumps over the lazy dog and keeps") + ellipsis;
    QTest::newRow("one long word") << QString(80, u'x') << QString(59, u'x') + ellipsis;
    QTest::newRow("a megabyte on one line") << QStringLiteral("big ") + QString(1 << 20, u'y')
                                            << QStringLiteral("big ") + QString(55, u'y') + ellipsis;
    QTest::newRow("after a megabyte of blank lines") << QStringLiteral(" \n").repeated(1 << 19) + QStringLiteral("Title\nrest")
                                                     << QStringLiteral("Title");
    QTest::newRow("crlf line end") << QStringLiteral("Title\r\nrest") << QStringLiteral("Title");
    QTest::newRow("never splits a surrogate pair")
        << QString(58, u'a') + QStringLiteral("\U0001F600") + QString(10, u'b') << QString(58, u'a') + ellipsis;
}

void TestTextHelpers::titleFromMessage() {
    QFETCH(QString, text);
    QFETCH(QString, expected);
    const QString title = ::titleFromMessage(text);
    QCOMPARE(title, expected);
    QVERIFY(title.size() <= 60);
}

void TestTextHelpers::relativeDateText_data() {
    QTest::addColumn<QDateTime>("when");
    QTest::addColumn<QDateTime>("now");
    QTest::addColumn<QString>("expected");
    const QDateTime now(QDate(2025, 11, 5), QTime(15, 30));
    QTest::newRow("today") << QDateTime(QDate(2025, 11, 5), QTime(9, 5)) << now << QStringLiteral("09:05");
    QTest::newRow("today, midnight") << QDateTime(QDate(2025, 11, 5), QTime(0, 0)) << now << QStringLiteral("00:00");
    QTest::newRow("yesterday") << QDateTime(QDate(2025, 11, 4), QTime(23, 59)) << now << QStringLiteral("Yesterday");
    QTest::newRow("this year") << QDateTime(QDate(2025, 11, 3), QTime(10, 0)) << now << QStringLiteral("Mon 3 Nov");
    QTest::newRow("first day of the year") << QDateTime(QDate(2025, 1, 1), QTime(8, 0)) << now << QStringLiteral("Wed 1 Jan");
    QTest::newRow("older") << QDateTime(QDate(2024, 12, 31), QTime(8, 0)) << now << QStringLiteral("2024-12-31");
    QTest::newRow("yesterday across the year")
        << QDateTime(QDate(2024, 12, 31), QTime(20, 0)) << QDateTime(QDate(2025, 1, 1), QTime(10, 0))
        << QStringLiteral("Yesterday");
    QTest::newRow("invalid") << QDateTime() << now << QString();
}

void TestTextHelpers::relativeDateText() {
    QFETCH(QDateTime, when);
    QFETCH(QDateTime, now);
    QFETCH(QString, expected);
    QCOMPARE(::relativeDateText(when, now), expected);
}

void TestTextHelpers::messageStatsText_data() {
    QTest::addColumn<int>("tokens");
    QTest::addColumn<double>("speed");
    QTest::addColumn<double>("firstTokenMs");
    QTest::addColumn<QString>("expected");
    QTest::newRow("nothing") << 0 << 0.0 << 0.0 << QString();
    QTest::newRow("all") << 128 << 9.34 << 420.0 << QStringLiteral("128 tokens · 9.3 tokens/s · first token 0.42 s");
    QTest::newRow("one token") << 1 << 0.0 << 0.0 << QStringLiteral("1 token");
    QTest::newRow("speed only") << 0 << 12.0 << 0.0 << QStringLiteral("12.0 tokens/s");
    QTest::newRow("first token only") << 0 << 0.0 << 1500.0 << QStringLiteral("first token 1.50 s");
    QTest::newRow("not a number ignored") << 5 << std::nan("") << -3.0 << QStringLiteral("5 tokens");
}

void TestTextHelpers::messageStatsText() {
    QFETCH(int, tokens);
    QFETCH(double, speed);
    QFETCH(double, firstTokenMs);
    QFETCH(QString, expected);
    MessageRecord m;
    m.role = MessageRole::Assistant;
    m.generatedTokens = tokens;
    m.generationTokensPerSecond = speed;
    m.timeToFirstTokenMs = firstTokenMs;
    QCOMPARE(::messageStatsText(m), expected);
}

void TestTextHelpers::formatBytes_data() {
    QTest::addColumn<qint64>("bytes");
    QTest::addColumn<QString>("expected");
    QTest::newRow("zero") << qint64(0) << QStringLiteral("0 B");
    QTest::newRow("negative") << qint64(-5) << QStringLiteral("0 B");
    QTest::newRow("bytes") << qint64(1023) << QStringLiteral("1023 B");
    QTest::newRow("1 KiB") << qint64(1024) << QStringLiteral("1 KiB");
    QTest::newRow("1.5 KiB") << qint64(1536) << QStringLiteral("1.5 KiB");
    QTest::newRow("67.5 KiB") << qint64(69120) << QStringLiteral("67.5 KiB");
    QTest::newRow("1.88 MiB") << qint64(1971322) << QStringLiteral("1.88 MiB");
    QTest::newRow("rounds up to the next unit") << qint64(1048575) << QStringLiteral("1 MiB");
    QTest::newRow("9.65 GiB") << qint64(10364000000) << QStringLiteral("9.65 GiB");
    QTest::newRow("236 GiB") << qint64(236) * 1024 * 1024 * 1024 << QStringLiteral("236 GiB");
}

void TestTextHelpers::formatBytes() {
    QFETCH(qint64, bytes);
    QFETCH(QString, expected);
    QCOMPARE(::formatBytes(bytes), expected);
}

void TestTextHelpers::formatCount_data() {
    QTest::addColumn<qint64>("count");
    QTest::addColumn<QString>("expected");
    QTest::newRow("small") << qint64(950) << QStringLiteral("950");
    QTest::newRow("16 M") << qint64(16'000'000) << QStringLiteral("16 M");
    QTest::newRow("2.66 B") << qint64(2'660'000'000) << QStringLiteral("2.66 B");
    QTest::newRow("15.7 B") << qint64(15'706'000'000) << QStringLiteral("15.7 B");
    QTest::newRow("671 B") << qint64(671'000'000'000) << QStringLiteral("671 B");
    QTest::newRow("1.2 T") << qint64(1'200'000'000'000) << QStringLiteral("1.2 T");
    QTest::newRow("rounds up to the next unit") << qint64(999'999) << QStringLiteral("1 M");
}

void TestTextHelpers::formatCount() {
    QFETCH(qint64, count);
    QFETCH(QString, expected);
    QCOMPARE(::formatCount(count), expected);
}

namespace {

ConversationRecord sampleConversation() {
    ConversationRecord c;
    c.id = 7;
    c.title = QStringLiteral("Latent attention");
    c.createdAt = ms(2025, 11, 1, 10, 0);
    c.updatedAt = ms(2025, 11, 1, 10, 5);
    c.model = QStringLiteral("v2-lite.gguf");
    c.systemPrompt = QStringLiteral("Be brief.");
    return c;
}

std::vector<MessageRecord> sampleMessages() {
    std::vector<MessageRecord> rows(4);
    rows[0].id = 1;
    rows[0].role = MessageRole::User;
    rows[0].content = QStringLiteral("What is MLA?");
    rows[0].createdAt = ms(2025, 11, 1, 10, 0);
    rows[1].id = 2;
    rows[1].role = MessageRole::Assistant;
    rows[1].content = QStringLiteral("Multi-head **latent** attention.");
    rows[1].reasoning = QStringLiteral("The user asks about MLA.\nAnswer briefly.");
    rows[1].createdAt = ms(2025, 11, 1, 10, 1);
    rows[1].model = QStringLiteral("v2-lite.gguf");
    rows[1].generatedTokens = 42;
    rows[1].generationTokensPerSecond = 9.5;
    rows[2].id = 3;
    rows[2].role = MessageRole::User;
    rows[2].content = QStringLiteral("And the KV cache?");
    rows[2].createdAt = ms(2025, 11, 1, 10, 2);
    rows[3].id = 4;
    rows[3].role = MessageRole::Assistant;
    rows[3].content = QStringLiteral("It stores the latent");
    rows[3].status = MessageStatus::Stopped;
    rows[3].stopReason = QStringLiteral("cancelled");
    rows[3].createdAt = ms(2025, 11, 1, 10, 3);
    rows[3].model = QStringLiteral("v2-lite.gguf");
    rows[3].generatedTokens = 4;
    return rows;
}

} // namespace

void TestTextHelpers::exportJson() {
    const ConversationRecord c = sampleConversation();
    const std::vector<MessageRecord> rows = sampleMessages();
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(::conversationToJson(c, rows), &error);
    QCOMPARE(error.error, QJsonParseError::NoError);
    const QJsonObject root = doc.object();
    QCOMPARE(root.value(QStringLiteral("title")).toString(), c.title);
    QCOMPARE(root.value(QStringLiteral("createdAt")).toString(), QStringLiteral("2025-11-01T10:00:00Z"));
    QCOMPARE(root.value(QStringLiteral("model")).toString(), c.model);
    QCOMPARE(root.value(QStringLiteral("systemPrompt")).toString(), c.systemPrompt);
    const QJsonArray messages = root.value(QStringLiteral("messages")).toArray();
    QCOMPARE(messages.size(), qsizetype(rows.size()));
    const QStringList roles{QStringLiteral("user"), QStringLiteral("assistant"), QStringLiteral("user"),
                            QStringLiteral("assistant")};
    const QStringList statuses{QStringLiteral("complete"), QStringLiteral("complete"), QStringLiteral("complete"),
                               QStringLiteral("stopped")};
    const QStringList times{QStringLiteral("2025-11-01T10:00:00Z"), QStringLiteral("2025-11-01T10:01:00Z"),
                            QStringLiteral("2025-11-01T10:02:00Z"), QStringLiteral("2025-11-01T10:03:00Z")};
    for (qsizetype i = 0; i < messages.size(); ++i) {
        const QJsonObject m = messages[i].toObject();
        const MessageRecord& r = rows[static_cast<size_t>(i)];
        QCOMPARE(m.value(QStringLiteral("role")).toString(), roles[i]);
        QCOMPARE(m.value(QStringLiteral("content")).toString(), r.content);
        QCOMPARE(m.contains(QStringLiteral("reasoning")), !r.reasoning.isEmpty());
        QCOMPARE(m.value(QStringLiteral("reasoning")).toString(), r.reasoning);
        QCOMPARE(m.value(QStringLiteral("status")).toString(), statuses[i]);
        QCOMPARE(m.value(QStringLiteral("createdAt")).toString(), times[i]);
        QCOMPARE(m.value(QStringLiteral("model")).toString(), r.model);
        QCOMPARE(m.value(QStringLiteral("generatedTokens")).toInt(), r.generatedTokens);
        QCOMPARE(m.value(QStringLiteral("tokensPerSecond")).toDouble(), r.generationTokensPerSecond);
    }
}

void TestTextHelpers::exportMarkdown() {
    const ConversationRecord c = sampleConversation();
    std::vector<MessageRecord> rows = sampleMessages();
    MessageRecord failed;
    failed.id = 5;
    failed.role = MessageRole::Assistant;
    failed.content = QStringLiteral("Partial");
    failed.status = MessageStatus::Error;
    failed.errorText = QStringLiteral("out of memory");
    rows.push_back(failed);

    const QString md = ::conversationToMarkdown(c, rows);
    QVERIFY2(md.startsWith(QStringLiteral("# Latent attention\n")), qPrintable(md));
    // Every message, in order, each under its speaker.
    qsizetype at = md.indexOf(QStringLiteral("**System**"));
    QVERIFY(at > 0);
    QVERIFY(md.indexOf(QStringLiteral("Be brief.")) > at);
    const QStringList expectedOrder{
        QStringLiteral("**You**"),      QStringLiteral("What is MLA?"),
        QStringLiteral("**Assistant**"), QStringLiteral("> **Thinking**"),
        QStringLiteral("> The user asks about MLA.\n> Answer briefly."),
        QStringLiteral("Multi-head **latent** attention."),
        QStringLiteral("**You**"),      QStringLiteral("And the KV cache?"),
        QStringLiteral("**Assistant**"), QStringLiteral("It stores the latent"),
        QStringLiteral("*(Stopped.)*"),  QStringLiteral("**Assistant**"),
        QStringLiteral("Partial"),       QStringLiteral("*(Failed: out of memory)*"),
    };
    for (const QString& piece : expectedOrder) {
        const qsizetype next = md.indexOf(piece, at + 1);
        QVERIFY2(next > at, qPrintable(QStringLiteral("\"%1\" missing or out of order in:\n%2").arg(piece, md)));
        at = next;
    }
    // The first answer was complete: no marker after it.
    const qsizetype first = md.indexOf(QStringLiteral("Multi-head"));
    const qsizetype second = md.indexOf(QStringLiteral("**You**"), first);
    QVERIFY(!md.mid(first, second - first).contains(QStringLiteral("*(")));
}


void TestTextHelpers::exportKeepsSources() {
    const ConversationRecord c = sampleConversation();
    std::vector<MessageRecord> rows = sampleMessages();
    rows[1].sources = {SourceRecord{QStringLiteral("/docs/mla.pdf"), 4, 100, 160, QStringLiteral("Latent vectors are cached.")},
                       SourceRecord{QStringLiteral("/docs/notes.md"), 0, 0, 9, QStringLiteral("MLA notes")}};
    const QString md = ::conversationToMarkdown(c, rows);
    const qsizetype answer = md.indexOf(QStringLiteral("Multi-head **latent** attention."));
    const qsizetype sources = md.indexOf(QStringLiteral("*Sources:*"));
    QVERIFY2(answer > 0 && sources > answer && sources < md.indexOf(QStringLiteral("And the KV cache?")), qPrintable(md));
    QVERIFY2(md.contains(QStringLiteral("[1] /docs/mla.pdf, page 4")) && md.contains(QStringLiteral("[2] /docs/notes.md")), qPrintable(md));
    QCOMPARE(md.count(QStringLiteral("*Sources:*")), 1); // answers without sources list none

    const QJsonArray messages = QJsonDocument::fromJson(::conversationToJson(c, rows)).object().value(QStringLiteral("messages")).toArray();
    QVERIFY(!messages[0].toObject().contains(QStringLiteral("sources")));
    const QJsonArray exported = messages[1].toObject().value(QStringLiteral("sources")).toArray();
    QCOMPARE(exported.size(), 2);
    const QJsonObject first = exported[0].toObject();
    QCOMPARE(first.value(QStringLiteral("path")).toString(), QStringLiteral("/docs/mla.pdf"));
    QCOMPARE(first.value(QStringLiteral("page")).toInt(), 4);
    QCOMPARE(first.value(QStringLiteral("start")).toInt(), 100);
    QCOMPARE(first.value(QStringLiteral("end")).toInt(), 160);
    QCOMPARE(first.value(QStringLiteral("text")).toString(), QStringLiteral("Latent vectors are cached."));
}

QTEST_GUILESS_MAIN(TestTextHelpers)
#include "test_text_helpers.moc"
