// Pre-tokenizers: the ordered regex lists that split raw text into words before BPE (spec §5.3).
//
// The patterns are kept exactly as the spec lists them (llama.cpp's strings, \x{HHHH} form) and
// translated once into PCRE2 syntax. They are evaluated with the semantics of the model's own
// tokenizer (Hugging Face `tokenizers`, whose Split pre-tokenizers run these regexes with
// Unicode classes), not llama.cpp's emulation of it, where the two differ:
//   1. `\s` is Unicode White_Space (tab … CR, space, U+0085, U+00A0, U+1680, U+2000..U+200A,
//      U+2028/9, U+202F, U+205F, U+3000) and every character is also itself: U+3000 matches
//      [\x{3000}-\x{3002}] and U+2003 the range [\x{0800}-\x{4E00}]. (llama.cpp presents
//      non-ASCII whitespace to the patterns as U+000B, so it matches \s and nothing else.)
//   2. \p{..} are Unicode general categories throughout, ASCII included: '~' is a math symbol
//      (Sm), so " ~" is one piece of ` ?[\p{P}\p{S}]+` and one token in DeepSeek-V3's
//      vocabulary. (llama.cpp's ASCII list for \p{S} leaves out '~', so it splits " ~".)
//   3. Ill-formed UTF-8 bytes, which a Hugging Face tokenizer never receives (it takes Unicode
//      strings), are seen by the patterns as U+FFFD, one per maximal subpart; the bytes
//      themselves are kept and later encoded byte-level, so they round-trip.
// Non-ASCII characters are classified by PCRE2's Unicode tables (general categories).
// Each pattern re-splits every piece produced so far; matches and the unmatched gaps between
// them both become pieces (HF Split with behavior "Isolated"), and `$` / lookaheads see the end
// of the piece, not of the whole text. tests/tokenizer/hf_parity.py checks the result id for id
// against the Hugging Face tokenizer of DeepSeek-V3 (its JavaScript port) where npm is at hand.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace latent::tokenizer {

// A word found by the pre-tokenizer: bytes [begin, end) of the text that was split.
struct TextSpan {
    size_t begin = 0;
    size_t end = 0;
};

class PreTokenizer {
public:
    // Throws latent::Error naming the pre-tokenizer when it is not supported.
    explicit PreTokenizer(std::string_view name);
    ~PreTokenizer();
    PreTokenizer(PreTokenizer&&) noexcept;
    PreTokenizer& operator=(PreTokenizer&&) noexcept;
    PreTokenizer(const PreTokenizer&) = delete;
    PreTokenizer& operator=(const PreTokenizer&) = delete;

    // "deepseek-llm", "deepseek-v3", "deepseek-coder".
    static const std::vector<std::string_view>& supported_names();
    static bool is_supported(std::string_view name);
    // The spec's pattern list for a supported name (empty for an unknown one).
    static std::vector<std::string_view> patterns_for(std::string_view name);

    const std::string& name() const { return name_; }

    // Splits arbitrary bytes into non-empty words covering the text in order. Thread-safe.
    std::vector<TextSpan> split(std::string_view text) const;

private:
    struct CompiledPattern;
    std::string name_;
    std::vector<std::unique_ptr<CompiledPattern>> patterns_;
};

// Translates one pattern from llama.cpp's dialect (above) into PCRE2 syntax: \s and \S become
// explicit White_Space classes (rule 1).
// Throws latent::Error for constructs the translation does not handle. Exposed for tests.
std::string translate_pattern(std::string_view pattern);

} // namespace latent::tokenizer
