// Byte-level BPE tokenizer for DeepSeek GGUF vocabularies (tokenizer.ggml.model = "gpt2"),
// following spec §5 and reproducing llama.cpp's output id for id.
//
// Encoding (spec §5.2):
//   1. Special-token partition: every CONTROL / UNKNOWN / USER_DEFINED token text is searched in
//      the raw text, longest text first (equal lengths: lower id first); each token claims its
//      non-overlapping occurrences, leftmost first, in what earlier tokens left unclaimed. With
//      parse_special = false only USER_DEFINED tokens are matched (DeepSeek's "ø", "ü", ...).
//   2. Pre-tokenization of each remaining fragment by the vocabulary's regex list (pre_tokenizer.h).
//   3. Each word's bytes map one-to-one to GPT-2 "byte-level" characters (spec §5.4).
//   4. BPE: repeatedly merge the adjacent pair with the lowest merge rank (ties: leftmost).
//      A final symbol that is not a token falls back to the tokens of its single bytes.
// Invalid UTF-8 never throws: ill-formed bytes are split as U+FFFD would be but are encoded as the
// raw bytes they are, so decode(encode(x)) == x holds for every byte string x.
//
// Decoding (spec §5.2, token_to_piece): NORMAL tokens map each character back through the
// inverse byte map (a character outside the map is copied as UTF-8); USER_DEFINED tokens are
// their text; CONTROL / UNKNOWN tokens are empty unless render_special; BYTE tokens "<0xHH>" are
// that byte; UNUSED tokens are empty. Token boundaries may fall inside a UTF-8 character:
// decode() returns raw bytes, StreamingDecoder returns only complete characters.
#pragma once

#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/special_tokens.h"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace latent::gguf {
class File;
}

namespace latent::tokenizer {

// A byte range [begin, end) of a text.
struct TextRange {
    size_t begin = 0;
    size_t end = 0;
};

// tokenizer.ggml.token_type values (gguf-py TokenType).
enum class TokenType : int32_t {
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
};

// A vocabulary as stored in GGUF. Plain data: build one by hand (tests) or with load_vocabulary.
struct Vocabulary {
    std::vector<std::string> tokens;     // (n_vocab) token text; byte-level form for NORMAL tokens ("Ġ" = space)
    std::vector<TokenType> types;        // (n_vocab) one per token
    std::vector<std::string> merges;     // (n_merges) "left right"; index = rank, lower merges first
    std::string pre = "deepseek-llm";    // pre-tokenizer name (tokenizer.ggml.pre)
    std::optional<int32_t> bos;          // tokenizer.ggml.bos_token_id
    std::optional<int32_t> eos;          // tokenizer.ggml.eos_token_id
    std::optional<int32_t> eot;          // tokenizer.ggml.eot_token_id
    std::optional<int32_t> eom;          // tokenizer.ggml.eom_token_id
    std::optional<int32_t> pad;          // tokenizer.ggml.padding_token_id
    std::optional<int32_t> unk;          // tokenizer.ggml.unknown_token_id
    bool add_bos = false;                // tokenizer.ggml.add_bos_token (absent: false)
    bool add_eos = false;                // tokenizer.ggml.add_eos_token (absent: false)
};

// Reads and validates the tokenizer.* keys of a GGUF file. Throws latent::Error naming the key
// (and index or value) when: tokenizer.ggml.model is not "gpt2"; tokenizer.ggml.pre is missing
// or not a supported pre-tokenizer (there is no guessed default: the DeepSeek converters always
// write it); tokens are missing or empty; token_type has a different length or an unknown value
// (absent token_type: every token NORMAL); merges are missing or malformed; a special-token id
// is negative or not below the vocabulary size.
Vocabulary load_vocabulary(const gguf::File& file);

// The checks load_vocabulary makes on the decoded data, for hand-built vocabularies. Rules:
//   - merges: split at the first space at index >= 1 (as llama.cpp); both sides must be tokens;
//     a repeated merge keeps its first (lowest) rank.
//   - duplicate token texts are allowed; looking a text up gives the highest id (as llama.cpp,
//     whose text-to-id map keeps the last).
void validate_vocabulary(const Vocabulary& vocabulary);

class Tokenizer {
public:
    // Validates the vocabulary and builds the lookup tables. vocabulary.pre picks the
    // pre-tokenizer; change it before construction to override the file's choice.
    explicit Tokenizer(Vocabulary vocabulary);
    ~Tokenizer();
    Tokenizer(Tokenizer&&) noexcept;
    Tokenizer& operator=(Tokenizer&&) noexcept;
    Tokenizer(const Tokenizer&) = delete;
    Tokenizer& operator=(const Tokenizer&) = delete;

    // Tokenizes text. add_special: prepend BOS when the vocabulary's add_bos says so (and has
    // a BOS), append EOS when add_eos says so. parse_special: match CONTROL/UNKNOWN token texts
    // (e.g. "<｜User｜>") as single tokens; USER_DEFINED texts are matched either way.
    // Thread-safe.
    std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;

    // Tokenizes a prompt with special tokens parsed everywhere except inside `literal` ranges
    // (message contents), which are matched as with parse_special = false. Raw text on both
    // sides of a range boundary is pre-tokenized as one piece, so when the ranges hold no
    // special-token text the result equals encode(text, false, true). No BOS/EOS is added.
    std::vector<int32_t> encode_with_literal_ranges(std::string_view text, const std::vector<TextRange>& literal) const;

    // The bytes of all ids, concatenated (see the decoding rules above). Throws latent::Error
    // for an id outside the vocabulary.
    std::string decode(const std::vector<int32_t>& ids, bool render_special = false) const;
    // The bytes one token decodes to.
    std::string token_piece(int32_t id, bool render_special = false) const;
    // The token's stored text (byte-level form for NORMAL tokens).
    const std::string& token_text(int32_t id) const;
    TokenType token_type(int32_t id) const;

    // The id whose text is exactly `text` (the highest id if the text repeats).
    std::optional<int32_t> find_token(std::string_view text) const;

    int32_t n_vocab() const { return static_cast<int32_t>(vocabulary_.tokens.size()); }
    std::optional<int32_t> bos() const { return vocabulary_.bos; }
    std::optional<int32_t> eos() const { return vocabulary_.eos; }
    bool add_bos() const { return vocabulary_.add_bos; }
    // End of generation: EOS, EOT, EOM, and every token whose text is one of <|eot_id|>,
    // <|im_end|>, <|end|>, <end_of_turn>, <|endoftext|>, <|eom_id|>, <EOT>, <｜end▁of▁sentence｜>.
    bool is_eog(int32_t id) const;
    const std::vector<int32_t>& eog_ids() const { return eog_ids_; }

    const Vocabulary& vocabulary() const { return vocabulary_; }
    const PreTokenizer& pre_tokenizer() const { return pre_tokenizer_; }

    // Debugging and test hooks. pre_tokenize: the words of a raw text (no special tokens).
    std::vector<std::string> pre_tokenize(std::string_view text) const;
    // BPE of one word given as raw bytes: the fast path (priority queue) and its slow, obvious
    // reference (rescan every pair after every merge). They must always agree.
    std::vector<int32_t> bpe_word(std::string_view word) const;
    std::vector<int32_t> bpe_word_reference(std::string_view word) const;

private:
    struct Merge {
        int32_t rank = 0;
        int32_t result = -1; // token id of the merged text, -1 when it is not a token
    };
    static uint64_t pair_key(int32_t left, int32_t right) {
        return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
    }
    const Merge* find_merge(int32_t left, int32_t right) const;
    void append_symbol(std::string_view word, size_t begin, size_t end, int32_t id, std::vector<int32_t>& out) const;
    void encode_fragment(std::string_view fragment, std::vector<int32_t>& out) const;
    void check_id(int32_t id) const;

    Vocabulary vocabulary_;
    PreTokenizer pre_tokenizer_;
    std::unordered_map<std::string_view, int32_t> token_ids_; // views into vocabulary_.tokens
    std::unordered_map<uint64_t, Merge> merges_;               // (left id, right id) -> merge
    std::array<int32_t, 256> byte_tokens_{};                   // byte -> token of its byte-level character, or -1
    SpecialTokenMatcher special_tokens_;
    std::vector<int32_t> eog_ids_;                             // sorted
};

// Turns a stream of token ids into text that is always complete, well-formed UTF-8: bytes of a
// character split across tokens are held back until the character is complete. Ill-formed bytes
// come out as U+FFFD. Not thread-safe; one per generation stream.
class StreamingDecoder {
public:
    explicit StreamingDecoder(const Tokenizer& tokenizer, bool render_special = false);

    // The text that token completes (possibly empty).
    std::string feed(int32_t id);
    // Everything still held back; an unfinished character becomes U+FFFD. Resets the stream.
    std::string flush();
    void reset() { pending_.clear(); }
    bool has_pending() const { return !pending_.empty(); }

private:
    const Tokenizer* tokenizer_;
    bool render_special_;
    std::string pending_; // bytes of an unfinished character (at most 3)
};

} // namespace latent::tokenizer
