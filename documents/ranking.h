// A BM25 for chunk_fts whose cost per query is bounded, registered on each Library connection
// as the FTS5 auxiliary function latent_bm25(chunk_fts, max_rowid, sample_rows).
//
// It is FTS5's own bm25() (k1 = 1.2, b = 0.75, every column weight 1, IDF clamped to 1e-6
// when a phrase is in half the rows or more) except for one input: bm25() learns each phrase's
// document count by reading every row the phrase matches (for a phrase of common words, every
// position list), which is most of the cost of a query made of common words, and is paid even
// when only a few rows are scored. latent_bm25 reads at most `sample_rows` matches per phrase:
// when fewer exist the count is exact (and the score equals -bm25() up to rounding); otherwise
// it is estimated from how far into the rowids the sample reached,
//     n ≈ sample_rows × max_rowid / (rowid of the last sampled match),
// which assumes the phrase is spread evenly over the index (documents are indexed in file
// order, so a word that is common in one folder only is over- or underestimated). The estimate
// only matters for phrases in at least `sample_rows` rows, whose IDF is small anyway.
//
// Returns the score with the sign flipped against bm25(): higher is better.
#pragma once

#include <sqlite3.h>

namespace latent::documents {

// Registers latent_bm25 on the connection. Throws LibraryError when FTS5 is missing.
void register_ranking_functions(sqlite3* db);

} // namespace latent::documents
