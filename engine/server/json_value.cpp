#include "server/json_value.h"

#include "core/error.h"
#include "tokenizer/utf8.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace latent::server {

const JsonValue* JsonValue::find(std::string_view key) const {
    const JsonValue* found = nullptr;
    for (const auto& [k, v] : members_) {
        if (k == key) found = &v;
    }
    return found;
}

std::string_view JsonValue::type_name(Type type) {
    switch (type) {
    case Type::Null: return "null";
    case Type::Bool: return "boolean";
    case Type::Number: return "number";
    case Type::String: return "string";
    case Type::Array: return "array";
    case Type::Object: return "object";
    }
    return "unknown";
}

class JsonReader {
public:
    JsonReader(std::string_view text, unsigned max_depth) : s_(text), max_depth_(max_depth) {}

    JsonValue document() {
        JsonValue v = value(0);
        skip_space();
        if (pos_ != s_.size()) fail("unexpected text after the value");
        return v;
    }

private:
    [[noreturn]] void fail(const std::string& what) const { throw Error("invalid JSON at byte " + std::to_string(pos_) + ": " + what); }

    void skip_space() {
        while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
    }

    bool literal(std::string_view word) {
        if (s_.substr(pos_, word.size()) != word) return false;
        pos_ += word.size();
        return true;
    }

    JsonValue value(unsigned depth) {
        if (depth > max_depth_) fail("nested deeper than " + std::to_string(max_depth_) + " levels");
        skip_space();
        if (pos_ >= s_.size()) fail("unexpected end of input");
        JsonValue v;
        const char c = s_[pos_];
        if (c == '{') {
            v.type_ = JsonValue::Type::Object;
            ++pos_;
            skip_space();
            if (pos_ < s_.size() && s_[pos_] == '}') {
                ++pos_;
                return v;
            }
            for (;;) {
                skip_space();
                if (pos_ >= s_.size() || s_[pos_] != '"') fail("expected a string key");
                std::string key = string();
                skip_space();
                if (pos_ >= s_.size() || s_[pos_] != ':') fail("expected ':' after a key");
                ++pos_;
                v.members_.emplace_back(std::move(key), value(depth + 1));
                skip_space();
                if (pos_ < s_.size() && s_[pos_] == ',') {
                    ++pos_;
                    continue;
                }
                if (pos_ < s_.size() && s_[pos_] == '}') {
                    ++pos_;
                    return v;
                }
                fail("expected ',' or '}' in an object");
            }
        }
        if (c == '[') {
            v.type_ = JsonValue::Type::Array;
            ++pos_;
            skip_space();
            if (pos_ < s_.size() && s_[pos_] == ']') {
                ++pos_;
                return v;
            }
            for (;;) {
                v.items_.push_back(value(depth + 1));
                skip_space();
                if (pos_ < s_.size() && s_[pos_] == ',') {
                    ++pos_;
                    continue;
                }
                if (pos_ < s_.size() && s_[pos_] == ']') {
                    ++pos_;
                    return v;
                }
                fail("expected ',' or ']' in an array");
            }
        }
        if (c == '"') {
            v.type_ = JsonValue::Type::String;
            v.string_ = string();
            return v;
        }
        if (literal("true")) {
            v.type_ = JsonValue::Type::Bool;
            v.bool_ = true;
            return v;
        }
        if (literal("false")) {
            v.type_ = JsonValue::Type::Bool;
            return v;
        }
        if (literal("null")) return v;
        if (c == '-' || (c >= '0' && c <= '9')) return number();
        fail(std::string("unexpected character '") + (c >= 0x20 && c < 0x7f ? std::string(1, c) : "\\x" + std::to_string(static_cast<unsigned char>(c))) + "'");
    }

    JsonValue number() {
        const size_t start = pos_;
        bool integer = true;
        if (s_[pos_] == '-') ++pos_;
        auto digits = [&] {
            const size_t from = pos_;
            while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
            if (pos_ == from) fail("a number needs digits");
        };
        if (pos_ < s_.size() && s_[pos_] == '0') ++pos_;
        else digits();
        if (pos_ < s_.size() && s_[pos_] == '.') {
            integer = false;
            ++pos_;
            digits();
        }
        if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
            integer = false;
            ++pos_;
            if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
            digits();
        }
        const std::string text(s_.substr(start, pos_ - start));
        JsonValue v;
        v.type_ = JsonValue::Type::Number;
        v.number_ = std::strtod(text.c_str(), nullptr);
        if (!std::isfinite(v.number_)) fail("number out of range");
        if (integer) {
            const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v.int_);
            v.integer_ = ec == std::errc() && end == text.data() + text.size();
        }
        return v;
    }

    unsigned hex4() {
        if (pos_ + 4 > s_.size()) fail("truncated \\u escape");
        unsigned value = 0;
        for (int i = 0; i < 4; ++i) {
            const char h = s_[pos_++];
            value <<= 4;
            if (h >= '0' && h <= '9') value |= static_cast<unsigned>(h - '0');
            else if (h >= 'a' && h <= 'f') value |= static_cast<unsigned>(h - 'a' + 10);
            else if (h >= 'A' && h <= 'F') value |= static_cast<unsigned>(h - 'A' + 10);
            else fail("bad hex digit in a \\u escape");
        }
        return value;
    }

    static void append_utf8(std::string& out, unsigned cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    std::string string() {
        ++pos_; // opening quote
        std::string out;
        const size_t start = pos_;
        for (;;) {
            if (pos_ >= s_.size()) fail("unterminated string");
            const auto c = static_cast<unsigned char>(s_[pos_]);
            if (c == '"') {
                ++pos_;
                break;
            }
            if (c < 0x20) fail("control character in a string");
            if (c != '\\') {
                out += static_cast<char>(c);
                ++pos_;
                continue;
            }
            ++pos_;
            if (pos_ >= s_.size()) fail("unterminated escape");
            const char e = s_[pos_++];
            switch (e) {
            case '"': out += '"'; break;
            case '\\': out += '\\'; break;
            case '/': out += '/'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'u': {
                unsigned cp = hex4();
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (!(literal("\\u"))) fail("a high surrogate must be followed by a low one");
                    const unsigned low = hex4();
                    if (low < 0xDC00 || low > 0xDFFF) fail("a high surrogate must be followed by a low one");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    fail("lone low surrogate");
                }
                append_utf8(out, cp);
                break;
            }
            default: fail("unknown escape");
            }
        }
        if (!tokenizer::utf8::is_valid(out)) {
            pos_ = start;
            fail("string is not valid UTF-8");
        }
        return out;
    }

    std::string_view s_;
    unsigned max_depth_;
    size_t pos_ = 0;
};

JsonValue parse_json(std::string_view text, unsigned max_depth) { return JsonReader(text, max_depth).document(); }

} // namespace latent::server
