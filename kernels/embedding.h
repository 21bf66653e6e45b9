// Token embedding gather: the rows of the embedding table for a batch of token ids, as floats.
#pragma once

#include "device.h"

#include <cstddef>
#include <cstdint>

namespace latent::kernels {

// GGUF type ids (ggml_type) of the float tables (the same numbers as QuantType in quant_types.h
// and latent::TensorType); every QuantType id is accepted.
inline constexpr uint32_t kEmbeddingF32 = 0, kEmbeddingF16 = 1, kEmbeddingBF16 = 30;

// out[t] = table row token_ids[t] converted to float, for n_tokens ids in device memory (read on
// the device, so a captured graph gathers the current ids). table: n_vocab rows of `cols`
// elements of `gguf_type` (any QuantType: F32, F16, BF16 and the block types, decoded exactly as
// the engine's dequantize_row), rows contiguous. An id outside [0, n_vocab) yields a row of NaN
// (never an out-of-bounds read). Throws std::invalid_argument for a type id outside QuantType or
// a block type whose block size (32 or 256) does not divide cols.
void embedding_gather(float* out, const void* table, uint32_t gguf_type, int64_t cols, int64_t n_vocab,
                      const int32_t* token_ids, int64_t n_tokens, gpu::Stream stream = {});

} // namespace latent::kernels
