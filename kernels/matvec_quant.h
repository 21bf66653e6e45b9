// Quantised matrix-vector products for decode, and the small-batch (2-16 tokens) products of
// speculative / multi-sequence decode: y[t][o] = sum_i W[o][i] x[t][i] for a weight matrix W in
// its stored type (every QuantType), reading each weight byte once for all tokens.
//
// Activation side, chosen per type by accuracy:
//   F32, F16, BF16 weights: float activations, float FMAs (the weights are exact to float; an
//     int8 activation would be the largest error in the product);
//   every block type: activations quantised per 32 values to int8 (quantize_q8, the CPU
//     backend's Q8_32 rule) and dotted with dp4a. The error this adds is at most
//     sum_i |W_i| d_i / 2 (d_i = the activation block's scale) and typically ~0.3% of |y|, the
//     same rounding the reference implementation's CPU path applies; the conformance kit's
//     fast-path tolerance (mean |dlogit| <= 0.15) leaves ample room (the kit's own Q8 path
//     differs from the exact answer by 0.06-0.10).
//
// All pointers are device pointers; launches are asynchronous on `stream`. Shapes and types are
// checked before launching; a bad argument throws std::invalid_argument naming it.
#pragma once

#include "device.h"
#include "quant_types.h"

#include <cstddef>
#include <cstdint>

namespace latent::kernels {

// A stored weight matrix on the device: `rows` packed rows of `cols` elements.
struct QuantMatrix {
    QuantType type = QuantType::F32;
    const void* data = nullptr; // 16-byte aligned
    int64_t rows = 0;           // output features
    int64_t cols = 0;           // input features: a multiple of 256 for super-block types, of 32 otherwise
};

inline constexpr int kMaxBatchTokens = 16;

// Whether `type`'s kernels take int8 (quantize_q8) activations rather than floats.
bool uses_q8_activations(QuantType type);

// Bytes of a Q8 activation buffer for n_tokens x cols values: int8 quants (n_tokens, cols), then
// at a 16-byte aligned offset one float scale per 32 values.
size_t q8_activation_bytes(int64_t cols, int64_t n_tokens);

// x (n_tokens, cols) floats -> q8 (q8_activation_bytes(cols, n_tokens) bytes, 16-byte aligned).
// cols must be a multiple of 32.
void quantize_q8(const float* x, int64_t cols, int64_t n_tokens, void* q8, gpu::Stream stream = {});

// y (n_tokens, w.rows) = W x for 1 <= n_tokens <= kMaxBatchTokens; block-type weights are read
// once for all tokens, float-type weights once per 8 tokens. For float weight types x is
// (n_tokens, w.cols) floats (16-byte aligned) and x_q8 is ignored; for block types x_q8 is
// quantize_q8's output for the same tokens and x is ignored (either may be null when unused).
void matmul_quant(const QuantMatrix& w, const float* x, const void* x_q8, int64_t n_tokens, float* y, gpu::Stream stream = {});

// Bytes of one packed row of `cols` elements of `type` (0 when cols is not whole blocks).
size_t weight_row_bytes(QuantType type, int64_t cols);

// Bytes a matmul_quant call moves through DRAM (weights once, activations, outputs), for GB/s.
size_t matmul_quant_bytes(const QuantMatrix& w, int64_t n_tokens);

} // namespace latent::kernels
