// Token embedding gather: the rows of the embedding table for a batch of token ids, as floats.
#pragma once

#include "device.h"

#include <cstddef>
#include <cstdint>

namespace latent::kernels {

// GGUF type ids (ggml_type) of the tables embedding_gather reads (the same numbers as
// gpu::QuantType in quant_types.h and latent::TensorType).
inline constexpr uint32_t kEmbeddingF32 = 0, kEmbeddingF16 = 1, kEmbeddingBF16 = 30;

// out[t] = table row token_ids[t] converted to float, for n_tokens ids in device memory (read on
// the device, so a captured graph gathers the current ids). table: n_vocab rows of `cols`
// elements of `gguf_type`, rows contiguous. An id outside [0, n_vocab) yields a row of NaN
// (never an out-of-bounds read). Throws std::invalid_argument for a type it does not read
// (quantised tables come with the block decoders of quant_blocks.cuh).
void embedding_gather(float* out, const void* table, uint32_t gguf_type, int64_t cols, int64_t n_vocab,
                      const int32_t* token_ids, int64_t n_tokens, gpu::Stream stream = {});

} // namespace latent::kernels
