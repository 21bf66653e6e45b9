// Benchmarks of the document library (BENCHMARKS.md): indexing speed on a generated 1,000-file
// mixed corpus (files/s, MB/s, peak memory), and search latency over an index of 100,000
// chunks. Not a test; run build/bin/bench_documents [folder] [--search-only] (default: a temporary
// folder; --search-only measures search alone, on the folder's 100,000-chunk index of an earlier
// run when there is one).
#include "corpus.h"

#include "documents/indexer.h"
#include "documents/retriever.h"
#include "documents/segmenter.h"

#include <QTemporaryDir>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

using namespace latent;
using namespace latent::documents;
namespace fs = std::filesystem;

namespace {

// Text with a natural word-frequency shape: 30,000 made-up words drawn by Zipf's law (rank r
// with weight 1/r), mixed with English function words.
class Vocabulary {
public:
    explicit Vocabulary(std::mt19937& rng) {
        const char* const syllables[] = {"ka", "lo", "mi", "ren", "tus", "ve", "dor", "pa", "qui", "sel", "ba", "nor", "ti", "gra", "fen", "ho"};
        double total = 0;
        for (size_t r = 1; words_.size() < 30000; ++r) {
            std::string w;
            const size_t n = 2 + rng() % 3;
            for (size_t k = 0; k < n; ++k) w += syllables[rng() % std::size(syllables)];
            words_.push_back(w);
            total += 1.0 / static_cast<double>(r);
            cumulative_.push_back(total);
        }
    }
    const std::string& draw(std::mt19937& rng) const {
        const double x = std::uniform_real_distribution<double>(0, cumulative_.back())(rng);
        return words_[static_cast<size_t>(std::lower_bound(cumulative_.begin(), cumulative_.end(), x) - cumulative_.begin())];
    }
    const std::string& at_rank(size_t r) const { return words_[r]; }

private:
    std::vector<std::string> words_;
    std::vector<double> cumulative_;
};

const char* const kFunctionWords[] = {"the", "of", "and", "a", "to", "in", "is", "for", "on", "with", "as", "by", "at", "from", "that", "it"};

const Vocabulary* g_vocabulary = nullptr;

std::string sentence(std::mt19937& rng) {
    std::string s;
    const size_t n = 8 + rng() % 16;
    for (size_t i = 0; i < n; ++i) {
        s += rng() % 10 < 3 ? std::string(kFunctionWords[rng() % std::size(kFunctionWords)]) : g_vocabulary->draw(rng);
        s += i + 1 == n ? ". " : " ";
    }
    return s;
}

std::string paragraph(std::mt19937& rng) {
    std::string p;
    const size_t n = 2 + rng() % 6;
    for (size_t i = 0; i < n; ++i) p += sentence(rng);
    return p;
}

int64_t peak_rss_kib() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6));
    }
    return -1;
}

double seconds_since(std::chrono::steady_clock::time_point t) { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count(); }

void make_corpus(const std::string& root, size_t files, std::mt19937& rng) {
    const char* const kinds[] = {".md", ".txt", ".html", ".pdf", ".docx", ".odt", ".epub", ".cpp"};
    for (size_t i = 0; i < files; ++i) {
        const std::string dir = root + "/d" + std::to_string(i % 20);
        fs::create_directories(dir);
        const std::string ext = kinds[i % std::size(kinds)];
        const std::string path = dir + "/file" + std::to_string(i) + ext;
        std::vector<std::string> paragraphs;
        const size_t n = 5 + rng() % 40; // about 2 … 20 KB of text
        for (size_t k = 0; k < n; ++k) paragraphs.push_back(paragraph(rng));
        if (ext == ".pdf") {
            std::vector<std::vector<std::string>> pages(1);
            for (const std::string& p : paragraphs) {
                if (pages.back().size() > 40) pages.emplace_back();
                for (size_t at = 0; at < p.size(); at += 90) pages.back().push_back(p.substr(at, 90));
            }
            test::write_bytes(path, test::make_pdf(pages));
        } else if (ext == ".docx" || ext == ".odt") {
            std::vector<test::OfficeParagraph> ps;
            for (size_t k = 0; k < paragraphs.size(); ++k) ps.push_back({k % 8 == 0 ? 2 : 0, k % 5 == 3, paragraphs[k]});
            (ext == ".docx" ? test::write_docx : test::write_odt)(path, ps);
        } else if (ext == ".epub") {
            std::vector<std::string> chapters;
            for (const std::string& p : paragraphs) chapters.push_back("<h2>Part</h2><p>" + p + "</p>");
            test::write_epub(path, chapters);
        } else if (ext == ".html") {
            std::string html = "<html><head><title>Page</title></head><body>";
            for (const std::string& p : paragraphs) html += "<h3>Section</h3><p>" + p + "</p>";
            test::write_bytes(path, html + "</body></html>");
        } else {
            std::string text;
            for (size_t k = 0; k < paragraphs.size(); ++k) text += (ext == ".md" && k % 6 == 0 ? "## Heading\n\n" : "") + paragraphs[k] + "\n\n";
            test::write_bytes(path, text);
        }
    }
}

} // namespace

int main(int argc, char** argv) {
    QTemporaryDir temp;
    std::string base = temp.path().toStdString();
    bool search_only = false;
    for (int i = 1; i < argc; ++i) {
        if (std::string(argv[i]) == "--search-only") search_only = true;
        else base = argv[i];
    }
    std::mt19937 rng(42);
    const Vocabulary vocabulary(rng);
    g_vocabulary = &vocabulary;

    // 1. Indexing a 1,000-file mixed corpus.
    if (!search_only) {
        const std::string corpus = base + "/corpus";
        make_corpus(corpus, 1000, rng);
        uint64_t bytes = 0;
        for (const auto& e : fs::recursive_directory_iterator(corpus)) if (e.is_regular_file()) bytes += e.file_size();
        {
            Library library(base + "/index.db");
            const auto t0 = std::chrono::steady_clock::now();
            const IndexReport r = index_paths(library, library.ensure_collection("bench"), {corpus}, IndexOptions{});
            const double s = seconds_since(t0);
            std::printf("indexing: %zu files (%.1f MB) in %.2f s: %.0f files/s, %.2f MB/s; %zu failed; %lld chunks; peak RSS %lld MiB\n", r.indexed,
                        static_cast<double>(bytes) / 1e6, s, static_cast<double>(r.indexed) / s, static_cast<double>(bytes) / 1e6 / s, r.failed.size(),
                        static_cast<long long>(library.chunk_count()), static_cast<long long>(peak_rss_kib() / 1024));
            const auto t1 = std::chrono::steady_clock::now();
            const IndexReport again = rescan_collection(library, library.ensure_collection("bench"), IndexOptions{});
            std::printf("rescan with nothing changed: %zu unchanged in %.3f s\n", again.unchanged, seconds_since(t1));
        }
    }

    // 2. Search latency over 100,000 chunks (stored directly: 10,000 documents of 10 chunks).
    {
        Library library(base + "/big.db");
        const int64_t collection = library.ensure_collection("big");
        const auto t0 = std::chrono::steady_clock::now();
        const bool reuse = search_only && library.chunk_count() == 100000;
        for (int d = 0; d < (reuse ? 0 : 10000); ++d) {
            ExtractedDocument doc;
            doc.format = "text";
            std::vector<Chunk> chunks;
            std::vector<std::string> terms;
            for (int c = 0; c < 10; ++c) {
                const size_t begin = doc.text.size();
                while (doc.text.size() - begin < 900) doc.text += sentence(rng);
                doc.text += "w" + std::to_string(d) + "x" + std::to_string(c) + ". ";
                chunks.push_back({begin, doc.text.size() - 1, 0, "Section"});
                terms.push_back(index_terms(std::string_view(doc.text).substr(begin, doc.text.size() - 1 - begin)));
                doc.text += "\n\n";
            }
            library.store_indexed(collection, "/bench/doc" + std::to_string(d) + ".txt", FileFacts{doc.text.size(), 0, "x"}, doc, chunks, terms, "doc");
        }
        std::printf("built a %lld-chunk index in %.1f s (%.0f MB file)\n", static_cast<long long>(library.chunk_count()), seconds_since(t0),
                    static_cast<double>(fs::file_size(base + "/big.db")) / 1e6);
        std::vector<double> ms;
        // Questions as users ask them: function words, a frequent word, mid-rank and rare words;
        // a phrase; a prefix; an identifier.
        const Vocabulary& v = vocabulary;
        const std::vector<std::string> queries = {
            "what is the " + v.at_rank(3) + " of " + v.at_rank(150) + " and " + v.at_rank(4000) + "?",
            "how does " + v.at_rank(10) + " " + v.at_rank(900) + " work with " + v.at_rank(20000),
            v.at_rank(1) + " " + v.at_rank(2) + " " + v.at_rank(5000),
            "\"" + v.at_rank(0) + " " + v.at_rank(1) + "\"",
            v.at_rank(700).substr(0, 4) + "*",
            "w4242x7",
            "where in the " + v.at_rank(40) + " is the " + v.at_rank(12000) + " for " + v.at_rank(60) + "?",
            v.at_rank(0) + " " + v.at_rank(1) + " " + v.at_rank(2) + " " + v.at_rank(3)};
        std::vector<std::vector<double>> per_query(queries.size());
        for (int round = 0; round < 25; ++round) {
            for (size_t k = 0; k < queries.size(); ++k) {
                const auto t = std::chrono::steady_clock::now();
                const std::vector<Passage> found = search(library, queries[k], SearchOptions{});
                ms.push_back(seconds_since(t) * 1000);
                per_query[k].push_back(ms.back());
                if (found.empty()) std::printf("no result for %s\n", queries[k].c_str());
            }
        }
        for (size_t k = 0; k < queries.size(); ++k) {
            std::vector<double>& t = per_query[k];
            std::sort(t.begin(), t.end());
            std::printf("  median %6.1f ms, max %6.1f ms  %s\n", t[t.size() / 2], t.back(), queries[k].c_str());
        }
        std::sort(ms.begin(), ms.end());
        std::printf("search over 100k chunks, top 5, %zu queries: median %.1f ms, p95 %.1f ms, max %.1f ms\n", ms.size(), ms[ms.size() / 2],
                    ms[ms.size() * 95 / 100], ms.back());
    }
    std::printf("peak RSS of the whole run %lld MiB\n", static_cast<long long>(peak_rss_kib() / 1024));
    return 0;
}
