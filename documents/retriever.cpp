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

// The query's items without those that match a large share of the chunks, when rarer ones
// remain: such terms barely move BM25 (their IDF is small) yet ranking every chunk they match
// is most of a query's cost. Counting stops at the threshold, so the check is cheap.
std::string prune_common_items(Library& library, const std::vector<std::string>& items) {
    std::string all, rare;
    for (const std::string& item : items) all += (all.empty() ? "" : " OR ") + item;
    if (items.size() < 2) return all;
    Statement total(library.handle(), "SELECT coalesce(max(rowid), 0) FROM chunks");
    total.step();
    const int64_t threshold = std::max<int64_t>(1000, total.integer(0) / 20);
    total.reset();
    Statement count(library.handle(), "SELECT count(*) FROM (SELECT 1 FROM chunk_fts WHERE chunk_fts MATCH ?1 LIMIT ?2)");
    for (const std::string& item : items) {
        count.bind(1, item).bind(2, threshold);
        count.step();
        const bool common = count.integer(0) >= threshold;
        count.reset();
        if (!common) rare += (rare.empty() ? "" : " OR ") + item;
    }
    return rare.empty() ? all : rare;
}

} // namespace

std::vector<Passage> search(Library& library, std::string_view query, const SearchOptions& options) {
    if (options.top_k == 0) return {};
    const std::string match = prune_common_items(library, fts_query_items(query));
    if (match.empty()) return {};
    std::string collection_filter;
    for (const int64_t id : options.collections) collection_filter += (collection_filter.empty() ? "" : ",") + std::to_string(id);
    // The best chunks by BM25 first (FTS5 sorts and limits on its own), then their rows.
    Statement s(library.handle(),
                "SELECT c.id, c.document_id, c.ordinal, c.page, c.start, c.end, hits.rank, d.path, c.heading_path "
                "FROM (SELECT rowid, rank FROM chunk_fts WHERE chunk_fts MATCH ?1 ORDER BY rank LIMIT ?2) AS hits "
                "JOIN chunks c ON c.id = hits.rowid JOIN documents d ON d.id = c.document_id "
                "WHERE d.status = 'indexed'" +
                    (collection_filter.empty() ? std::string() : " AND d.collection_id IN (" + collection_filter + ")") + " ORDER BY hits.rank");
    const size_t candidates = std::max(options.candidates, options.top_k * 4) * (collection_filter.empty() ? 1 : 4);
    s.bind(1, match).bind(2, static_cast<int64_t>(candidates));
    std::map<int64_t, std::vector<Candidate>> by_document;
    while (s.step()) {
        by_document[s.integer(1)].push_back({s.integer(0), s.integer(1), static_cast<int>(s.integer(2)), s.is_null(3) ? 0 : static_cast<int>(s.integer(3)),
                                             s.integer(4), s.integer(5), -s.real(6), s.text(7), s.text(8)});
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
