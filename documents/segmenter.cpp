#include "segmenter.h"

#include "utf8.h"

#include <unicode/brkiter.h>
#include <unicode/locid.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <stdexcept>

namespace latent::documents {
namespace {

// One word of the text: UTF-8 text, UTF-16 offsets in the segmented string.
struct Word {
    std::string text;
    int32_t begin, end;
    bool cjk;
};

icu::BreakIterator& word_iterator() {
    // Creating a break iterator loads its rules and dictionaries: once per thread.
    thread_local std::unique_ptr<icu::BreakIterator> iterator = [] {
        UErrorCode status = U_ZERO_ERROR;
        std::unique_ptr<icu::BreakIterator> it(icu::BreakIterator::createWordInstance(icu::Locale::getRoot(), status));
        if (U_FAILURE(status) || !it) throw std::runtime_error("ICU word break iterator unavailable");
        return it;
    }();
    return *iterator;
}

bool contains_cjk(std::string_view utf8) {
    for (size_t i = 0; i < utf8.size();) {
        if (is_cjk(next_code_point(utf8, i))) return true;
    }
    return false;
}

std::vector<Word> segment(std::string_view utf8) {
    std::vector<Word> words;
    const icu::UnicodeString text = icu::UnicodeString::fromUTF8(icu::StringPiece(utf8.data(), static_cast<int32_t>(utf8.size())));
    icu::BreakIterator& it = word_iterator();
    it.setText(text);
    int32_t begin = it.first();
    for (int32_t end = it.next(); end != icu::BreakIterator::DONE; begin = end, end = it.next()) {
        if (it.getRuleStatus() < UBRK_WORD_NONE_LIMIT) continue; // spaces, punctuation
        std::string word;
        text.tempSubStringBetween(begin, end).toUTF8String(word);
        const bool cjk = contains_cjk(word);
        words.push_back({std::move(word), begin, end, cjk});
    }
    it.setText(icu::UnicodeString()); // drop the reference to `text`
    return words;
}

// Appends the bigrams and unigrams of a CJK run (its code points as UTF-8 strings).
void append_ngrams(const std::vector<std::string>& run, std::string& out) {
    if (run.size() < 2) return; // a one-character run is already its own word
    for (size_t i = 0; i + 1 < run.size(); ++i) out += run[i] + run[i + 1] + ' ';
    for (const std::string& c : run) out += c + ' ';
}

std::vector<std::string> code_points(std::string_view utf8) {
    std::vector<std::string> out;
    for (size_t i = 0; i < utf8.size();) {
        const size_t start = i;
        next_code_point(utf8, i);
        out.emplace_back(utf8.substr(start, i - start));
    }
    return out;
}

std::string quoted(std::string_view term) {
    std::string out = "\"";
    for (const char c : term) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + '"';
}

bool is_stopword(const std::string& word) {
    static const char* const kStopwords[] = {"a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "how",
                                              "i", "in", "is", "it", "of", "on", "or", "that", "the", "this", "to", "was", "what", "when",
                                              "where", "which", "who", "why", "will", "with", "you", "my", "me", "we", "should", "would",
                                              "could", "there", "their", "its", "into", "about", "did", "has", "have", "if", "not"};
    std::string lower = word;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    for (const char* s : kStopwords) if (lower == s) return true;
    return false;
}

// The query expression of one CJK word.
std::string cjk_term(const std::string& word) {
    const std::vector<std::string> chars = code_points(word);
    if (chars.size() <= 2) return quoted(word);
    std::string bigrams;
    for (size_t i = 0; i + 1 < chars.size(); ++i) bigrams += (bigrams.empty() ? "" : " AND ") + quoted(chars[i] + chars[i + 1]);
    return "(" + quoted(word) + " OR (" + bigrams + "))";
}

} // namespace

bool is_cjk(uint32_t cp) {
    return (cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0x31F0 && cp <= 0x31FF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x20000 && cp <= 0x2FFFF) ||
           (cp >= 0xAC00 && cp <= 0xD7AF) || (cp >= 0x1100 && cp <= 0x11FF) || (cp >= 0x3130 && cp <= 0x318F);
}

std::vector<std::string> icu_words(std::string_view utf8) {
    std::vector<std::string> out;
    for (Word& w : segment(utf8)) out.push_back(std::move(w.text));
    return out;
}

std::string index_terms(std::string_view utf8) {
    std::string out;
    out.reserve(utf8.size() + utf8.size() / 4);
    std::vector<std::string> run; // code points of the CJK run being read
    int32_t run_end = -1;
    for (const Word& w : segment(utf8)) {
        if (!w.cjk || w.begin != run_end) {
            append_ngrams(run, out);
            run.clear();
        }
        out += w.text;
        out += ' ';
        if (w.cjk) {
            for (std::string& c : code_points(w.text)) run.push_back(std::move(c));
            run_end = w.end;
        }
    }
    append_ngrams(run, out);
    if (!out.empty()) out.pop_back();
    return out;
}

std::string fts_query(std::string_view query) {
    std::string out;
    for (const std::string& item : fts_query_items(query)) out += (out.empty() ? "" : " OR ") + item;
    return out;
}

std::vector<std::string> fts_query_items(std::string_view query) {
    std::vector<std::string> items;     // expressions of content words
    std::vector<std::string> stopwords; // used only when nothing else remains
    size_t i = 0;
    while (i < query.size()) {
        if (query[i] == '"') {
            size_t close = query.find('"', i + 1);
            if (close == std::string_view::npos) close = query.size();
            const std::vector<Word> words = segment(query.substr(i + 1, close - i - 1));
            i = close + 1;
            if (words.empty()) continue;
            const bool any_cjk = std::any_of(words.begin(), words.end(), [](const Word& w) { return w.cjk; });
            if (!any_cjk) {
                std::string phrase;
                for (const Word& w : words) phrase += (phrase.empty() ? "" : " ") + w.text;
                items.push_back(quoted(phrase));
            } else {
                std::string all;
                for (const Word& w : words) all += (all.empty() ? "" : " AND ") + (w.cjk ? cjk_term(w.text) : quoted(w.text));
                items.push_back("(" + all + ")");
            }
            continue;
        }
        size_t next_quote = query.find('"', i);
        if (next_quote == std::string_view::npos) next_quote = query.size();
        const std::string_view part = query.substr(i, next_quote - i);
        const icu::UnicodeString unicode = icu::UnicodeString::fromUTF8(icu::StringPiece(part.data(), static_cast<int32_t>(part.size())));
        for (const Word& w : segment(part)) {
            if (w.cjk) {
                items.push_back(cjk_term(w.text));
                continue;
            }
            const bool prefix = w.end < unicode.length() && unicode.charAt(w.end) == u'*';
            if (prefix) items.push_back(quoted(w.text) + "*");
            else if (is_stopword(w.text)) stopwords.push_back(quoted(w.text));
            else items.push_back(quoted(w.text));
        }
        i = next_quote;
    }
    if (items.empty()) items = std::move(stopwords);
    return items;
}

} // namespace latent::documents
