// HTML and XHTML: a tolerant tag scanner (real pages are rarely well-formed). Headings, list
// items, <pre> and block elements become blocks; script, style and similar content is dropped;
// character references are decoded. Nesting of container elements is bounded by max_depth.
#include "extractors.h"

#include "text_decode.h"
#include "utf8.h"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace latent::documents {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

struct NamedEntity {
    const char* name;
    uint32_t code_point;
};
constexpr NamedEntity kEntities[] = {
    {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}, {"nbsp", ' '}, {"copy", 0xA9}, {"reg", 0xAE},
    {"trade", 0x2122}, {"mdash", 0x2014}, {"ndash", 0x2013}, {"hellip", 0x2026}, {"lsquo", 0x2018}, {"rsquo", 0x2019},
    {"ldquo", 0x201C}, {"rdquo", 0x201D}, {"laquo", 0xAB}, {"raquo", 0xBB}, {"bull", 0x2022}, {"middot", 0xB7},
    {"eacute", 0xE9}, {"egrave", 0xE8}, {"ecirc", 0xEA}, {"agrave", 0xE0}, {"aacute", 0xE1}, {"acirc", 0xE2},
    {"auml", 0xE4}, {"ouml", 0xF6}, {"uuml", 0xFC}, {"Auml", 0xC4}, {"Ouml", 0xD6}, {"Uuml", 0xDC}, {"szlig", 0xDF},
    {"ccedil", 0xE7}, {"ntilde", 0xF1}, {"oacute", 0xF3}, {"iacute", 0xED}, {"uacute", 0xFA}, {"euro", 0x20AC},
    {"pound", 0xA3}, {"deg", 0xB0}, {"times", 0xD7}, {"shy", 0xAD},
};

// Text with character references decoded; unknown references stay as written.
std::string decode_entities(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '&') {
            out += s[i];
            continue;
        }
        const size_t semi = s.find(';', i + 1);
        if (semi == std::string_view::npos || semi - i > 12) {
            out += '&';
            continue;
        }
        const std::string_view ref = s.substr(i + 1, semi - i - 1);
        uint32_t cp = 0;
        bool known = false;
        if (ref.size() >= 2 && ref[0] == '#') {
            const bool hex = ref[1] == 'x' || ref[1] == 'X';
            const std::string digits(ref.substr(hex ? 2 : 1));
            if (!digits.empty() && digits.size() <= 8 && digits.find_first_not_of(hex ? "0123456789abcdefABCDEF" : "0123456789") == std::string::npos) {
                cp = static_cast<uint32_t>(std::stoul(digits, nullptr, hex ? 16 : 10));
                if (cp == 0 || cp > 0x10FFFF) cp = 0xFFFD;
                known = true;
            }
        } else {
            for (const NamedEntity& e : kEntities) {
                if (ref == e.name) {
                    cp = e.code_point;
                    known = true;
                    break;
                }
            }
        }
        if (!known) {
            out += '&';
            continue;
        }
        append_utf8(out, cp);
        i = semi;
    }
    return out;
}

bool one_of(const std::string& name, std::initializer_list<const char*> names) {
    for (const char* n : names) {
        if (name == n) return true;
    }
    return false;
}

} // namespace

void append_html(std::string_view html, TextBuilder& builder, const Limits& limits, const Deadline& deadline) {
    uint32_t depth = 0;
    bool pre = false;
    size_t i = 0;
    size_t steps = 0;
    while (i < html.size()) {
        if (++steps % 4096 == 0) deadline.check();
        if (html[i] != '<') {
            const size_t next = std::min(html.find('<', i), html.size());
            builder.append(decode_entities(html.substr(i, next - i)), pre);
            i = next;
            continue;
        }
        if (html.compare(i, 4, "<!--") == 0) {
            const size_t end = html.find("-->", i + 4);
            i = end == std::string_view::npos ? html.size() : end + 3;
            continue;
        }
        if (html.compare(i, 9, "<![CDATA[") == 0) {
            const size_t end = html.find("]]>", i + 9);
            const size_t stop = end == std::string_view::npos ? html.size() : end;
            builder.append(html.substr(i + 9, stop - i - 9), pre);
            i = end == std::string_view::npos ? html.size() : end + 3;
            continue;
        }
        // A tag: its name, then attributes up to the closing '>' (quotes may hide a '>').
        size_t j = i + 1;
        const bool closing = j < html.size() && html[j] == '/';
        if (closing) ++j;
        const size_t name_begin = j;
        while (j < html.size() && (std::isalnum(static_cast<unsigned char>(html[j])) || html[j] == ':' || html[j] == '-')) ++j;
        if (j == name_begin && !(j < html.size() && (html[j] == '!' || html[j] == '?'))) {
            builder.append("<", pre); // a lone '<' is text
            ++i;
            continue;
        }
        std::string name = lower(html.substr(name_begin, j - name_begin));
        if (const size_t colon = name.find(':'); colon != std::string::npos) name = name.substr(colon + 1); // xhtml prefixes
        char quote = 0;
        while (j < html.size() && (quote || html[j] != '>')) {
            if (quote && html[j] == quote) quote = 0;
            else if (!quote && (html[j] == '"' || html[j] == '\'')) quote = html[j];
            ++j;
        }
        const bool self_closing = j > 0 && j < html.size() && html[j - 1] == '/';
        i = std::min(j + 1, html.size());
        if (name.empty()) continue; // <!DOCTYPE>, <?xml?>

        if (!closing && one_of(name, {"script", "style", "noscript", "template", "svg", "math", "head"}) && !self_closing) {
            // Skip to the matching end tag (case-insensitively); <head> keeps only its <title>.
            const std::string end_tag = "</" + name;
            size_t k = i;
            size_t found = std::string_view::npos;
            while (k < html.size()) {
                k = html.find("</", k);
                if (k == std::string_view::npos) break;
                if (lower(html.substr(k, end_tag.size())) == end_tag) {
                    found = k;
                    break;
                }
                k += 2;
            }
            const size_t stop = found == std::string_view::npos ? html.size() : found;
            if (name == "head") {
                const std::string head = lower(html.substr(i, stop - i));
                const size_t t0 = head.find("<title");
                const size_t t1 = head.find("</title", t0 == std::string::npos ? 0 : t0);
                if (t0 != std::string::npos && t1 != std::string::npos) {
                    const size_t content = head.find('>', t0);
                    if (content != std::string::npos && content < t1) {
                        builder.begin_block(BlockKind::Heading, 1);
                        builder.append(decode_entities(html.substr(i + content + 1, t1 - content - 1)));
                        builder.end_block();
                    }
                }
            }
            i = found == std::string_view::npos ? html.size() : std::min(html.find('>', found), html.size() - 1) + 1;
            continue;
        }
        if (one_of(name, {"div", "section", "article", "span", "table", "ul", "ol", "dl", "blockquote", "b", "i", "em", "strong",
                          "a", "font", "main", "aside", "nav", "header", "footer", "figure", "body", "html"})) {
            if (closing) {
                depth = depth > 0 ? depth - 1 : 0;
            } else if (!self_closing && ++depth > limits.max_depth) {
                fail("HTML nesting deeper than " + std::to_string(limits.max_depth) + " elements");
            }
        }
        if (name.size() == 2 && name[0] == 'h' && name[1] >= '1' && name[1] <= '6') {
            if (closing) builder.end_block();
            else builder.begin_block(BlockKind::Heading, name[1] - '0');
        } else if (name == "title") {
            if (closing) builder.end_block();
            else builder.begin_block(BlockKind::Heading, 1);
        } else if (name == "li" || name == "dt" || name == "dd") {
            if (closing) builder.end_block();
            else builder.begin_block(BlockKind::ListItem);
        } else if (name == "pre") {
            pre = !closing;
            if (closing) builder.end_block();
            else builder.begin_block(BlockKind::Code);
        } else if (name == "br") {
            builder.line_break();
        } else if (name == "td" || name == "th") {
            builder.append(" ");
        } else if (one_of(name, {"p", "div", "section", "article", "table", "tr", "ul", "ol", "dl", "blockquote", "main", "aside",
                                 "nav", "header", "footer", "figure", "figcaption", "address", "hr", "body", "form"})) {
            builder.end_block();
        }
    }
}

ExtractedDocument extract_html(std::string_view bytes, const Limits& limits, const Deadline& deadline) {
    const std::string html = decode_text(bytes).text;
    TextBuilder builder(limits, deadline);
    append_html(html, builder, limits, deadline);
    return builder.finish("html");
}

} // namespace latent::documents
