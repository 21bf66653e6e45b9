// Internal: vocabulary parsing rules shared by validation and the tokenizer's table building.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace latent::tokenizer {

struct MergeSides {
    std::string_view left;
    std::string_view right;
};

// llama.cpp's rule: split at the first space found at index >= 1 (so a left side may itself
// start with a space). nullopt when there is none.
std::optional<MergeSides> split_merge(std::string_view merge);

// "tokenizer.ggml.merges[i] = "...": problem".
std::string merge_error(size_t index, std::string_view merge, std::string_view problem);

} // namespace latent::tokenizer
