// UTF-8 helpers of the document library: validation with repair (every ill-formed sequence
// becomes U+FFFD), code point counting (chunk ranges are in code points, what Python's str
// and SQLite's substr() count), and boundary snapping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace latent::documents {

// Length of the well-formed UTF-8 sequence at s[i], or 0 when it is ill-formed (overlong,
// surrogate, beyond U+10FFFF, truncated).
size_t utf8_sequence_length(std::string_view s, size_t i);
bool is_valid_utf8(std::string_view s);
// s with every ill-formed sequence replaced by U+FFFD.
std::string repair_utf8(std::string_view s);
// Code points in a valid UTF-8 string.
size_t utf8_length(std::string_view s);
// The largest code point boundary <= pos.
size_t utf8_floor(std::string_view s, size_t pos);
// Appends code point cp as UTF-8.
void append_utf8(std::string& out, uint32_t cp);
// The code point at s[i] (valid UTF-8), advancing i.
uint32_t next_code_point(std::string_view s, size_t& i);

} // namespace latent::documents
