// Retrieval: BM25 over chunk_fts (fts_query: words OR-ed, phrases, prefixes, CJK; a query made
// only of words common in the library ranks a bounded set of chunks, retriever.cpp), then
// neighbouring chunks of one document merged into one passage (an answer that spans a chunk
// boundary comes whole), then diversified across files (each further passage from a file
// already chosen counts for less), best first.
#pragma once

#include "library.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace latent::documents {

struct Passage {
    int64_t document_id = 0;
    std::string path;         // absolute
    int page = 0;             // 1-based PDF page, 0 elsewhere
    int64_t start = 0;        // code points in the document's extracted text
    int64_t end = 0;
    std::string text;         // exactly the extracted text at [start, end)
    std::string heading_path;
    double score = 0;         // higher is better (negated BM25 of the best chunk)
};

struct SearchOptions {
    size_t top_k = 5;
    std::vector<int64_t> collections; // empty: all
    size_t candidates = 64;           // chunks read from the index before merging
    size_t max_merged_chunks = 3;     // neighbours merged into one passage at most
    double same_file_decay = 0.6;     // score factor per passage already taken from the same file
};

std::vector<Passage> search(Library& library, std::string_view query, const SearchOptions& options);

} // namespace latent::documents
