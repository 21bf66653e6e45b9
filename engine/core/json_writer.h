// Minimal streaming JSON writer for CLI output (`--json`, `latent eval`). Produces compact,
// valid JSON; strings are escaped per RFC 8259 (invalid UTF-8 bytes become U+FFFD).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace latent {

class JsonWriter {
public:
    JsonWriter& begin_object();
    JsonWriter& end_object();
    JsonWriter& begin_array();
    JsonWriter& end_array();
    JsonWriter& key(std::string_view k);
    JsonWriter& value(std::string_view s);
    JsonWriter& value(const char* s) { return value(std::string_view(s)); }
    JsonWriter& value(int64_t v);
    JsonWriter& value(uint64_t v);
    JsonWriter& value(int v) { return value(static_cast<int64_t>(v)); }
    JsonWriter& value(uint32_t v) { return value(static_cast<uint64_t>(v)); }
    JsonWriter& value(double v, int significant_digits = 9);
    JsonWriter& value(bool v);
    JsonWriter& null();

    const std::string& str() const { return out_; }

    static std::string escape(std::string_view s); // with the surrounding quotes

private:
    void before_value();
    std::string out_;
    std::vector<bool> first_; // per open container: nothing written yet
    bool after_key_ = false;
};

} // namespace latent
