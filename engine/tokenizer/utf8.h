// UTF-8 helpers and the GPT-2 byte <-> unicode map used by byte-level BPE vocabularies.
//
// Validation is strict (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
// Where a sequence is ill-formed, the "maximal subpart" rule of the Unicode standard (§3.9,
// U+FFFD substitution) decides how many bytes one replacement character stands for.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace latent::tokenizer::utf8 {

constexpr uint32_t kReplacementCharacter = 0xFFFD;
constexpr std::string_view kReplacementUtf8 = "\xEF\xBF\xBD";

// Result of looking at the bytes starting at one position.
struct Decoded {
    enum class Status {
        Valid,      // a complete, well-formed character of `length` bytes
        Invalid,    // `length` bytes (>= 1) form an ill-formed maximal subpart
        Incomplete, // the remaining bytes are a proper prefix of a well-formed character
    };
    Status status = Status::Invalid;
    uint32_t code_point = 0; // Valid only
    size_t length = 1;       // bytes consumed (Incomplete: all remaining bytes)
};

// Decodes the character at text[pos] (pos < text.size()).
Decoded decode(std::string_view text, size_t pos);

// Appends the UTF-8 form of a code point (<= U+10FFFF, not a surrogate).
void append(std::string& out, uint32_t code_point);

bool is_valid(std::string_view text);

// Replaces every ill-formed subsequence (including a truncated tail) with U+FFFD.
std::string sanitize(std::string_view text);

// Streaming form: moves the longest prefix of `buffer` that can be emitted now into the result
// (ill-formed subsequences replaced by U+FFFD) and leaves in `buffer` only a trailing proper
// prefix of a well-formed character. With `final`, that tail is emitted as U+FFFD as well.
std::string take_complete(std::string& buffer, bool final);

// GPT-2 bytes_to_unicode: every byte maps to one printable code point (spec §5.4).
uint32_t byte_to_code_point(uint8_t byte);
// The UTF-8 form of byte_to_code_point(byte).
std::string_view byte_to_utf8(uint8_t byte);
// Inverse map: the byte a code point stands for, or -1 when it is not in the map.
int code_point_to_byte(uint32_t code_point);

} // namespace latent::tokenizer::utf8
