#include "text_decode.h"

#include "extracted.h"
#include "utf8.h"

#include <uchardet/uchardet.h>
#include <unicode/ucnv.h>

#include <algorithm>
#include <cctype>
#include <memory>

namespace latent::documents {
namespace {

std::string from_utf16(std::string_view bytes, bool little_endian) {
    std::string out;
    out.reserve(bytes.size());
    const size_t units = bytes.size() / 2;
    const auto unit = [&](size_t k) -> uint32_t {
        const auto lo = static_cast<unsigned char>(bytes[2 * k + (little_endian ? 0 : 1)]);
        const auto hi = static_cast<unsigned char>(bytes[2 * k + (little_endian ? 1 : 0)]);
        return static_cast<uint32_t>(hi) << 8 | lo;
    };
    for (size_t k = 0; k < units; ++k) {
        uint32_t cp = unit(k);
        if (cp >= 0xD800 && cp <= 0xDBFF && k + 1 < units && unit(k + 1) >= 0xDC00 && unit(k + 1) <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (unit(k + 1) - 0xDC00);
            ++k;
        }
        append_utf8(out, cp); // a lone surrogate becomes U+FFFD
    }
    if (bytes.size() % 2) out += "\xEF\xBF\xBD";
    return out;
}

// uchardet's guess, or "" when it has none.
std::string guess_charset(std::string_view bytes) {
    const std::unique_ptr<std::remove_pointer_t<uchardet_t>, void (*)(uchardet_t)> detector(uchardet_new(), uchardet_delete);
    if (!detector) return {};
    // The first megabyte is plenty for a guess and bounds the time.
    const size_t n = std::min<size_t>(bytes.size(), size_t{1} << 20);
    if (uchardet_handle_data(detector.get(), bytes.data(), n) != 0) return {};
    uchardet_data_end(detector.get());
    const char* name = uchardet_get_charset(detector.get());
    return name ? std::string(name) : std::string();
}

// bytes in `charset` to UTF-8 through ICU; false when ICU does not know the charset.
bool convert_with_icu(std::string_view bytes, const std::string& charset, std::string& out) {
    UErrorCode status = U_ZERO_ERROR;
    UConverter* converter = ucnv_open(charset.c_str(), &status);
    if (U_FAILURE(status) || !converter) return false;
    ucnv_close(converter);
    out.assign(bytes.size() * 3 + 16, '\0');
    status = U_ZERO_ERROR;
    const int32_t n = ucnv_convert("UTF-8", charset.c_str(), out.data(), static_cast<int32_t>(out.size()), bytes.data(),
                                   static_cast<int32_t>(bytes.size()), &status);
    if (U_FAILURE(status)) return false;
    out.resize(static_cast<size_t>(n));
    out = repair_utf8(out);
    return true;
}

bool trusted_guess(const std::string& charset) {
    static const char* const kTrusted[] = {"SHIFT_JIS", "EUC-JP", "ISO-2022-JP", "GB18030", "GB2312", "BIG5", "EUC-KR", "EUC-TW", "UHC", "CP949",
                                           "HZ-GB-2312", "ISO-2022-KR", "ISO-2022-CN", "WINDOWS-1251", "KOI8-R", "KOI8-U", "ISO-8859-5", "IBM866",
                                           "IBM855", "MAC-CYRILLIC", "WINDOWS-1253", "ISO-8859-7", "WINDOWS-1255", "ISO-8859-8", "WINDOWS-1256",
                                           "ISO-8859-6", "TIS-620", "ISO-8859-11", "WINDOWS-1258", "VISCII"};
    for (const char* t : kTrusted) if (charset == t) return true;
    return false;
}

bool is_binary_control(unsigned char c) { return c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != 0x1B; }

} // namespace

std::string normalise_line_ends(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\r') {
            out += '\n';
            if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
        } else {
            out += s[i];
        }
    }
    return out;
}

DecodedText decode_text(std::string_view bytes) {
    DecodedText d;
    const auto starts = [&](std::string_view prefix) { return bytes.substr(0, prefix.size()) == prefix; };
    if (starts("\xEF\xBB\xBF")) {
        d.encoding = "UTF-8";
        d.text = repair_utf8(bytes.substr(3));
    } else if (starts("\xFF\xFE")) {
        d.encoding = "UTF-16LE";
        d.text = from_utf16(bytes.substr(2), true);
    } else if (starts("\xFE\xFF")) {
        d.encoding = "UTF-16BE";
        d.text = from_utf16(bytes.substr(2), false);
    } else {
        const std::string_view head = bytes.substr(0, size_t{64} << 10);
        if (head.find('\0') != std::string_view::npos) skip("binary file (NUL bytes in its text)");
        if (is_valid_utf8(bytes)) {
            d.encoding = "UTF-8";
            d.text = std::string(bytes);
        } else {
            std::string charset = guess_charset(bytes);
            std::transform(charset.begin(), charset.end(), charset.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
            // uchardet's guesses among single-byte Latin charsets vary on short texts (Western text
            // comes back as ISO-8859-2 or IBM852); its guesses for other scripts are reliable.
            // Anything else is read as Windows-1252, the superset of Latin-1's printable range.
            if (!trusted_guess(charset)) charset = "WINDOWS-1252";
            if (!convert_with_icu(bytes, charset, d.text)) {
                charset = "WINDOWS-1252";
                if (!convert_with_icu(bytes, charset, d.text)) fail("cannot convert the text from " + charset);
            }
            d.encoding = charset;
        }
    }
    if (d.text.find('\0') != std::string::npos) skip("binary file (NUL characters in its text)");
    size_t controls = 0;
    for (const char c : d.text) controls += is_binary_control(static_cast<unsigned char>(c));
    if (controls > 16 && controls * 100 > d.text.size()) skip("binary file (control characters in its text)");
    d.text = normalise_line_ends(d.text);
    return d;
}

} // namespace latent::documents
