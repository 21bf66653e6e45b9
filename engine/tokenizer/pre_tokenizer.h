// Pre-tokenizers: the ordered regex lists that split raw text into words before BPE (spec §5.3).
//
// The patterns are kept exactly as the spec lists them (llama.cpp's strings, \x{HHHH} form) and
// translated once into PCRE2 syntax. Evaluation follows llama.cpp, the reference the conformance
// kit was produced with, which differs from a plain Unicode regex engine in three ways; all three
// are reproduced here as rules, never as special cases of particular strings:
//   1. Non-ASCII White_Space characters (U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028/9,
//      U+202F, U+205F, U+3000) are presented to every pattern as U+000B: they match \s and
//      nothing else (so U+3000 is not inside the range [\x{3000}-\x{3002}] and U+2003 is not a
//      CJK-range character). `\s` itself means ASCII whitespace [\t-\r ] plus those characters.
//   2. In patterns that use \p{..} (llama.cpp runs those on text collapsed to one byte per
//      category, with explicit ASCII lists per class), ASCII '~' belongs to no category: the
//      list for \p{S} is $ + < = > ^ ` | and leaves out '~', which Unicode counts as a math
//      symbol. Such patterns see '~' as the noncharacter U+FDD0 (category Cn), and a literal
//      '~' in them is translated to \x{FDD0}. The other ASCII lists agree with Unicode.
//   3. Ill-formed UTF-8 bytes are seen by the patterns as U+FFFD, one per maximal subpart (the
//      bytes themselves are kept and later encoded byte-level, so they round-trip).
// Non-ASCII characters are otherwise classified by PCRE2's Unicode tables (general categories).
// Each pattern re-splits every piece produced so far; matches and the unmatched gaps between
// them both become pieces (HF Split with behavior "Isolated"), and `$` / lookaheads see the end
// of the piece, not of the whole text.
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
// explicit ASCII classes and, in patterns that use \p{..}, literal '~' becomes \x{FDD0}.
// Throws latent::Error for constructs the translation does not handle. Exposed for tests.
std::string translate_pattern(std::string_view pattern);

} // namespace latent::tokenizer
