// Greedy and top-k helpers over rows of logits, on the device: what the sampler needs so that
// only k candidates (not the whole vocabulary) travel to the host.
#pragma once

#include "device.h"

#include <cstddef>
#include <cstdint>

namespace latent::kernels {

inline constexpr int kMaxTopK = 256;

// Device scratch bytes logits_argmax (k = 1) and logits_top_k need for n_rows rows of n_vocab.
std::size_t logits_scratch_bytes(int64_t n_vocab, int64_t n_rows, int k);

// ids[r] = the index of the highest logit of row r (n_rows rows of n_vocab floats), the lowest
// index on ties, NaN treated as -inf (the sampler's rule); -1 for a row with no logit above -inf.
// scratch: logits_scratch_bytes(n_vocab, n_rows, 1) bytes of device memory.
void logits_argmax(int32_t* ids, const float* logits, int64_t n_vocab, int64_t n_rows, void* scratch,
                   gpu::Stream stream = {});

// The k highest logits of each row, best first, ties by lower index (the sampler's top_k order):
// ids (n_rows, k) and values (n_rows, k). 1 <= k <= min(kMaxTopK, n_vocab). NaN ranks as -inf.
// scratch: logits_scratch_bytes(n_vocab, n_rows, k) bytes of device memory.
void logits_top_k(int32_t* ids, float* values, const float* logits, int64_t n_vocab, int64_t n_rows, int k, void* scratch,
                  gpu::Stream stream = {});

} // namespace latent::kernels
