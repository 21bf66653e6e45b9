#include "tokenizer/tokenizer.h"

#include "core/error.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocabulary_rules.h"

#include <algorithm>
#include <limits>
#include <queue>

namespace latent::tokenizer {

namespace {

// Texts llama.cpp treats as end-of-generation wherever they appear in a vocabulary (spec §5.1).
constexpr std::string_view kEndOfGenerationTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>",
    "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>", // <｜end▁of▁sentence｜>
};

Vocabulary validated(Vocabulary vocabulary) {
    validate_vocabulary(vocabulary);
    return vocabulary;
}

// "<0xHH>" -> HH, or -1.
int parse_byte_token(std::string_view text) {
    if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
    int value = 0;
    for (const char c : text.substr(3, 2)) {
        value <<= 4;
        if (c >= '0' && c <= '9') value |= c - '0';
        else if (c >= 'A' && c <= 'F') value |= c - 'A' + 10;
        else if (c >= 'a' && c <= 'f') value |= c - 'a' + 10;
        else return -1;
    }
    return value;
}

// A NORMAL token's text back to bytes through the inverse GPT-2 byte map.
void append_byte_level_decoded(std::string_view text, std::string& out) {
    for (size_t pos = 0; pos < text.size();) {
        const utf8::Decoded d = utf8::decode(text, pos);
        const int byte = d.status == utf8::Decoded::Status::Valid ? utf8::code_point_to_byte(d.code_point) : -1;
        if (byte >= 0) {
            out.push_back(static_cast<char>(byte));
        } else {
            out.append(text.substr(pos, d.length)); // not a byte-level character: keep it as is
        }
        pos += d.length;
    }
}

} // namespace

Tokenizer::Tokenizer(Vocabulary vocabulary)
    : vocabulary_(validated(std::move(vocabulary))), pre_tokenizer_(vocabulary_.pre) {
    const auto& tokens = vocabulary_.tokens;
    token_ids_.reserve(tokens.size());
    for (size_t id = 0; id < tokens.size(); ++id) {
        token_ids_[tokens[id]] = static_cast<int32_t>(id); // a repeated text resolves to its last id
    }

    for (int byte = 0; byte < 256; ++byte) {
        const auto it = token_ids_.find(utf8::byte_to_utf8(static_cast<uint8_t>(byte)));
        byte_tokens_[static_cast<size_t>(byte)] = it == token_ids_.end() ? -1 : it->second;
    }

    merges_.reserve(vocabulary_.merges.size());
    std::string joined;
    for (size_t rank = 0; rank < vocabulary_.merges.size(); ++rank) {
        const auto sides = split_merge(vocabulary_.merges[rank]); // validated: present, both sides tokens
        const int32_t left = token_ids_.at(sides->left);
        const int32_t right = token_ids_.at(sides->right);
        joined.assign(sides->left).append(sides->right);
        const auto result = token_ids_.find(joined);
        merges_.try_emplace(pair_key(left, right), Merge{static_cast<int32_t>(rank), result == token_ids_.end() ? -1 : result->second});
    }

    for (size_t id = 0; id < tokens.size(); ++id) {
        const TokenType type = vocabulary_.types[id];
        if (type == TokenType::UserDefined) special_tokens_.add(static_cast<int32_t>(id), tokens[id], true);
        if (type == TokenType::Control || type == TokenType::Unknown) special_tokens_.add(static_cast<int32_t>(id), tokens[id], false);
    }

    for (const auto& id : {vocabulary_.eos, vocabulary_.eot, vocabulary_.eom}) {
        if (id) eog_ids_.push_back(*id);
    }
    for (const std::string_view text : kEndOfGenerationTexts) {
        if (const auto id = find_token(text)) eog_ids_.push_back(*id);
    }
    std::sort(eog_ids_.begin(), eog_ids_.end());
    eog_ids_.erase(std::unique(eog_ids_.begin(), eog_ids_.end()), eog_ids_.end());
}

Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

std::optional<int32_t> Tokenizer::find_token(std::string_view text) const {
    const auto it = token_ids_.find(text);
    if (it == token_ids_.end()) return std::nullopt;
    return it->second;
}

void Tokenizer::check_id(int32_t id) const {
    if (id < 0 || id >= n_vocab()) {
        throw Error("token id " + std::to_string(id) + " is out of range (the vocabulary has " + std::to_string(n_vocab()) + " tokens)");
    }
}

const std::string& Tokenizer::token_text(int32_t id) const {
    check_id(id);
    return vocabulary_.tokens[static_cast<size_t>(id)];
}

TokenType Tokenizer::token_type(int32_t id) const {
    check_id(id);
    return vocabulary_.types[static_cast<size_t>(id)];
}

bool Tokenizer::is_eog(int32_t id) const { return std::binary_search(eog_ids_.begin(), eog_ids_.end(), id); }

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 2);
    if (add_special && vocabulary_.add_bos && vocabulary_.bos) out.push_back(*vocabulary_.bos);
    for (const auto& fragment : special_tokens_.partition(text, parse_special)) {
        if (fragment.token >= 0) {
            out.push_back(fragment.token);
        } else {
            encode_fragment(text.substr(fragment.begin, fragment.end - fragment.begin), out);
        }
    }
    if (add_special && vocabulary_.add_eos && vocabulary_.eos) out.push_back(*vocabulary_.eos);
    return out;
}

std::vector<int32_t> Tokenizer::encode_with_literal_ranges(std::string_view text, const std::vector<TextRange>& literal) const {
    using Fragment = SpecialTokenMatcher::Fragment;
    std::vector<Fragment> fragments;
    auto add_region = [&](size_t begin, size_t end, bool parse_special) {
        if (begin >= end) return;
        for (Fragment f : special_tokens_.partition(text.substr(begin, end - begin), parse_special)) {
            f.begin += begin;
            f.end += begin;
            if (f.token < 0 && !fragments.empty() && fragments.back().token < 0 && fragments.back().end == f.begin) {
                fragments.back().end = f.end; // raw text continues across the boundary
            } else {
                fragments.push_back(f);
            }
        }
    };
    size_t pos = 0;
    for (const TextRange& range : literal) {
        if (range.begin < pos || range.end < range.begin || range.end > text.size()) {
            throw Error("encode_with_literal_ranges: ranges must be ascending, non-overlapping and inside the text");
        }
        add_region(pos, range.begin, true);
        add_region(range.begin, range.end, false);
        pos = range.end;
    }
    add_region(pos, text.size(), true);
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 2);
    for (const Fragment& f : fragments) {
        if (f.token >= 0) out.push_back(f.token);
        else encode_fragment(text.substr(f.begin, f.end - f.begin), out);
    }
    return out;
}

void Tokenizer::encode_fragment(std::string_view fragment, std::vector<int32_t>& out) const {
    for (const TextSpan span : pre_tokenizer_.split(fragment)) {
        const std::vector<int32_t> ids = bpe_word(fragment.substr(span.begin, span.end - span.begin));
        out.insert(out.end(), ids.begin(), ids.end());
    }
}

std::vector<std::string> Tokenizer::pre_tokenize(std::string_view text) const {
    std::vector<std::string> words;
    for (const TextSpan span : pre_tokenizer_.split(text)) words.emplace_back(text.substr(span.begin, span.end - span.begin));
    return words;
}

const Tokenizer::Merge* Tokenizer::find_merge(int32_t left, int32_t right) const {
    if (left < 0 || right < 0) return nullptr;
    const auto it = merges_.find(pair_key(left, right));
    return it == merges_.end() ? nullptr : &it->second;
}

// A final symbol that is not a token (a character missing from the vocabulary, or a merge
// whose result is not a token) falls back to the tokens of its single bytes, where they exist.
void Tokenizer::append_symbol(std::string_view word, size_t begin, size_t end, int32_t id, std::vector<int32_t>& out) const {
    if (id >= 0) {
        out.push_back(id);
        return;
    }
    for (size_t pos = begin; pos < end; ++pos) {
        const int32_t byte_token = byte_tokens_[static_cast<uint8_t>(word[pos])];
        if (byte_token >= 0) out.push_back(byte_token);
    }
}

std::vector<int32_t> Tokenizer::bpe_word(std::string_view word) const {
    // Symbols form a doubly linked list over the word's bytes; a merge keeps the left symbol
    // and unlinks the right one. Each byte starts as the token of its byte-level character.
    struct Symbol {
        int32_t id;         // token id, -1 when the symbol's text is not a token
        uint32_t begin;     // bytes [begin, end) of the word
        uint32_t end;
        int32_t prev;       // neighbour indices, -1 at the ends
        int32_t next;
        bool alive;
    };
    // A possible merge of `left` with its right neighbour, as they were when queued.
    struct Candidate {
        int32_t rank;
        int32_t left;
        int32_t left_id;
        int32_t right_id;
        int32_t result;
    };
    struct LaterFirst {
        bool operator()(const Candidate& a, const Candidate& b) const {
            return a.rank != b.rank ? a.rank > b.rank : a.left > b.left; // lowest rank, then leftmost
        }
    };

    std::vector<int32_t> out;
    if (word.empty()) return out;
    if (word.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) throw Error("word too long for BPE");
    const auto n = static_cast<int32_t>(word.size());
    std::vector<Symbol> symbols(static_cast<size_t>(n));
    for (int32_t i = 0; i < n; ++i) {
        symbols[static_cast<size_t>(i)] = {byte_tokens_[static_cast<uint8_t>(word[static_cast<size_t>(i)])], static_cast<uint32_t>(i),
                                           static_cast<uint32_t>(i + 1), i - 1, i + 1 < n ? i + 1 : -1, true};
    }

    std::priority_queue<Candidate, std::vector<Candidate>, LaterFirst> queue;
    const auto consider = [&](int32_t left) {
        if (left < 0) return;
        const Symbol& l = symbols[static_cast<size_t>(left)];
        if (l.next < 0) return;
        const Symbol& r = symbols[static_cast<size_t>(l.next)];
        if (const Merge* merge = find_merge(l.id, r.id)) queue.push({merge->rank, left, l.id, r.id, merge->result});
    };
    for (int32_t i = 0; i + 1 < n; ++i) consider(i);

    while (!queue.empty()) {
        const Candidate c = queue.top();
        queue.pop();
        Symbol& left = symbols[static_cast<size_t>(c.left)];
        // Stale when either side has changed since it was queued: ids only ever grow into longer
        // texts, so equal ids mean the same two symbols are still adjacent.
        if (!left.alive || left.id != c.left_id || left.next < 0) continue;
        Symbol& right = symbols[static_cast<size_t>(left.next)];
        if (right.id != c.right_id) continue;

        left.id = c.result;
        left.end = right.end;
        left.next = right.next;
        right.alive = false;
        if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = c.left;
        consider(left.prev);
        consider(c.left);
    }

    for (int32_t i = 0; i >= 0; i = symbols[static_cast<size_t>(i)].next) {
        const Symbol& s = symbols[static_cast<size_t>(i)];
        append_symbol(word, s.begin, s.end, s.id, out);
    }
    return out;
}

std::vector<int32_t> Tokenizer::bpe_word_reference(std::string_view word) const {
    struct Symbol {
        int32_t id;
        size_t begin;
        size_t end;
    };
    std::vector<Symbol> symbols;
    for (size_t i = 0; i < word.size(); ++i) symbols.push_back({byte_tokens_[static_cast<uint8_t>(word[i])], i, i + 1});
    while (true) {
        size_t best = symbols.size();
        const Merge* best_merge = nullptr;
        for (size_t i = 0; i + 1 < symbols.size(); ++i) {
            const Merge* merge = find_merge(symbols[i].id, symbols[i + 1].id);
            if (merge && (!best_merge || merge->rank < best_merge->rank)) {
                best = i;
                best_merge = merge;
            }
        }
        if (!best_merge) break;
        symbols[best] = {best_merge->result, symbols[best].begin, symbols[best + 1].end};
        symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(best) + 1);
    }
    std::vector<int32_t> out;
    for (const Symbol& s : symbols) append_symbol(word, s.begin, s.end, s.id, out);
    return out;
}

std::string Tokenizer::token_piece(int32_t id, bool render_special) const {
    check_id(id);
    const std::string& text = vocabulary_.tokens[static_cast<size_t>(id)];
    std::string out;
    switch (vocabulary_.types[static_cast<size_t>(id)]) {
    case TokenType::Normal:
        append_byte_level_decoded(text, out);
        break;
    case TokenType::UserDefined:
        out = text;
        break;
    case TokenType::Control:
    case TokenType::Unknown:
        if (render_special) out = text;
        break;
    case TokenType::Byte:
        if (const int byte = parse_byte_token(text); byte >= 0) {
            out.push_back(static_cast<char>(byte));
        } else {
            append_byte_level_decoded(text, out);
        }
        break;
    case TokenType::Unused:
        break;
    }
    return out;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool render_special) const {
    std::string out;
    for (const int32_t id : ids) out += token_piece(id, render_special);
    return out;
}

StreamingDecoder::StreamingDecoder(const Tokenizer& tokenizer, bool render_special)
    : tokenizer_(&tokenizer), render_special_(render_special) {}

std::string StreamingDecoder::feed(int32_t id) {
    pending_ += tokenizer_->token_piece(id, render_special_);
    return utf8::take_complete(pending_, false);
}

std::string StreamingDecoder::flush() { return utf8::take_complete(pending_, true); }

} // namespace latent::tokenizer
