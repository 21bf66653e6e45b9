// Ranking: latent_bm25 (ranking.h) against FTS5's bm25(): equal while every phrase's matches
// fit in its sample, the same order for a one-phrase query when they do not, and a sampled IDF
// close to the exact one. Queries made only of common words take the bounded path: its scores
// are exact BM25, it reads only the first matches in index order (a chunk indexed after them is
// not seen, a rarer word finds it), and it honours a collection filter.
#include "corpus.h"

#include "documents/library.h"
#include "documents/retriever.h"
#include "documents/segmenter.h"

#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <random>

using namespace latent;
using namespace latent::documents;

namespace {

// Stores a document of the given chunks directly (no file, no extraction).
void store_document(Library& library, int64_t collection, const std::string& path, const std::vector<std::string>& texts) {
    ExtractedDocument doc;
    doc.format = "text";
    std::vector<Chunk> chunks;
    std::vector<std::string> terms;
    for (const std::string& t : texts) {
        const size_t begin = doc.text.size();
        doc.text += t;
        chunks.push_back({begin, doc.text.size(), 0, ""});
        terms.push_back(index_terms(t));
        doc.text += "\n\n";
    }
    library.store_indexed(collection, path, FileFacts{doc.text.size(), 0, "x"}, doc, chunks, terms, "doc");
}

// A chunk: "alder" 1–4 times (every chunk), "birch" 1–3 times in 70% of them, "cedar" in 10%,
// among 20–60 filler words.
std::string random_chunk(std::mt19937& rng) {
    std::vector<std::string> words;
    for (int i = 1 + static_cast<int>(rng() % 4); i > 0; --i) words.push_back("alder");
    if (rng() % 10 < 7) {
        for (int i = 1 + static_cast<int>(rng() % 3); i > 0; --i) words.push_back("birch");
    }
    if (rng() % 10 == 0) words.push_back("cedar");
    for (int i = 20 + static_cast<int>(rng() % 40); i > 0; --i) words.push_back("filler" + std::to_string(rng() % 500));
    std::shuffle(words.begin(), words.end(), rng);
    std::string text;
    for (const std::string& w : words) text += (text.empty() ? "" : " ") + w;
    return text + ".";
}

int64_t max_rowid(Library& library) {
    Statement s(library.handle(), "SELECT max(rowid) FROM chunks");
    s.step();
    const int64_t n = s.integer(0);
    s.reset();
    return n;
}

struct Scored {
    int64_t rowid;
    double bm25;   // -bm25(): higher is better
    double latent; // latent_bm25
};

std::vector<Scored> score_both(Library& library, const std::string& match, int64_t sample_rows) {
    Statement s(library.handle(), "SELECT rowid, bm25(chunk_fts), latent_bm25(chunk_fts, ?2, ?3) FROM chunk_fts WHERE chunk_fts MATCH ?1");
    s.bind(1, match).bind(2, max_rowid(library)).bind(3, sample_rows);
    std::vector<Scored> out;
    while (s.step()) out.push_back({s.integer(0), -s.real(1), s.real(2)});
    return out;
}

bool close(double a, double b) { return std::abs(a - b) <= 1e-9 * std::max(std::abs(a), std::abs(b)) + 1e-15; }

constexpr int kDocuments = 60, kChunksPerDocument = 100; // 6,000 chunks in "main"
constexpr int kBoundedRows = 4000;                         // retriever.cpp's bound

} // namespace

class TestRanking : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::unique_ptr<Library> library_;
    int64_t main_ = 0, late_ = 0;

private slots:
    void initTestCase() {
        library_ = std::make_unique<Library>(dir_.filePath("index.db").toStdString());
        main_ = library_->ensure_collection("main");
        std::mt19937 rng(test::fresh_seed("ranking corpus"));
        for (int d = 0; d < kDocuments; ++d) {
            std::vector<std::string> chunks;
            for (int c = 0; c < kChunksPerDocument; ++c) chunks.push_back(random_chunk(rng));
            // The best chunk for "alder birch" by far, indexed after the first kBoundedRows.
            if (d == kDocuments - 1) chunks[50] = "planted " + std::string(200, ' ') + "alder birch alder birch alder birch alder birch alder birch alder birch.";
            store_document(*library_, main_, "/main/doc" + std::to_string(d) + ".txt", chunks);
        }
        late_ = library_->ensure_collection("late");
        for (int d = 0; d < 3; ++d) {
            std::vector<std::string> chunks;
            for (int c = 0; c < 10; ++c) chunks.push_back("late " + random_chunk(rng));
            store_document(*library_, late_, "/late/doc" + std::to_string(d) + ".txt", chunks);
        }
        QCOMPARE(library_->chunk_count(), int64_t{kDocuments * kChunksPerDocument + 30});
    }

    void latent_bm25_equals_bm25_when_counts_fit_the_sample() {
        for (const char* match : {"cedar", "\"alder birch\"", "alder", "cedar OR \"filler7\"", "alder OR birch OR cedar", "filler1*", "late AND birch"}) {
            const std::vector<Scored> rows = score_both(*library_, match, 1000000);
            QVERIFY2(!rows.empty(), match);
            for (const Scored& r : rows) QVERIFY2(close(r.bm25, r.latent), qPrintable(QString("%1: row %2: bm25 %3, latent_bm25 %4").arg(match).arg(r.rowid).arg(r.bm25).arg(r.latent)));
        }
    }

    void sampled_counts_keep_one_phrase_order_and_estimate_idf() {
        // One phrase: the IDF is a common factor, so the sampled score is the exact one scaled.
        for (const char* match : {"cedar", "birch", "\"alder birch\"", "filler1*"}) {
            const std::vector<Scored> rows = score_both(*library_, match, 100);
            const double ratio = rows.front().latent / rows.front().bm25;
            for (const Scored& r : rows) QVERIFY2(close(r.latent, r.bm25 * ratio), match);
        }
        // cedar is in about a tenth of the chunks: 100 sampled matches place its IDF within a
        // third (the binomial spread of 100 draws is about 10%).
        const std::vector<Scored> exact = score_both(*library_, "cedar", 1000000);
        const std::vector<Scored> sampled = score_both(*library_, "cedar", 100);
        QCOMPARE(sampled.size(), exact.size());
        const double ratio = sampled.front().latent / exact.front().latent;
        QVERIFY2(ratio > 0.75 && ratio < 1.33, qPrintable(QString("sampled / exact IDF of cedar = %1").arg(ratio)));
    }

    void common_words_rank_only_the_first_matches() {
        SearchOptions options;
        options.top_k = 5;
        options.max_merged_chunks = 1;
        options.same_file_decay = 1.0; // plain score order
        // The exact best chunk is the planted one (the oracle: FTS5 ranking every match).
        Statement best(library_->handle(), "SELECT rowid, rank FROM chunk_fts WHERE chunk_fts MATCH 'alder OR birch' ORDER BY rank LIMIT 1");
        QVERIFY(best.step());
        const int64_t planted = best.integer(0);
        best.reset();
        Statement text(library_->handle(), "SELECT text FROM chunks WHERE id = ?1");
        text.bind(1, planted);
        QVERIFY(text.step());
        QVERIFY(text.text(0).rfind("planted", 0) == 0);
        text.reset();
        const std::vector<Passage> found = search(*library_, "alder birch", options);
        QCOMPARE(found.size(), size_t{5});
        // Both words are in more than half of the chunks, so both IDFs are FTS5's floor (1e-6)
        // whether counted or sampled: the bounded scores are exact BM25. The best of them is the
        // best of the first kBoundedRows chunks (alder is in every chunk).
        Statement first(library_->handle(), "SELECT rank FROM chunk_fts WHERE chunk_fts MATCH 'alder OR birch' AND rowid <= ?1 ORDER BY rank LIMIT 5");
        first.bind(1, int64_t{kBoundedRows});
        for (const Passage& p : found) {
            QVERIFY(first.step());
            QVERIFY2(close(p.score, -first.real(0)), qPrintable(QString("score %1, exact %2").arg(p.score).arg(-first.real(0))));
            QVERIFY2(p.text.find("planted") == std::string::npos, "the bounded scan read past its bound");
            QVERIFY(p.text.find("alder") != std::string::npos);
        }
        first.reset();
        // A rarer word takes the exact path: the planted chunk is found.
        QVERIFY(search(*library_, "alder birch planted", options).front().text.find("planted") != std::string::npos);
    }

    void common_words_within_the_bound_rank_exactly() {
        // The "late" collection alone: its 30 chunks all fit in the bound, so the bounded path
        // ranks like FTS5 does (the filter is applied while scanning).
        SearchOptions options;
        options.top_k = 5;
        options.max_merged_chunks = 1;
        options.same_file_decay = 1.0;
        options.collections = {late_};
        const std::vector<Passage> found = search(*library_, "alder", options);
        QCOMPARE(found.size(), size_t{5});
        Statement exact(library_->handle(), "SELECT rank FROM chunk_fts WHERE chunk_fts MATCH 'alder' AND rowid > ?1 ORDER BY rank LIMIT 5");
        exact.bind(1, int64_t{kDocuments * kChunksPerDocument});
        for (const Passage& p : found) {
            QVERIFY(p.path.rfind("/late/", 0) == 0);
            QVERIFY(exact.step());
            QVERIFY2(close(p.score, -exact.real(0)), qPrintable(QString("score %1, exact %2").arg(p.score).arg(-exact.real(0))));
        }
        exact.reset();
    }
};

QTEST_GUILESS_MAIN(TestRanking)
#include "test_ranking.moc"
