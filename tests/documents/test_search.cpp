// Search: ICU segmentation for CJK (北京 finds …北京大学…), phrases, prefixes, hostile query
// syntax; retrieval quality on a question set over a generated mixed-format corpus (recall@5
// printed and required); neighbouring chunks merged; results diversified across files.
#include "corpus.h"

#include "documents/indexer.h"
#include "documents/retriever.h"
#include "documents/segmenter.h"

#include <QTemporaryDir>
#include <QtTest>

#include <random>

using namespace latent;
using namespace latent::documents;

namespace {

struct Fact {
    const char* file;     // name in the corpus folder (its extension picks the format)
    const char* sentence; // what the document says
    const char* question; // how a user asks for it
};

// Each fact sits among filler paragraphs in a document of its own format.
const Fact kFacts[] = {
    {"pump-manual.md", "The Zephyr pump valve must be torqued to 45 newton metres during assembly.", "What torque does the Zephyr valve need?"},
    {"handbook.txt", "Employees accrue 2.5 days of paid vacation for every month worked.", "How many vacation days do employees accrue per month?"},
    {"ops.html", "The Atlas server backs up its database every night at 02:30 UTC.", "When does the Atlas server back up the database?"},
    {"botany.pdf", "Photosynthesis in the Kelvara fern peaks at a leaf temperature of 31 degrees Celsius.", "At what temperature does Kelvara fern photosynthesis peak?"},
    {"router-guide.docx", "To reset the Orion router, hold the recessed button for fifteen seconds.", "How do I reset the Orion router?"},
    {"lease.odt", "The lease terminates automatically if rent is more than sixty days overdue.", "When does the lease terminate if rent is overdue?"},
    {"history.epub", "Marrow Bridge was completed in 1887 and spans 412 metres across the Tern estuary.", "When was Marrow Bridge completed?"},
    {"config.py", "# parse_config returns an empty dict when the configuration file is missing.", "What does parse_config return when the file is missing?"},
    {"storage.md", "Quillon batteries should be stored between 15 and 25 degrees to preserve capacity.", "How should Quillon batteries be stored?"},
    {"network.txt", "The Brenner protocol retransmits lost packets after a timeout of 250 milliseconds.", "What is the timeout of the Brenner protocol?"},
    {"physics.txt", "量子计算机的冷却系统使用液氦。", "量子计算机用什么冷却"},
    {"japan.md", "富士山の高さは3776メートルです。", "富士山の高さ"},
    {"invoices.docx", "Invoices are payable within 30 days of receipt by bank transfer.", "How many days do we have to pay invoices?"},
    {"espresso.odt", "The Veltro espresso machine descaling cycle takes about 40 minutes.", "How long does Veltro descaling take?"},
    {"voyages.epub", "Captain Ilsa Varga commanded the research vessel Meridian from 1998 to 2004.", "Who commanded the vessel Meridian?"},
    {"baking.html", "A sourdough starter should be fed with equal weights of flour and water daily.", "How do I feed a sourdough starter?"},
    {"observatory.pdf", "The Halvorsen telescope primary mirror measures 8.2 metres in diameter.", "What is the diameter of the Halvorsen mirror?"},
    {"leaflet.pdf", "Patients taking Norvexil should avoid grapefruit juice.", "What should Norvexil patients avoid?"},
    {"chateau.txt", "Le château de Montrésor possède une bibliothèque de 12000 volumes.", "Combien de volumes dans la bibliothèque du château de Montrésor ?"},
    {"plant-report.txt", "The Ostrava plant produces 1200 tonnes of steel per week.", "How much steel does the Ostrava plant produce?"},
};

// Filler shares the facts' common words, so a question's ordinary words match many passages.
const char* const kFiller[] = {"the", "system", "valve", "server", "days", "temperature", "bridge", "protocol", "battery", "machine", "plant",
                               "report", "month", "water", "file", "return", "database", "router", "button", "rent", "leaf", "mirror",
                               "steel", "week", "metres", "cycle", "minutes", "degrees", "pay", "store", "reset", "night", "lost", "vessel"};

std::string filler_paragraph(std::mt19937& rng) {
    std::string p;
    const size_t n = 40 + rng() % 60;
    for (size_t i = 0; i < n; ++i) p += std::string(kFiller[rng() % std::size(kFiller)]) + (i + 1 == n ? "." : " ");
    p[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(p[0])));
    return p;
}

void write_document(const std::string& path, const std::vector<std::string>& paragraphs) {
    const std::string ext = path.substr(path.rfind('.'));
    if (ext == ".pdf") {
        std::vector<std::vector<std::string>> pages;
        for (const std::string& p : paragraphs) {
            std::vector<std::string> lines;
            for (size_t at = 0; at < p.size(); at += 90) lines.push_back(p.substr(at, 90));
            pages.push_back(lines);
        }
        test::write_bytes(path, test::make_pdf(pages));
    } else if (ext == ".docx" || ext == ".odt") {
        std::vector<test::OfficeParagraph> ps;
        for (const std::string& p : paragraphs) ps.push_back({0, false, p});
        (ext == ".docx" ? test::write_docx : test::write_odt)(path, ps);
    } else if (ext == ".epub") {
        std::vector<std::string> chapters;
        for (const std::string& p : paragraphs) chapters.push_back("<p>" + test::xml_escape(p) + "</p>");
        test::write_epub(path, chapters);
    } else if (ext == ".html") {
        std::string html = "<html><body>";
        for (const std::string& p : paragraphs) html += "<p>" + test::xml_escape(p) + "</p>\n";
        test::write_bytes(path, html + "</body></html>");
    } else {
        std::string text;
        for (const std::string& p : paragraphs) text += p + "\n\n";
        test::write_bytes(path, path.find("chateau") != std::string::npos ? test::latin1(text) : text);
    }
}

std::vector<Passage> find(Library& library, const std::string& query, size_t k = 5) {
    SearchOptions options;
    options.top_k = k;
    return search(library, query, options);
}

bool any_contains(const std::vector<Passage>& passages, const std::string& needle) {
    for (const Passage& p : passages) {
        if (p.text.find(needle) != std::string::npos) return true;
    }
    return false;
}

} // namespace

class TestSearch : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::unique_ptr<Library> library_;

    std::string folder(const char* name) {
        const std::string f = dir_.filePath(name).toStdString();
        std::filesystem::create_directories(f);
        return f;
    }

private slots:
    void initTestCase() {
        library_ = std::make_unique<Library>(dir_.filePath("index.db").toStdString());
        const int64_t collection = library_->ensure_collection("default");
        const std::string corpus = folder("corpus");
        std::mt19937 rng(test::fresh_seed("search corpus"));
        for (const Fact& f : kFacts) {
            std::vector<std::string> paragraphs;
            const size_t before = 2 + rng() % 4, after = 2 + rng() % 4;
            for (size_t i = 0; i < before; ++i) paragraphs.push_back(filler_paragraph(rng));
            paragraphs.push_back(f.sentence);
            for (size_t i = 0; i < after; ++i) paragraphs.push_back(filler_paragraph(rng));
            write_document(corpus + "/" + f.file, paragraphs);
        }
        for (int i = 0; i < 40; ++i) { // distractor files
            std::vector<std::string> paragraphs;
            for (int p = 0; p < 6; ++p) paragraphs.push_back(filler_paragraph(rng));
            write_document(corpus + "/filler" + std::to_string(i) + (i % 2 ? ".md" : ".txt"), paragraphs);
        }
        const std::string cjk = folder("cjk");
        test::write_bytes(cjk + "/zh.txt", "我在北京大学读书，学习计算机科学。");
        test::write_bytes(cjk + "/ja.txt", "東京都は日本の首都です。");
        test::write_bytes(cjk + "/ko.txt", "우리는 서울에서 만났습니다.");
        test::write_bytes(cjk + "/phrase1.txt", "The quick brown fox jumps over the lazy dog during extraction.");
        test::write_bytes(cjk + "/phrase2.txt", "A brown quick fox was seen.");
        const IndexReport report = index_paths(*library_, collection, {corpus, cjk}, IndexOptions{});
        QVERIFY2(report.failed.empty(), report.failed.empty() ? "" : (report.failed[0].path + ": " + report.failed[0].reason).c_str());
        QCOMPARE(report.indexed, std::size(kFacts) + 40 + 5);
    }

    void cjk_words_inside_longer_words() {
        const std::string terms = index_terms("我在北京大学读书");
        QVERIFY2(terms.find("北京 ") != std::string::npos, terms.c_str());
        QVERIFY(any_contains(find(*library_, "北京"), "北京大学"));
        QVERIFY(any_contains(find(*library_, "大学"), "北京大学"));
        QVERIFY(any_contains(find(*library_, "京"), "北京大学"));
        QVERIFY(any_contains(find(*library_, "北京大学"), "北京大学"));
        QVERIFY(any_contains(find(*library_, "東京"), "東京都"));
        QVERIFY(any_contains(find(*library_, "首都"), "東京都"));
        QVERIFY(any_contains(find(*library_, "서울"), "서울에서"));
        QVERIFY(find(*library_, "上海").empty());
    }

    void phrases_and_prefixes() {
        const std::vector<Passage> phrase = find(*library_, "\"quick brown\"");
        QCOMPARE(phrase.size(), size_t{1});
        QVERIFY(phrase[0].path.find("phrase1.txt") != std::string::npos);
        QCOMPARE(find(*library_, "\"brown quick\"").size(), size_t{1});
        QVERIFY(any_contains(find(*library_, "extrac*"), "during extraction"));
        QVERIFY(!any_contains(find(*library_, "extrac"), "during extraction")); // no prefix without the star
        QVERIFY(any_contains(find(*library_, "Zephyr"), "Zephyr pump valve")); // case folded
    }

    void hostile_queries() {
        for (const char* q : {"", "\"", "\"\"", "AND", "OR NOT", "NEAR(a b)", "body:zephyr", "*", "-", ")))", "((", "a\"b", "^zephyr", "'; DROP TABLE chunks; --",
                              "zephyr\"", "\xFF\xFE broken utf8", "     "}) {
            try {
                find(*library_, q);
            } catch (const std::exception& e) {
                QFAIL((std::string("query '") + q + "' threw: " + e.what()).c_str());
            }
        }
        QVERIFY(find(*library_, "'; DROP TABLE chunks; --").size() <= 5);
        QVERIFY(library_->chunk_count() > 0);
    }

    void question_set_recall_at_5() {
        size_t hits = 0;
        QStringList missed;
        for (const Fact& f : kFacts) {
            const std::vector<Passage> top = find(*library_, f.question, 5);
            std::string marker = f.sentence;
            marker = marker.substr(0, std::min<size_t>(marker.size(), 24));
            if (any_contains(top, marker)) ++hits;
            else missed << f.question;
        }
        const double recall = static_cast<double>(hits) / static_cast<double>(std::size(kFacts));
        qInfo("recall@5 = %.2f (%zu of %zu questions)%s%s", recall, hits, std::size(kFacts), missed.isEmpty() ? "" : "; missed: ",
              qPrintable(missed.join(" | ")));
        QVERIFY(recall >= 0.9);
    }

    void passages_are_exact_ranges() {
        for (const Fact& f : kFacts) {
            for (const Passage& p : find(*library_, f.question, 5)) {
                const std::string text = library_->document_text(p.document_id);
                QCOMPARE(QString::fromStdString(p.text), QString::fromStdString(test::code_point_slice(text, p.start, p.end)));
                QVERIFY(p.path.front() == '/');
                QVERIFY(p.score > 0);
                QCOMPARE(p.page > 0, p.path.size() > 4 && p.path.substr(p.path.size() - 4) == ".pdf");
            }
        }
    }

    void neighbours_merge() {
        QTemporaryDir dir;
        Library library(dir.filePath("m.db").toStdString());
        const int64_t collection = library.ensure_collection("m");
        const std::string file = dir.filePath("long.md").toStdString();
        std::mt19937 rng(1);
        // "glimmerfox" ends one chunk and starts the next; the passage returned spans both.
        test::write_bytes(file, filler_paragraph(rng) + "\n\n" + std::string(700, 'q') + " glimmerfox\n\nglimmerfox " + std::string(1000, 'z') + "\n\n" +
                                    filler_paragraph(rng) + "\n");
        index_paths(library, collection, {file}, IndexOptions{});
        const std::vector<StoredChunk> chunks = library.chunks(library.documents().front().id);
        QVERIFY(chunks.size() >= 2);
        const std::vector<Passage> found = find(library, "glimmerfox");
        QCOMPARE(found.size(), size_t{1});
        QVERIFY(found[0].text.find("q glimmerfox") != std::string::npos && found[0].text.find("glimmerfox z") != std::string::npos);
        QCOMPARE(QString::fromStdString(found[0].text), QString::fromStdString(test::code_point_slice(library.document_text(found[0].document_id), found[0].start, found[0].end)));
    }

    void results_diversified_across_files() {
        QTemporaryDir dir;
        Library library(dir.filePath("d.db").toStdString());
        const int64_t collection = library.ensure_collection("d");
        std::mt19937 rng(2);
        std::string many;
        // Eight strong passages in one file, kept apart by long blocks (so they never merge).
        for (int i = 0; i < 8; ++i) many += "zanthor zanthor zanthor marker" + std::to_string(i) + "\n\n" + std::string(1700, 'w') + "\n\n";
        test::write_bytes(dir.filePath("many.md").toStdString(), many);
        test::write_bytes(dir.filePath("other.md").toStdString(), "zanthor zanthor appears here in other.\n");
        index_paths(library, collection, {dir.path().toStdString()}, IndexOptions{});
        SearchOptions options;
        options.top_k = 3;
        QVERIFY(any_contains(search(library, "zanthor", options), "appears here in other"));
        options.same_file_decay = 1.0; // without diversification one file takes every place
        QVERIFY(!any_contains(search(library, "zanthor", options), "appears here in other"));
    }
};

QTEST_GUILESS_MAIN(TestSearch)
#include "test_search.moc"
