// A strict JSON reader (RFC 8259) for HTTP request bodies: untrusted input, so it is bounded
// (nesting depth, and the caller limits the text's size), never recurses without limit, and
// names what is wrong with the byte offset. Writing goes through core/json_writer.h.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace latent::server {

class JsonValue {
public:
    enum class Type { Null, Bool, Number, String, Array, Object };

    Type type() const { return type_; }
    bool is_null() const { return type_ == Type::Null; }
    bool is_bool() const { return type_ == Type::Bool; }
    bool is_number() const { return type_ == Type::Number; }
    bool is_string() const { return type_ == Type::String; }
    bool is_array() const { return type_ == Type::Array; }
    bool is_object() const { return type_ == Type::Object; }

    bool as_bool() const { return bool_; }
    double as_number() const { return number_; }
    // Whether the number was written without fraction or exponent and fits an int64.
    bool is_integer() const { return type_ == Type::Number && integer_; }
    int64_t as_integer() const { return int_; }
    const std::string& as_string() const { return string_; }
    const std::vector<JsonValue>& items() const { return items_; }
    // Members in document order (a repeated key keeps its last value, as most readers do).
    const std::vector<std::pair<std::string, JsonValue>>& members() const { return members_; }
    // The member's value, or null when absent (or when this is not an object).
    const JsonValue* find(std::string_view key) const;

    static std::string_view type_name(Type type); // "null", "boolean", "number", "string", "array", "object"

private:
    friend class JsonReader;
    Type type_ = Type::Null;
    bool bool_ = false;
    bool integer_ = false;
    double number_ = 0.0;
    int64_t int_ = 0;
    std::string string_;
    std::vector<JsonValue> items_;
    std::vector<std::pair<std::string, JsonValue>> members_;
};

// Parses one JSON document. Throws latent::Error("invalid JSON at byte N: …") for anything that
// is not exactly one valid value (surrounding whitespace allowed), a nesting deeper than
// max_depth, or a string that is not valid UTF-8.
JsonValue parse_json(std::string_view text, unsigned max_depth = 64);

} // namespace latent::server
