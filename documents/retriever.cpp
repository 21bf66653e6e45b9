#include "retriever.h"

#include "segmenter.h"

#include <algorithm>
#include <map>

namespace latent::documents {
namespace {

struct Candidate {
    int64_t chunk_id, document_id;
    int ordinal, page;
    int64_t start, end;
    double score;
    std::string path, heading_path;
};

struct Hit {
    int64_t chunk_id;
    double score; // higher is better
};

// An item that matches at least max(kMinCommonRows, chunks / kCommonShare) chunks is common.
constexpr int64_t kCommonShare = 20;
constexpr int64_t kMinCommonRows = 1000;
// A query made only of common items scores this many of its matches at most.
constexpr int64_t kBoundedRows = 4000;
// Matches latent_bm25 reads per phrase to estimate its document count (ranking.h): every item
// of a bounded query matches common_rows or more, and a thousand rows place its IDF closely.
constexpr int64_t kIdfSampleRows = 1000;

struct QueryPlan {
    std::string match;     // FTS5 expression
    bool bounded = false;  // every item is common: score the first kBoundedRows matches only
    int64_t max_rowid = 0; // chunks' largest rowid (the index's size, for latent_bm25)
    int64_t common_rows = 0;
};

// Two ways to rank, by what the query's items are.
//
// Normal questions have at least one item that is not common. Common items are dropped when
// rarer ones remain (their IDF is small, so they barely move BM25, yet ranking every chunk
// they match is most of a query's cost), and FTS5 ranks every chunk the rarer items match by
// exact BM25 (ORDER BY rank): at most a few times common_rows chunks.
//
// When every item is common (only the most frequent words, a phrase of them, a prefix such as
// kaba* that expands to many words) there is nothing to drop, and exact ranking means scoring
// most of the index (0.3–0.6 s at 100,000 chunks). Such a query is answered from a bounded set
// instead: the first kBoundedRows matching chunks in index order (FTS5 yields matches by rowid
// when there is no ORDER BY, so the scan stops there), each scored by latent_bm25 (BM25 whose
// document counts are sampled, ranking.h), best first. The trade-off: the passages are the best
// of those chunks, not necessarily of the whole library (chunks indexed later are not seen by
// such a query). The words of such a query are in a twentieth of the chunks or more, so they
// say little about which chunk is wanted; adding any rarer word takes the exact path again.
// Counting stops at common_rows, so classifying the items is cheap.
QueryPlan plan_query(Library& library, const std::vector<std::string>& items) {
    QueryPlan plan;
    Statement total(library.handle(), "SELECT coalesce(max(rowid), 0) FROM chunks");
    total.step();
    plan.max_rowid = total.integer(0);
    total.reset();
    plan.common_rows = std::max<int64_t>(kMinCommonRows, plan.max_rowid / kCommonShare);
    std::string all, rare;
    Statement count(library.handle(), "SELECT count(*) FROM (SELECT 1 FROM chunk_fts WHERE chunk_fts MATCH ?1 LIMIT ?2)");
    for (const std::string& item : items) {
        all += (all.empty() ? "" : " OR ") + item;
        count.bind(1, item).bind(2, plan.common_rows);
        count.step();
        const bool common = count.integer(0) >= plan.common_rows;
        count.reset();
        if (!common) rare += (rare.empty() ? "" : " OR ") + item;
    }
    plan.bounded = rare.empty() && !all.empty();
    plan.match = plan.bounded ? all : rare;
    return plan;
}

// Exact: FTS5 sorts every match by BM25 and keeps the best `limit`.
std::vector<Hit> ranked_hits(Library& library, const std::string& match, size_t limit) {
    Statement s(library.handle(), "SELECT rowid, rank FROM chunk_fts WHERE chunk_fts MATCH ?1 ORDER BY rank LIMIT ?2");
    s.bind(1, match).bind(2, static_cast<int64_t>(limit));
    std::vector<Hit> hits;
    while (s.step()) hits.push_back({s.integer(0), -s.real(1)});
    return hits;
}

// Bounded: the first kBoundedRows matches (of the wanted collections) scored, the best `limit`.
// Without a collection filter the scan reads the index alone (joining every row to its document
// costs as much as scoring it); a chunk of a document being updated is dropped afterwards.
// With a filter the rows of other collections are joined and skipped until kBoundedRows rows
// pass, so a small collection in a large library reads more of the match list (each skipped
// row costs a lookup, not a score).
std::vector<Hit> bounded_hits(Library& library, const QueryPlan& plan, const std::string& collection_filter, size_t limit) {
    Statement s(library.handle(), "SELECT chunk_fts.rowid, latent_bm25(chunk_fts, ?2, ?3) FROM chunk_fts " +
                                      (collection_filter.empty() ? std::string()
                                                                 : "JOIN chunks c ON c.id = chunk_fts.rowid JOIN documents d ON d.id = c.document_id ") +
                                      "WHERE chunk_fts MATCH ?1" + collection_filter + " LIMIT ?4");
    s.bind(1, plan.match).bind(2, plan.max_rowid).bind(3, kIdfSampleRows).bind(4, kBoundedRows);
    std::vector<Hit> hits;
    while (s.step()) hits.push_back({s.integer(0), s.real(1)});
    const auto better = [](const Hit& a, const Hit& b) { return a.score > b.score || (a.score == b.score && a.chunk_id < b.chunk_id); };
    const size_t keep = std::min(limit, hits.size());
    std::partial_sort(hits.begin(), hits.begin() + static_cast<std::ptrdiff_t>(keep), hits.end(), better);
    hits.resize(keep);
    return hits;
}

} // namespace

std::vector<Passage> search(Library& library, std::string_view query, const SearchOptions& options) {
    if (options.top_k == 0) return {};
    const QueryPlan plan = plan_query(library, fts_query_items(query));
    if (plan.match.empty()) return {};
    std::string collection_filter;
    if (!options.collections.empty()) {
        std::string ids;
        for (const int64_t id : options.collections) ids += (ids.empty() ? "" : ",") + std::to_string(id);
        collection_filter = " AND d.collection_id IN (" + ids + ")";
    }
    // Chunks of other collections are dropped after ranking on the exact path, so it reads more.
    const size_t candidates = std::max(options.candidates, options.top_k * 4) * (options.collections.empty() || plan.bounded ? 1 : 4);
    const std::vector<Hit> hits = plan.bounded ? bounded_hits(library, plan, collection_filter, candidates) : ranked_hits(library, plan.match, candidates);
    Statement row(library.handle(), "SELECT c.document_id, c.ordinal, c.page, c.start, c.end, d.path, c.heading_path "
                                    "FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.id = ?1 AND d.status = 'indexed'" + collection_filter);
    std::map<int64_t, std::vector<Candidate>> by_document;
    for (const Hit& hit : hits) {
        row.bind(1, hit.chunk_id);
        if (row.step()) {
            by_document[row.integer(0)].push_back({hit.chunk_id, row.integer(0), static_cast<int>(row.integer(1)),
                                                   row.is_null(2) ? 0 : static_cast<int>(row.integer(2)), row.integer(3), row.integer(4), hit.score,
                                                   row.text(5), row.text(6)});
        }
        row.reset();
    }
    // Neighbours (consecutive ordinals, same page, ranges touching) become one passage.
    std::vector<Passage> passages;
    for (auto& [document, list] : by_document) {
        std::sort(list.begin(), list.end(), [](const Candidate& a, const Candidate& b) { return a.ordinal < b.ordinal; });
        for (size_t i = 0; i < list.size();) {
            size_t j = i;
            while (j + 1 < list.size() && j + 1 - i < options.max_merged_chunks && list[j + 1].ordinal == list[j].ordinal + 1 &&
                   list[j + 1].page == list[j].page && list[j + 1].start <= list[j].end + 2) {
                ++j;
            }
            Passage p;
            p.document_id = document;
            p.path = list[i].path;
            p.page = list[i].page;
            p.start = list[i].start;
            p.end = list[j].end;
            p.heading_path = list[i].heading_path;
            for (size_t k = i; k <= j; ++k) p.score = std::max(p.score, list[k].score);
            passages.push_back(std::move(p));
            i = j + 1;
        }
    }
    // Greedy diversification: the best passage by score × decay^(passages already from its file).
    std::vector<Passage> out;
    std::map<int64_t, int> taken;
    while (out.size() < options.top_k && !passages.empty()) {
        size_t best = 0;
        double best_value = -1e300;
        for (size_t k = 0; k < passages.size(); ++k) {
            double value = passages[k].score;
            for (int t = 0; t < taken[passages[k].document_id]; ++t) value *= options.same_file_decay;
            if (value > best_value) {
                best_value = value;
                best = k;
            }
        }
        ++taken[passages[best].document_id];
        out.push_back(std::move(passages[best]));
        passages.erase(passages.begin() + static_cast<std::ptrdiff_t>(best));
    }
    for (Passage& p : out) p.text = library.text_range(p.document_id, p.start, p.end);
    return out;
}

} // namespace latent::documents
