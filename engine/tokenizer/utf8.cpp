#include "tokenizer/utf8.h"

#include <array>

namespace latent::tokenizer::utf8 {

namespace {

bool is_continuation(uint8_t byte) { return (byte & 0xC0) == 0x80; }

// The table of well-formed byte sequences (Unicode Table 3-7): for a lead byte, the sequence
// length and the allowed range of the second byte (later bytes are always 80..BF).
struct LeadInfo {
    size_t length = 0; // 0: never a lead byte
    uint8_t second_min = 0x80;
    uint8_t second_max = 0xBF;
};

LeadInfo lead_info(uint8_t lead) {
    if (lead < 0x80) return {1, 0, 0};
    if (lead < 0xC2) return {};               // continuation byte or overlong C0/C1
    if (lead < 0xE0) return {2, 0x80, 0xBF};
    if (lead == 0xE0) return {3, 0xA0, 0xBF}; // no overlongs
    if (lead == 0xED) return {3, 0x80, 0x9F}; // no surrogates
    if (lead < 0xF0) return {3, 0x80, 0xBF};
    if (lead == 0xF0) return {4, 0x90, 0xBF}; // no overlongs
    if (lead < 0xF4) return {4, 0x80, 0xBF};
    if (lead == 0xF4) return {4, 0x80, 0x8F}; // nothing above U+10FFFF
    return {};
}

struct ByteMap {
    std::array<uint32_t, 256> to_code_point{};
    std::array<std::string, 256> to_utf8{};
    std::array<int16_t, 0x144> from_code_point{}; // every mapped code point is < U+0144
};

ByteMap build_byte_map() {
    ByteMap map;
    map.from_code_point.fill(-1);
    uint32_t next_extra = 0x100;
    for (uint32_t byte = 0; byte < 256; ++byte) {
        const bool printable = (byte >= 0x21 && byte <= 0x7E) || (byte >= 0xA1 && byte <= 0xAC) || byte >= 0xAE;
        const uint32_t cp = printable ? byte : next_extra++;
        map.to_code_point[byte] = cp;
        append(map.to_utf8[byte], cp);
        map.from_code_point[cp] = static_cast<int16_t>(byte);
    }
    return map;
}

const ByteMap& byte_map() {
    static const ByteMap map = build_byte_map();
    return map;
}

} // namespace

Decoded decode(std::string_view text, size_t pos) {
    const auto at = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
    const uint8_t lead = at(pos);
    const LeadInfo info = lead_info(lead);
    if (info.length == 0) return {Decoded::Status::Invalid, 0, 1};
    if (info.length == 1) return {Decoded::Status::Valid, lead, 1};

    uint32_t cp = lead & (0xFFu >> (info.length + 1));
    for (size_t k = 1; k < info.length; ++k) {
        if (pos + k >= text.size()) return {Decoded::Status::Incomplete, 0, k};
        const uint8_t byte = at(pos + k);
        const bool ok = k == 1 ? (byte >= info.second_min && byte <= info.second_max) : is_continuation(byte);
        if (!ok) return {Decoded::Status::Invalid, 0, k};
        cp = (cp << 6) | (byte & 0x3Fu);
    }
    return {Decoded::Status::Valid, cp, info.length};
}

void append(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

bool is_valid(std::string_view text) {
    for (size_t pos = 0; pos < text.size();) {
        const Decoded d = decode(text, pos);
        if (d.status != Decoded::Status::Valid) return false;
        pos += d.length;
    }
    return true;
}

std::string sanitize(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t pos = 0; pos < text.size();) {
        const Decoded d = decode(text, pos);
        if (d.status == Decoded::Status::Valid) {
            out.append(text.substr(pos, d.length));
        } else {
            out.append(kReplacementUtf8);
        }
        pos += d.length;
    }
    return out;
}

std::string take_complete(std::string& buffer, bool final) {
    std::string out;
    size_t pos = 0;
    while (pos < buffer.size()) {
        const Decoded d = decode(buffer, pos);
        if (d.status == Decoded::Status::Incomplete && !final) break;
        if (d.status == Decoded::Status::Valid) {
            out.append(buffer, pos, d.length);
        } else {
            out.append(kReplacementUtf8);
        }
        pos += d.length;
    }
    buffer.erase(0, pos);
    return out;
}

uint32_t byte_to_code_point(uint8_t byte) { return byte_map().to_code_point[byte]; }

std::string_view byte_to_utf8(uint8_t byte) { return byte_map().to_utf8[byte]; }

int code_point_to_byte(uint32_t cp) {
    const auto& map = byte_map().from_code_point;
    return cp < map.size() ? map[cp] : -1;
}

} // namespace latent::tokenizer::utf8
