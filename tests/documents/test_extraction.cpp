// Extraction of every supported format from generated files, and every hostile file the
// limits guard against: each ends with a clear per-file reason, never a crash or a hang.
#include "corpus.h"
#include "test_support.h"

#include "documents/extractors.h"
#include "documents/text_decode.h"

#include <QTemporaryDir>
#include <QtTest>

#include <chrono>
#include <fstream>
#include <random>

using namespace latent;
using namespace latent::documents;

namespace {

const Limits kLimits;

ExtractedDocument extract_file(const std::string& path, const Limits& limits = kLimits) {
    std::ifstream in(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const Deadline deadline(limits.max_time_per_file);
    return extract(path, bytes, format_for_path(path), limits, deadline);
}

// The reason a file is refused with (and whether skipped), or "" when it extracts.
std::pair<std::string, bool> refusal(const std::string& path, const Limits& limits = kLimits) {
    try {
        extract_file(path, limits);
        return {"", false};
    } catch (const DocumentError& e) {
        return {e.what(), e.kind() == DocumentError::Kind::Skipped};
    }
}

std::string block_text(const ExtractedDocument& d, const Block& b) { return d.text.substr(b.begin, b.end - b.begin); }

const Block* find_block(const ExtractedDocument& d, BlockKind kind, const std::string& needle) {
    for (const Block& b : d.blocks) {
        if (b.kind == kind && block_text(d, b).find(needle) != std::string::npos) return &b;
    }
    return nullptr;
}

// Every block is inside the text, in order, non-overlapping and starts/ends on visible text.
void check_blocks(const ExtractedDocument& d) {
    size_t previous_end = 0;
    for (const Block& b : d.blocks) {
        QVERIFY(b.begin < b.end);
        QVERIFY(b.end <= d.text.size());
        QVERIFY(b.begin >= previous_end);
        previous_end = b.end;
    }
}

} // namespace

class TestExtraction : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::string path(const char* name) { return dir_.filePath(name).toStdString(); }

private slots:
    void text_encodings_data() {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<QString>("expected");
        const std::string text = "Crème brûlée, naïve café — 北京 “quotes” 😀";
        QTest::newRow("utf-8") << QByteArray::fromStdString(text) << QString::fromStdString(text);
        QTest::newRow("utf-8 bom") << QByteArray::fromStdString("\xEF\xBB\xBF" + text) << QString::fromStdString(text);
        QTest::newRow("utf-16le bom") << QByteArray::fromStdString(test::utf16_with_bom(text, true)) << QString::fromStdString(text);
        QTest::newRow("utf-16be bom") << QByteArray::fromStdString(test::utf16_with_bom(text, false)) << QString::fromStdString(text);
        const std::string western = "Le garçon a mangé une crêpe à Noël. Größe, Fußball, señor.";
        QTest::newRow("latin-1") << QByteArray::fromStdString(test::latin1(western)) << QString::fromStdString(western);
        // Windows-1252: € (0x80), curly quotes (0x93, 0x94), em dash (0x97).
        QTest::newRow("windows-1252") << QByteArray("Price \x80 5 \x93quoted\x94 \x97 d\xE9j\xE0 vu, caf\xE9 cr\xE8me") << QString::fromUtf8("Price € 5 “quoted” — déjà vu, café crème");
        QTest::newRow("crlf") << QByteArray("line one\r\nline two\rline three") << QString("line one\nline two\nline three");
    }
    void text_encodings() {
        QFETCH(QByteArray, bytes);
        QFETCH(QString, expected);
        const std::string file = path("enc.txt");
        test::write_bytes(file, bytes.toStdString());
        const ExtractedDocument d = extract_file(file);
        QCOMPARE(QString::fromStdString(d.text), expected);
        QCOMPARE(d.format, std::string("text"));
    }

    void plain_paragraphs_and_code() {
        const std::string file = path("notes.txt");
        test::write_bytes(file, "First paragraph\nstill first.\n\n\nSecond paragraph.\n");
        const ExtractedDocument d = extract_file(file);
        QCOMPARE(d.blocks.size(), size_t{2});
        QCOMPARE(block_text(d, d.blocks[0]), std::string("First paragraph\nstill first."));
        QCOMPARE(block_text(d, d.blocks[1]), std::string("Second paragraph."));
        const std::string code = path("main.cpp");
        test::write_bytes(code, "int main() {\n    return 0;\n}\n\nvoid f() {}\n");
        const ExtractedDocument c = extract_file(code);
        QCOMPARE(c.format, std::string("code"));
        QCOMPARE(c.blocks.size(), size_t{2});
        QVERIFY(c.blocks[0].kind == BlockKind::Code);
        check_blocks(c);
    }

    void markdown_structure() {
        const std::string file = path("guide.md");
        test::write_bytes(file, "# Guide\n\nIntro text.\n\nSetext Title\n------------\n\n- item one\n- item two\n  continued\n\n```sh\n# not a heading\nmake\n```\n\n### Deep\nBody.\n");
        const ExtractedDocument d = extract_file(file);
        check_blocks(d);
        QCOMPARE(d.format, std::string("markdown"));
        const Block* h1 = find_block(d, BlockKind::Heading, "# Guide");
        QVERIFY(h1 && h1->level == 1);
        const Block* setext = find_block(d, BlockKind::Heading, "Setext Title");
        QVERIFY(setext && setext->level == 2);
        QVERIFY(find_block(d, BlockKind::ListItem, "item one"));
        const Block* item2 = find_block(d, BlockKind::ListItem, "item two");
        QVERIFY(item2 && block_text(d, *item2).find("continued") != std::string::npos);
        const Block* code = find_block(d, BlockKind::Code, "# not a heading");
        QVERIFY(code);
        QVERIFY(!find_block(d, BlockKind::Heading, "not a heading"));
        const Block* deep = find_block(d, BlockKind::Heading, "Deep");
        QVERIFY(deep && deep->level == 3);
        // Markdown's extracted text is the file itself: ranges are places in the file.
        QCOMPARE(d.text, test::read_text_file(file));
    }

    void html_structure() {
        const std::string file = path("page.html");
        test::write_bytes(file, "<!DOCTYPE html><html><head><title>Page Title</title><style>p{color:red}</style><script>var x = '<p>no</p>';</script></head>"
                                "<body><!-- a comment --><h2>Section &amp; More</h2><p>Para <b>bold</b> text&nbsp;here &#233;t&#xE9; &unknown;</p>"
                                "<ul><li>first</li><li>second</li></ul><pre>  keep   spaces\n  here</pre><p>a<br>b</p></body></html>");
        const ExtractedDocument d = extract_file(file);
        check_blocks(d);
        QVERIFY(find_block(d, BlockKind::Heading, "Page Title"));
        const Block* h2 = find_block(d, BlockKind::Heading, "Section & More");
        QVERIFY(h2 && h2->level == 2);
        QVERIFY(find_block(d, BlockKind::Paragraph, "Para bold text here été &unknown;"));
        QVERIFY(find_block(d, BlockKind::ListItem, "first"));
        QVERIFY(find_block(d, BlockKind::ListItem, "second"));
        QVERIFY(find_block(d, BlockKind::Code, "  keep   spaces\n  here"));
        QVERIFY(find_block(d, BlockKind::Paragraph, "a\nb"));
        QVERIFY(d.text.find("color") == std::string::npos);
        QVERIFY(d.text.find("no") == std::string::npos || d.text.find("'<p>no") == std::string::npos);
        QVERIFY(d.text.find("var x") == std::string::npos);
        QVERIFY(d.text.find("comment") == std::string::npos);
    }

    void pdf_pages() {
        const std::string file = path("paper.pdf");
        test::write_bytes(file, test::make_pdf({{"Page one says hello (really)."}, {"Second page: the answer is 42."}, {"Third page."}}));
        const ExtractedDocument d = extract_file(file);
        QCOMPARE(d.format, std::string("pdf"));
        QCOMPARE(d.pages, 3);
        const Block* two = find_block(d, BlockKind::Paragraph, "the answer is 42");
        QVERIFY2(two, d.text.c_str());
        QCOMPARE(two->page, 2);
        QCOMPARE(find_block(d, BlockKind::Paragraph, "Page one says hello (really).")->page, 1);
        QCOMPARE(find_block(d, BlockKind::Paragraph, "Third page")->page, 3);
        check_blocks(d);
    }

    void docx_odt_epub() {
        const std::vector<test::OfficeParagraph> paragraphs = {
            {1, false, "Quarterly Report"}, {0, false, "Revenue grew by 12 percent & costs fell."}, {2, false, "Risks"},
            {0, true, "Supply chain delays"}, {0, true, "Currency <volatility>"}};
        const std::string docx = path("report.docx"), odt = path("report.odt");
        test::write_docx(docx, paragraphs);
        test::write_odt(odt, paragraphs);
        for (const std::string& file : {docx, odt}) {
            const ExtractedDocument d = extract_file(file);
            check_blocks(d);
            const Block* h = find_block(d, BlockKind::Heading, "Quarterly Report");
            QVERIFY2(h && h->level == 1, file.c_str());
            QVERIFY(find_block(d, BlockKind::Heading, "Risks")->level == 2);
            QVERIFY(find_block(d, BlockKind::Paragraph, "Revenue grew by 12 percent & costs fell."));
            QVERIFY(find_block(d, BlockKind::ListItem, "Supply chain delays"));
            QVERIFY(find_block(d, BlockKind::ListItem, "Currency <volatility>"));
        }
        const std::string epub = path("book.epub");
        test::write_epub(epub, {"<h1>Chapter One</h1><p>It was a dark night.</p>", "<h1>Chapter Two</h1><p>The morning came.</p>"});
        const ExtractedDocument e = extract_file(epub);
        QCOMPARE(e.format, std::string("epub"));
        const size_t one = e.text.find("Chapter One"), two = e.text.find("Chapter Two");
        QVERIFY2(one != std::string::npos && two != std::string::npos && one < two, e.text.c_str()); // spine order, not manifest order
        QVERIFY(find_block(e, BlockKind::Paragraph, "The morning came."));
    }

    void hostile_files_data() {
        QTest::addColumn<QString>("name");
        QTest::addColumn<QString>("reason");
        QTest::addColumn<bool>("skipped");
        QTest::newRow("NUL bytes in .txt") << "nul.txt" << "binary file" << true;
        QTest::newRow("random bytes as .md") << "random.md" << "binary file" << true;
        QTest::newRow("unsupported type") << "image.png" << "unsupported file type" << true;
        QTest::newRow("garbage .pdf") << "garbage.pdf" << "not a valid PDF" << false;
        QTest::newRow("truncated .pdf") << "truncated.pdf" << "" << false; // PDFium may repair it or refuse it: both are fine
        QTest::newRow("scanned .pdf") << "scan.pdf" << "no text layer (scanned?)" << false;
        QTest::newRow("too many pages") << "pages.pdf" << "more than 3 pages" << false;
        QTest::newRow("not a zip .docx") << "notzip.docx" << "not a valid zip archive" << false;
        QTest::newRow("docx without document.xml") << "empty.docx" << "archive member 'word/document.xml' is missing" << false;
        QTest::newRow("malformed XML") << "broken.docx" << "malformed XML in word/document.xml" << false;
        QTest::newRow("zip bomb") << "bomb.docx" << "decompressed size over 1 MiB (zip bomb?)" << false;
        QTest::newRow("deep XML") << "deep.odt" << "XML nesting deeper than 256 elements" << false;
        QTest::newRow("entity expansion") << "laughs.docx" << "malformed XML" << false;
        QTest::newRow("deep HTML") << "deep.html" << "HTML nesting deeper than 256 elements" << false;
        QTest::newRow("long line") << "minified.js" << "a line longer than 1048576 bytes" << false;
        QTest::newRow("extracted text limit") << "huge.txt" << "extracted text over 2 MiB" << false;
        QTest::newRow("epub escaping the archive") << "escape.epub" << "EPUB chapter '../../../etc/passwd' is missing" << false;
    }
    void hostile_files() {
        QFETCH(QString, name);
        QFETCH(QString, reason);
        QFETCH(bool, skipped);
        const std::string file = path(name.toUtf8().constData());
        Limits limits;
        std::mt19937 rng(7);
        if (name == "nul.txt") test::write_bytes(file, std::string("text\0with\0nul", 13));
        if (name == "random.md") {
            std::string bytes(4096, '\0');
            for (char& c : bytes) c = static_cast<char>(rng() % 256);
            bytes[0] = 'x'; // no BOM by accident
            for (char& c : bytes) if (c == 0) c = 1;
            test::write_bytes(file, bytes);
        }
        if (name == "image.png") test::write_bytes(file, "\x89PNG\r\n");
        if (name == "garbage.pdf") test::write_bytes(file, "%PDF-1.4 this is not really a pdf");
        if (name == "truncated.pdf") test::write_bytes(file, test::make_pdf({{"Some text here"}}).substr(0, 200));
        if (name == "scan.pdf") test::write_bytes(file, test::make_pdf({{}, {}}));
        if (name == "pages.pdf") {
            test::write_bytes(file, test::make_pdf({{"1"}, {"2"}, {"3"}, {"4"}, {"5"}}));
            limits.max_pages = 3;
        }
        if (name == "notzip.docx") test::write_bytes(file, "PK but not a zip at all");
        if (name == "empty.docx") test::write_zip(file, {{"other.xml", "<a/>"}});
        if (name == "broken.docx") test::write_zip(file, {{"word/document.xml", "<w:document><w:body><w:p><w:t>unclosed</w:body>"}});
        if (name == "bomb.docx") {
            test::write_zip(file, {{"word/document.xml", "<w:document xmlns:w=\"w\"><w:body><w:p><w:t>" + std::string(size_t{8} << 20, ' ') + "</w:t></w:p></w:body></w:document>"}});
            limits.max_entry_bytes = uint64_t{1} << 20;
        }
        if (name == "deep.odt") {
            std::string xml = "<office:document-content xmlns:office=\"o\" xmlns:text=\"t\">";
            for (int i = 0; i < 100000; ++i) xml += "<text:span>";
            test::write_zip(file, {{"content.xml", xml}});
        }
        if (name == "laughs.docx") {
            std::string dtd = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lololololol\">";
            std::string prev = "lol";
            for (int i = 1; i < 12; ++i) {
                const std::string ent = "lol" + std::to_string(i);
                dtd += "<!ENTITY " + ent + " \"";
                for (int k = 0; k < 10; ++k) dtd += "&" + prev + ";";
                dtd += "\">";
                prev = ent;
            }
            dtd += "]><w:document xmlns:w=\"w\"><w:body><w:p><w:t>&" + prev + ";</w:t></w:p></w:body></w:document>";
            test::write_zip(file, {{"word/document.xml", dtd}});
        }
        if (name == "deep.html") {
            std::string html;
            for (int i = 0; i < 100000; ++i) html += "<div>";
            test::write_bytes(file, html + "deep");
        }
        if (name == "minified.js") test::write_bytes(file, "var a=1;" + std::string((size_t{1} << 20) + 10, 'x'));
        if (name == "huge.txt") {
            std::string text;
            while (text.size() < (size_t{3} << 20)) text += "All work and no play makes a dull index.\n";
            test::write_bytes(file, text);
            limits.max_text_bytes = uint64_t{2} << 20;
        }
        if (name == "escape.epub") {
            test::write_zip(file, {{"META-INF/container.xml", "<container><rootfiles><rootfile full-path=\"content.opf\"/></rootfiles></container>"},
                                   {"content.opf", "<package><manifest><item id=\"a\" href=\"../../../etc/passwd\"/></manifest><spine><itemref idref=\"a\"/></spine></package>"}});
        }
        const auto start = std::chrono::steady_clock::now();
        const auto [why, was_skipped] = refusal(file, limits);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        QVERIFY2(seconds < 20, "a hostile file must not take long");
        if (name == "truncated.pdf") return; // either outcome, but no crash or hang
        QVERIFY2(QString::fromStdString(why).contains(reason), why.c_str());
        QCOMPARE(was_skipped, skipped);
    }

    void time_limit_per_file() {
        const std::string file = path("slow.html");
        std::string html;
        for (int i = 0; i < 200000; ++i) html += "<p>paragraph " + std::to_string(i) + "</p>";
        test::write_bytes(file, html);
        Limits limits;
        limits.max_time_per_file = std::chrono::milliseconds(1);
        const auto [why, skipped] = refusal(file, limits);
        QVERIFY2(why.find("took longer than 1 ms (time limit per file)") != std::string::npos, why.c_str());
        QVERIFY(!skipped);
    }
};

QTEST_GUILESS_MAIN(TestExtraction)
#include "test_extraction.moc"
