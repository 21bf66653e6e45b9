// Special-token partition (spec §5.2 step 1, llama.cpp tokenizer_st_partition).
//
// The reference procedure takes the special tokens one at a time, longest text first, and lets
// each claim its leftmost non-overlapping occurrences inside the raw text the earlier tokens
// left. This class gives the same result in one pass over the text: a byte trie finds every
// occurrence of every special text, the occurrences are ranked by (text length desc, id asc,
// position asc), and each is accepted when none of its bytes has been claimed yet.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace latent::tokenizer {

class SpecialTokenMatcher {
public:
    // One piece of the partitioned text: either raw text [begin, end) or a special token.
    struct Fragment {
        size_t begin = 0;
        size_t end = 0;
        int32_t token = -1; // -1: raw text
    };

    SpecialTokenMatcher() = default;
    // `always` tokens are matched on every call (USER_DEFINED); `on_request` tokens only when
    // parse_special is set (CONTROL, UNKNOWN). Empty texts are ignored.
    void add(int32_t id, std::string_view text, bool always);

    // Partitions text into raw and special fragments, in order, covering all of it.
    std::vector<Fragment> partition(std::string_view text, bool parse_special) const;

    bool empty() const { return nodes_.size() <= 1; }

private:
    struct Node {
        std::vector<int32_t> always;     // ids whose text ends here, ascending
        std::vector<int32_t> on_request; // ids whose text ends here, ascending
        uint32_t depth = 0;              // text length in bytes
    };
    int32_t child(int32_t node, uint8_t byte) const;

    std::vector<Node> nodes_{Node{}}; // node 0 is the root
    std::unordered_map<uint64_t, int32_t> edges_; // (node << 8 | byte) -> child
};

// The slow reference: llama.cpp's procedure, token by token over a fragment list. `specials`
// holds (id, text) of the tokens eligible for this call.
std::vector<SpecialTokenMatcher::Fragment> partition_reference(
    std::string_view text, const std::vector<std::pair<int32_t, std::string>>& specials);

} // namespace latent::tokenizer
