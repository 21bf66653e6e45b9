// A synthetic byte-level BPE vocabulary for generated models (model_builder.h), in the form a
// DeepSeek GGUF stores it (deepseek2-gguf.md §5.1, §5.4):
//   * the 256 byte tokens in GPT-2 bytes_to_unicode form ("Ġ" for space, "Ċ" for LF …);
//   * merges learned by plain BPE on a fixed English sample text (so common English words
//     become single tokens and tokenisation is meaningful), then, if the vocabulary is larger
//     than the sample supports, filler merges that join two existing tokens into a new one;
//   * the special tokens: CONTROL `<｜begin▁of▁sentence｜>`, `<｜end▁of▁sentence｜>`,
//     `<｜User｜>`, `<｜Assistant｜>` and USER_DEFINED `<think>`, `</think>`, at consecutive ids.
// Every merge is valid: both sides are tokens, and the joined text is a new token (each merge
// adds exactly one token, as in real BPE training). Token texts are unique.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace latent {

// GGUF token types (tokenizer.ggml.token_type).
inline constexpr int32_t kTokenNormal = 1;
inline constexpr int32_t kTokenControl = 3;
inline constexpr int32_t kTokenUserDefined = 4;

struct SyntheticVocab {
    std::vector<std::string> tokens;  // index = token id; byte-level-encoded text
    std::vector<int32_t> token_types; // kTokenNormal / kTokenControl / kTokenUserDefined
    std::vector<std::string> merges;  // rank order; "left right"
    uint32_t bos_id = 0;              // <｜begin▁of▁sentence｜>
    uint32_t eos_id = 0;              // <｜end▁of▁sentence｜>
    uint32_t user_id = 0;             // <｜User｜>
    uint32_t assistant_id = 0;        // <｜Assistant｜>
    uint32_t think_id = 0;            // <think>
    uint32_t think_end_id = 0;        // </think>
};

inline constexpr uint32_t kSyntheticSpecialCount = 6;

// n_vocab tokens in all; the six special tokens take ids [special_start, special_start + 6),
// normal tokens fill the other ids in order. Throws latent::Error when n_vocab < 256 + 6 or the
// special block does not fit. Deterministic: the same arguments give the same vocabulary.
SyntheticVocab make_synthetic_vocab(uint32_t n_vocab, uint32_t special_start);

// GPT-2 bytes_to_unicode: the UTF-8 text of the token standing for one byte.
std::string gpt2_byte_token(uint8_t byte);

// The fixed English sample text the merges are learned from (also handy for tokenizer tests).
std::string_view synthetic_vocab_sample_text();

} // namespace latent
