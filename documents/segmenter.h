// Word segmentation for the full-text index, the same for documents and queries. FTS5's own
// tokenizers treat a run of CJK characters as one token (so 北京 would miss …北京大学…); here
// ICU's word break iterator (dictionary-based for Chinese, Japanese, Thai, …) splits the text,
// the words are stored space-joined, and FTS5's unicode61 tokenizer (case folding, diacritics)
// and porter stemmer work on them. Each run of CJK characters is also indexed as its character
// bigrams and unigrams, so a query word matches whatever way ICU segmented the document.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace latent::documents {

// The index form of a text: its words space-joined, CJK runs followed by their bigrams and
// unigrams.
std::string index_terms(std::string_view utf8);

// The words of a text by ICU, in order (letters, numbers, kana, ideographs; no punctuation).
std::vector<std::string> icu_words(std::string_view utf8);

// An FTS5 MATCH expression for a user's query: words are OR-ed (BM25 ranks passages with more
// of them first), common English function words are dropped when other words remain, "quoted
// text" is a phrase, a word followed by * is a prefix. CJK words of three or more characters
// match as the word or as all their bigrams. Returns "" when nothing in the query is searchable.
std::string fts_query(std::string_view user_query);
// The same expression as its OR-ed items (each a valid FTS5 expression on its own).
std::vector<std::string> fts_query_items(std::string_view user_query);

bool is_cjk(uint32_t code_point);

} // namespace latent::documents
