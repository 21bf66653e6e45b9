// Stop strings over streamed text. Generated text arrives piece by piece; a stop string may be
// split across pieces, so text that could still turn out to be the start of a stop string is
// held back until the next pieces decide it (as llama.cpp's server does). The caller never sees
// the stop string itself nor anything after it.
//
// Example, stop string "END":  push("abc E") → "abc "   ("E" held: could start "END")
//                              push("ND more") → ""     (stopped; text() == "abc ")
//                              push("x") → "", push("E") → "" …
// Example, not a stop:         push("E")  → ""
//                              push("gg") → "Egg"       (released: "Egg" cannot become "END")
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace latent {

class StopStringFilter {
public:
    // Empty strings in the list are ignored.
    explicit StopStringFilter(std::vector<std::string> stop_strings);

    // Appends generated text; returns the part of it (and of earlier held-back text) that is now
    // certain not to belong to a stop string. Once a stop string has been found, returns the
    // text before it that was still held back, and ignores everything pushed afterwards.
    std::string push(std::string_view text);

    // Releases whatever is still held back (generation ended for another reason, so a partial
    // stop string is just text). Returns "" once stopped.
    std::string finish();

    bool stopped() const { return matched_ != npos; }
    // The stop string that ended the text (valid when stopped()).
    const std::string& matched() const { return stop_strings_[matched_]; }
    // All accepted text: emitted plus held back; once stopped, the text before the stop string.
    const std::string& text() const { return text_; }
    // Bytes of text() handed out so far by push() / finish().
    size_t emitted() const { return emitted_; }

private:
    static constexpr size_t npos = static_cast<size_t>(-1);

    // Length of the longest suffix of text_[emitted_, end) that is a proper prefix of a stop string.
    size_t partial_match_length() const;

    std::vector<std::string> stop_strings_;
    std::string text_;
    size_t emitted_ = 0;   // text_[0, emitted_) was returned to the caller
    size_t matched_ = npos; // index into stop_strings_ of the string that stopped the text
};

} // namespace latent
