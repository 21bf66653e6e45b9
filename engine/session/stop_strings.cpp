#include "session/stop_strings.h"

#include <algorithm>

namespace latent {

namespace {

bool is_utf8_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

} // namespace

StopStringFilter::StopStringFilter(std::vector<std::string> stop_strings) {
    for (std::string& s : stop_strings) {
        if (!s.empty()) stop_strings_.push_back(std::move(s));
    }
}

std::string StopStringFilter::push(std::string_view text) {
    if (stopped()) return {};
    text_.append(text);

    // A match cannot start before emitted_: any earlier start would have been a partial match
    // at the end of the text when it was emitted, and partial matches are held back.
    size_t best_pos = npos;
    for (size_t i = 0; i < stop_strings_.size(); ++i) {
        const size_t pos = text_.find(stop_strings_[i], emitted_);
        if (pos != std::string::npos && (best_pos == npos || pos < best_pos)) {
            best_pos = pos;
            matched_ = i;
        }
    }
    if (best_pos != npos) {
        text_.resize(best_pos);
        std::string out = text_.substr(emitted_);
        emitted_ = text_.size();
        return out;
    }

    size_t end = text_.size() - partial_match_length();
    // Never cut inside a UTF-8 character (only possible with a stop string that is not itself
    // well-formed UTF-8, but the caller is promised complete characters).
    while (end > emitted_ && end < text_.size() && is_utf8_continuation(text_[end])) --end;
    std::string out = text_.substr(emitted_, end - emitted_);
    emitted_ = end;
    return out;
}

std::string StopStringFilter::finish() {
    if (stopped()) return {};
    std::string out = text_.substr(emitted_);
    emitted_ = text_.size();
    return out;
}

size_t StopStringFilter::partial_match_length() const {
    const std::string_view pending = std::string_view(text_).substr(emitted_);
    size_t longest = 0;
    for (const std::string& stop : stop_strings_) {
        for (size_t length = std::min(stop.size() - 1, pending.size()); length > longest; --length) {
            if (pending.ends_with(std::string_view(stop).substr(0, length))) {
                longest = length;
                break;
            }
        }
    }
    return longest;
}

} // namespace latent
