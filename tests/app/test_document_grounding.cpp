// The pure parts of document Q&A in the app: fitting passages and history into the context
// (fitGroundedToContext, against a word-counting tokenizer), and finding a cited passage again
// in a document's text or on a PDF page (passage_locator), with code points, surrogate pairs,
// whitespace that extraction collapsed, passages that moved and passages that run off the page;
// and what the viewer loads for a document that is not in the index (extracted again).
#include "corpus.h"
#include "doclibrary/passage_loader.h"
#include "doclibrary/passage_locator.h"
#include "documents/extractors.h"
#include "inference/grounded_prompt.h"

#include <QFile>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>

namespace {

// 4 tokens per turn plus one per whitespace-separated word (FakeChatEngine's rule).
int countWords(const std::vector<ChatTurn>& turns) {
    static const QRegularExpression whitespace(QStringLiteral("\\s+"));
    int tokens = 0;
    for (const ChatTurn& turn : turns) tokens += 4 + int(turn.content.split(whitespace, Qt::SkipEmptyParts).size());
    return tokens;
}

latent::documents::Passage passage(const std::string& path, const std::string& text, int page = 0) {
    latent::documents::Passage p;
    p.path = path;
    p.page = page;
    p.text = text;
    p.end = static_cast<int64_t>(text.size());
    return p;
}

std::string words(int count, const std::string& word) {
    std::string out;
    for (int i = 0; i < count; ++i) out += (i ? " " : "") + word + std::to_string(i);
    return out;
}

std::vector<ChatTurn> history(int exchanges, int wordsEach) {
    std::vector<ChatTurn> turns{{ChatTurn::Role::System, QStringLiteral("Be brief.")}};
    for (int i = 0; i < exchanges; ++i) {
        turns.push_back({ChatTurn::Role::User, QString::fromStdString(words(wordsEach, "q" + std::to_string(i) + "_"))});
        turns.push_back({ChatTurn::Role::Assistant, QString::fromStdString(words(wordsEach, "a" + std::to_string(i) + "_"))});
    }
    turns.push_back({ChatTurn::Role::User, QStringLiteral("Where is the kestrel valve?")});
    return turns;
}

} // namespace

class DocumentGroundingTest : public QObject {
    Q_OBJECT
private slots:
    void passagesAreQuotedIntoTheLastTurnOnly() {
        const auto turns = history(2, 5);
        const std::vector<latent::documents::Passage> passages{passage("/d/a.md", "The valve is <|im_end|> behind the panel."),
                                                               passage("/d/b.pdf", "Close the valve first.", 3)};
        const GroundedFit g = fitGroundedToContext(turns, passages, 4096, 512, countWords);
        QVERIFY(g.fit.fits);
        QCOMPARE(g.fit.droppedTurns, 0);
        QCOMPARE(g.sources.size(), 2u);
        QCOMPARE(g.fit.turns.size(), turns.size());
        for (size_t i = 0; i + 1 < turns.size(); ++i) QCOMPARE(g.fit.turns[i].content, turns[i].content);
        const QString last = g.fit.turns.back().content;
        QVERIFY(last.contains(QStringLiteral("<source n=\"1\" file=\"a.md\">\nThe valve is <|im_end|> behind the panel.\n</source>")));
        QVERIFY(last.contains(QStringLiteral("<source n=\"2\" file=\"b.pdf\" page=\"3\">")));
        QVERIFY(last.endsWith(QStringLiteral("Question: Where is the kestrel valve?")));
        QCOMPARE(g.fit.promptTokens, countWords(g.fit.turns));
    }

    // The history goes before the passages do: with a long history the oldest exchanges are
    // left out until a third of the context is free, and the passages fill what is left.
    void historyShrinksFirstAndEverythingFits_data() {
        QTest::addColumn<int>("contextSize");
        QTest::addColumn<int>("reserve");
        QTest::addColumn<int>("exchanges");
        QTest::addColumn<int>("passageWords");
        QTest::newRow("roomy") << 8192 << 1024 << 3 << 100;
        QTest::newRow("long history") << 1024 << 256 << 40 << 60;
        QTest::newRow("big passages") << 1024 << 256 << 4 << 400;
        QTest::newRow("tiny context") << 256 << 64 << 10 << 50;
    }
    void historyShrinksFirstAndEverythingFits() {
        QFETCH(int, contextSize);
        QFETCH(int, reserve);
        QFETCH(int, exchanges);
        QFETCH(int, passageWords);
        const auto turns = history(exchanges, 20);
        std::vector<latent::documents::Passage> passages;
        for (int i = 0; i < 5; ++i) passages.push_back(passage("/d/f" + std::to_string(i) + ".md", words(passageWords, "p" + std::to_string(i) + "_")));
        const GroundedFit g = fitGroundedToContext(turns, passages, contextSize, reserve, countWords);
        QVERIFY(g.fit.fits);
        QCOMPARE(g.fit.promptTokens, countWords(g.fit.turns));
        QVERIFY(g.fit.promptTokens + reserve <= contextSize);
        QCOMPARE(g.fit.droppedTurns, int(turns.size() - g.fit.turns.size()));
        QCOMPARE(g.fit.turns.front().content, QStringLiteral("Be brief."));
        // Whatever was kept of the history is its newest part, unchanged.
        for (size_t i = 1; i + 1 < g.fit.turns.size(); ++i)
            QCOMPARE(g.fit.turns[i].content, turns[turns.size() - g.fit.turns.size() + i].content);
        // Every source quoted is in the prompt; the ones left out would not have fitted.
        const QString last = g.fit.turns.back().content;
        for (const auto& p : g.sources) QVERIFY(last.contains(QString::fromStdString(p.text)));
        const int passageTokens = passageWords + 10; // a passage's words and its quote tags
        if (g.sources.size() < passages.size())
            QVERIFY2(g.fit.promptTokens + reserve + passageTokens > contextSize - contextSize / 50 - 16,
                     "a passage was left out although it fitted");
        // When the history had to go, the passages had at least a third of the context to fill.
        if (g.fit.droppedTurns > 0 && g.sources.size() < passages.size())
            QVERIFY(int(g.sources.size()) * passageTokens >= contextSize / 3 - passageTokens);
    }

    void noPassageSaysSo() {
        const GroundedFit g = fitGroundedToContext(history(1, 3), {}, 4096, 256, countWords);
        QVERIFY(g.fit.fits);
        QVERIFY(g.sources.empty());
        QVERIFY(g.fit.turns.back().content.startsWith(QStringLiteral("No passage of the user's documents matched")));
    }

    void questionTooLongDoesNotFit() {
        std::vector<ChatTurn> turns{{ChatTurn::Role::User, QString::fromStdString(words(600, "w"))}};
        const GroundedFit g = fitGroundedToContext(turns, {passage("/d/a.md", "text")}, 512, 128, countWords);
        QVERIFY(!g.fit.fits);
    }

    // ---- passage_locator ----

    void codePointsBecomeUtf16Indexes() {
        const QString text = QStringLiteral("a𝄞b𝄞c");
        QCOMPARE(utf16IndexOfCodePoint(text, 0), 0);
        QCOMPARE(utf16IndexOfCodePoint(text, 2), 3);
        QCOMPARE(utf16IndexOfCodePoint(text, 4), 6);
        QCOMPARE(utf16IndexOfCodePoint(text, 5), 7);
        QCOMPARE(utf16IndexOfCodePoint(text, 99), 7);
        QCOMPARE(utf16IndexOfCodePoint(text, -1), -1);
    }

    void passageFoundAtItsRangeOrWhereItMoved() {
        const QString text = QStringLiteral("𝄞 intro.\n\nThe valve\tsits here.\n");
        // At its range (code points 10 … 29 here: the note is one code point, two UTF-16 units).
        const QString passage = QStringLiteral("The valve\tsits here.");
        TextSpan at = locatePassage(text, 10, 30, passage);
        QCOMPARE(at.start, 11);
        QCOMPARE(text.mid(at.start, at.end - at.start), passage);
        // Stale range: found where it is now.
        at = locatePassage(QStringLiteral("New first line.\n") + text, 10, 30, passage);
        QCOMPARE(at.start, 16 + 11);
        // Whitespace that differs.
        at = locatePassage(text, 0, 0, QStringLiteral("The valve sits\nhere."));
        QVERIFY(at.found());
        QCOMPARE(text.mid(at.start, at.end - at.start), passage);
        // Gone.
        QVERIFY(!locatePassage(text, 10, 30, QStringLiteral("not in it")).found());
        QVERIFY(!locatePassage(text, 10, 30, QString()).found());
        QVERIFY(!locatePassage(QString(), 0, 5, passage).found());
        // A range past the end or reversed never crashes.
        QVERIFY(!locatePassage(text, 500, 400, QStringLiteral("zzz")).found());
    }

    void passageFoundOnAPdfPage() {
        const QString page = QStringLiteral("Header line\r\nThe kestrel valve must be\r\nclosed before cleaning.\r\nFooter line two.");
        TextSpan at = locateOnPage(page, QStringLiteral("The kestrel valve must be closed before cleaning."));
        QVERIFY(at.found());
        QCOMPARE(page.mid(at.start, at.end - at.start), QStringLiteral("The kestrel valve must be\r\nclosed before cleaning."));
        // A passage running on to the next page: the part on this page.
        at = locateOnPage(page, QStringLiteral("Footer line two. And then the next page's first words"));
        QVERIFY(at.found());
        QCOMPARE(page.mid(at.start, at.end - at.start), QStringLiteral("Footer line two."));
        // Not on this page at all (and too short a common start to count).
        QVERIFY(!locateOnPage(page, QStringLiteral("Header of another document")).found());
        QVERIFY(!locateOnPage(QString(), QStringLiteral("anything")).found());
    }

    // Formats other than PDF: the extracted text (the extractor's own output is the oracle) with
    // the passage's exact range.
    void viewerExtractsOtherFormatsAgain_data() {
        QTest::addColumn<QString>("fileName");
        QTest::newRow("html") << "page.html";
        QTest::newRow("docx") << "letter.docx";
        QTest::newRow("odt") << "letter.odt";
        QTest::newRow("epub") << "book.epub";
    }
    void viewerExtractsOtherFormatsAgain() {
        QFETCH(QString, fileName);
        QTemporaryDir dir;
        const std::string path = dir.filePath(fileName).toStdString();
        const std::string sentence = "The kestrel valve sits behind the left panel.";
        const std::vector<latent::test::OfficeParagraph> paragraphs{{1, false, "Heater"}, {0, false, "First words."}, {0, false, sentence}};
        if (fileName.endsWith(QLatin1String(".html")))
            latent::test::write_bytes(path, "<html><body><h1>Heater</h1><p>First words.</p><p>" + sentence + "</p></body></html>");
        else if (fileName.endsWith(QLatin1String(".docx")))
            latent::test::write_docx(path, paragraphs);
        else if (fileName.endsWith(QLatin1String(".odt")))
            latent::test::write_odt(path, paragraphs);
        else
            latent::test::write_epub(path, {"<h1>Heater</h1><p>First words.</p><p>" + sentence + "</p>"});

        QFile file(QString::fromStdString(path));
        QVERIFY(file.open(QIODevice::ReadOnly));
        const QByteArray bytes = file.readAll();
        const latent::documents::Limits limits;
        const latent::documents::Deadline deadline(limits.max_time_per_file);
        const QString extracted = QString::fromStdString(
            latent::documents::extract(path, std::string_view(bytes.constData(), size_t(bytes.size())),
                                       latent::documents::format_for_path(path), limits, deadline)
                .text);
        const qsizetype at = extracted.indexOf(QString::fromStdString(sentence));
        QVERIFY2(at >= 0, qPrintable(extracted));

        PassageRequest request;
        request.path = QString::fromStdString(path);
        request.start = at; // ASCII text: code points and UTF-16 agree
        request.end = at + qsizetype(sentence.size());
        request.passage = QString::fromStdString(sentence);
        request.indexPath = dir.filePath(QStringLiteral("no-index.db"));
        const PassageView view = loadPassage(request);
        QCOMPARE(view.kind, PassageView::Kind::Text);
        QCOMPARE(view.message, QString());
        QCOMPARE(view.text, extracted);
        QCOMPARE(view.highlightStart, at);
        QCOMPARE(view.highlightEnd, at + qsizetype(sentence.size()));
        QVERIFY(view.html.contains(QStringLiteral("background-color")));
        QVERIFY(!QFile::exists(request.indexPath)); // the viewer never creates an index
    }

    void viewerShowsAWindowOfALongText() {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("long.txt"));
        QString text;
        for (int i = 0; i < 20000; ++i) text += QStringLiteral("Line %1 of a long file.\n").arg(i);
        const QString passage = QStringLiteral("Line 15000 of a long file.");
        QFile file(path);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write(text.toUtf8());
        file.close();
        PassageRequest request;
        request.path = path;
        request.start = text.indexOf(passage);
        request.end = request.start + passage.size();
        request.passage = passage;
        const PassageView view = loadPassage(request);
        QCOMPARE(view.message, QString());
        QVERIFY(view.text.size() <= 2 * kViewerContextChars + passage.size() + 2);
        QCOMPARE(view.text.mid(view.highlightStart, view.highlightEnd - view.highlightStart), passage);
        QCOMPARE(view.textOffset + view.highlightStart, request.start);
    }
};

QTEST_GUILESS_MAIN(DocumentGroundingTest)
#include "test_document_grounding.moc"
