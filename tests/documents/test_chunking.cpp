// Chunking on random structured documents against slow reference checks: every chunk is an
// exact, trimmed, code-point-aligned range of the extracted text; together the chunks cover
// every visible character of every block; no chunk crosses a page; sizes stay bounded; each
// chunk's heading path is that of the headings above it. Then the same through the library:
// a stored chunk's text equals the document text at its code point range.
#include "corpus.h"
#include "test_support.h"

#include "documents/chunker.h"
#include "documents/extractors.h"
#include "documents/indexer.h"
#include "documents/library.h"
#include "documents/utf8.h"

#include <QTemporaryDir>
#include <QtTest>

#include <random>

using namespace latent;
using namespace latent::documents;

namespace {

const char* const kWords[] = {"alpha", "beta", "gamma", "delta", "valve", "north", "índice", "naïve", "größe", "data", "x", "model", "😀", "token"};
const char* const kCjk[] = {"北", "京", "大", "学", "東", "語", "한", "국", "の", "は"};

std::string random_words(std::mt19937& rng, size_t n) {
    std::string out;
    for (size_t i = 0; i < n; ++i) {
        if (rng() % 9 == 0) {
            for (int k = 0; k < 30; ++k) out += kCjk[rng() % std::size(kCjk)]; // a run without spaces
        } else {
            out += kWords[rng() % std::size(kWords)];
        }
        out += rng() % 13 == 0 ? "\n" : " ";
    }
    return out;
}

std::string random_markdown(std::mt19937& rng) {
    std::string md;
    const size_t blocks = 5 + rng() % 40;
    for (size_t b = 0; b < blocks; ++b) {
        switch (rng() % 6) {
        case 0: md += std::string(1 + rng() % 4, '#') + " " + random_words(rng, 1 + rng() % 4) + "\n\n"; break;
        case 1: md += "- " + random_words(rng, 3 + rng() % 20) + "\n- " + random_words(rng, 3) + "\n\n"; break;
        case 2: md += "```\ncode line " + random_words(rng, 5) + "\n\n    more code\n```\n\n"; break;
        case 3: md += random_words(rng, 400 + rng() % 800) + "\n\n"; break; // longer than max: windows
        default: md += random_words(rng, 5 + rng() % 120) + "\n\n"; break;
        }
    }
    return md;
}

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\f' || c == '\v'; }

// The reference heading path at byte `pos`: the headings before it, each closing deeper ones.
std::string reference_path(const ExtractedDocument& d, size_t pos) {
    std::vector<std::pair<int, std::string>> stack;
    for (const Block& b : d.blocks) {
        if (b.begin > pos) break;
        if (b.kind != BlockKind::Heading) continue;
        while (!stack.empty() && stack.back().first >= b.level) stack.pop_back();
        std::string title;
        for (const char c : d.text.substr(b.begin, b.end - b.begin)) {
            if (c == '#' && title.empty()) continue;
            title += c;
        }
        const size_t first = title.find_first_not_of(" \n");
        title = first == std::string::npos ? "" : title.substr(first);
        std::string collapsed;
        for (const char c : title) {
            if (is_space(c)) {
                if (!collapsed.empty() && collapsed.back() != ' ') collapsed += ' ';
            } else {
                collapsed += c;
            }
        }
        while (!collapsed.empty() && collapsed.back() == ' ') collapsed.pop_back();
        if (collapsed.size() > 200) { // titles are cut at 200 bytes, on a character boundary
            size_t cut = 200;
            while ((static_cast<unsigned char>(collapsed[cut]) & 0xC0) == 0x80) --cut;
            collapsed.resize(cut);
        }
        stack.emplace_back(b.level, collapsed);
    }
    std::string path;
    for (const auto& [level, title] : stack) path += (path.empty() ? "" : " > ") + title;
    return path;
}

void check_chunks(const ExtractedDocument& d, const std::vector<Chunk>& chunks, const ChunkOptions& options) {
    std::vector<bool> covered(d.text.size(), false);
    size_t previous_begin = 0;
    for (const Chunk& c : chunks) {
        QVERIFY(c.begin < c.end && c.end <= d.text.size());
        QVERIFY(c.begin >= previous_begin);
        previous_begin = c.begin;
        const std::string text = d.text.substr(c.begin, c.end - c.begin);
        QVERIFY2(is_valid_utf8(text), "a chunk boundary splits a character");
        QVERIFY(!is_space(text.front()) && !is_space(text.back()));
        QVERIFY2(text.size() <= options.max_bytes + options.overlap_bytes, std::to_string(text.size()).c_str());
        for (size_t i = c.begin; i < c.end; ++i) covered[i] = true;
        // One page per chunk: the blocks it touches share the chunk's page.
        for (const Block& b : d.blocks) {
            if (b.end > c.begin && b.begin < c.end) QCOMPARE(b.page, c.page);
        }
        if (d.format == "markdown") QCOMPARE(QString::fromStdString(c.heading_path), QString::fromStdString(reference_path(d, c.begin)));
    }
    for (const Block& b : d.blocks) {
        for (size_t i = b.begin; i < b.end; ++i) {
            if (!is_space(d.text[i]) && !covered[i]) QFAIL(("byte " + std::to_string(i) + " of a block is in no chunk").c_str());
        }
    }
}

} // namespace

class TestChunking : public QObject {
    Q_OBJECT

private slots:
    void random_markdown_documents() {
        std::mt19937 rng(test::fresh_seed("chunking"));
        const Limits limits;
        for (int round = 0; round < 60; ++round) {
            const std::string md = random_markdown(rng);
            const Deadline deadline(limits.max_time_per_file);
            const ExtractedDocument d = extract_plain(md, "markdown", limits, deadline);
            ChunkOptions options;
            if (round % 3 == 1) options = ChunkOptions{300, 400, 80};
            const std::vector<Chunk> chunks = chunk_document(d, options, deadline);
            check_chunks(d, chunks, options);
            if (QTest::currentTestFailed()) return;
        }
    }

    void pages_never_share_a_chunk() {
        const Limits limits;
        const Deadline deadline(limits.max_time_per_file);
        TextBuilder builder(limits, deadline);
        std::mt19937 rng(test::fresh_seed("chunking pages"));
        for (int page = 1; page <= 6; ++page) {
            for (int p = 0; p < 3; ++p) {
                builder.begin_block(BlockKind::Paragraph, 0, page);
                builder.append(random_words(rng, 10 + rng() % 300));
                builder.end_block();
            }
        }
        const ExtractedDocument d = builder.finish("pdf", 6);
        const ChunkOptions options;
        const std::vector<Chunk> chunks = chunk_document(d, options, deadline);
        check_chunks(d, chunks, options);
        int last_page = 0;
        for (const Chunk& c : chunks) {
            QVERIFY(c.page >= last_page && c.page >= 1 && c.page <= 6);
            last_page = c.page;
        }
        QCOMPARE(last_page, 6);
    }

    void heading_paths_and_overlap() {
        std::string md = "# Manual\n\nIntro.\n\n## Install\n\n### Linux\n\nRun the installer.\n\n## Use\n\n";
        for (int i = 0; i < 30; ++i) md += "- item " + std::to_string(100 + i) + " " + std::string(90, 'x') + "\n";
        const Limits limits;
        const Deadline deadline(limits.max_time_per_file);
        const ExtractedDocument d = extract_plain(md, "markdown", limits, deadline);
        const std::vector<Chunk> chunks = chunk_document(d, ChunkOptions{}, deadline);
        std::vector<std::string> paths;
        for (const Chunk& c : chunks) paths.push_back(c.heading_path);
        QVERIFY(std::find(paths.begin(), paths.end(), "Manual") != paths.end());
        QVERIFY(std::find(paths.begin(), paths.end(), "Manual > Install > Linux") != paths.end());
        QCOMPARE(paths.back(), std::string("Manual > Use"));
        // Short list items: each chunk after the first of a section repeats the previous
        // chunk's last item, so every item is found whole and a few are found twice.
        int twice = 0;
        for (int i = 0; i < 30; ++i) {
            int containing = 0;
            for (const Chunk& c : chunks) containing += d.text.substr(c.begin, c.end - c.begin).find("item " + std::to_string(100 + i)) != std::string::npos;
            QVERIFY(containing >= 1 && containing <= 2);
            twice += containing == 2;
        }
        QVERIFY(twice >= 1);
        check_chunks(d, chunks, ChunkOptions{});
    }

    void stored_ranges_are_code_points() {
        QTemporaryDir dir;
        const std::string folder = dir.filePath("docs").toStdString();
        std::filesystem::create_directories(folder);
        std::mt19937 rng(test::fresh_seed("chunking store"));
        for (int i = 0; i < 8; ++i) test::write_bytes(folder + "/doc" + std::to_string(i) + ".md", random_markdown(rng));
        Library library(dir.filePath("index.db").toStdString());
        const int64_t collection = library.ensure_collection("default");
        const IndexReport report = index_paths(library, collection, {folder}, IndexOptions{});
        QCOMPARE(report.indexed, size_t{8});
        size_t checked = 0;
        for (const DocumentInfo& doc : library.documents()) {
            const std::string text = library.document_text(doc.id);
            QCOMPARE(text, test::read_text_file(doc.path)); // Markdown: the file itself
            for (const StoredChunk& c : library.chunks(doc.id)) {
                QCOMPARE(QString::fromStdString(c.text), QString::fromStdString(test::code_point_slice(text, c.start, c.end)));
                QCOMPARE(QString::fromStdString(library.text_range(doc.id, c.start, c.end)), QString::fromStdString(c.text));
                ++checked;
            }
        }
        QVERIFY(checked > 8);
    }
};

QTEST_GUILESS_MAIN(TestChunking)
#include "test_chunking.moc"
