// The small kernels of the CUDA backend's forward pass that the op families do not cover:
// latent cache rows written at device-held positions, the per-head products of the absorbed
// attention (W_UK,hᵀ q_nope and W_UV,h o_latent for every head in one launch), strided row
// copies, SwiGLU's SiLU(g)·u and float → f16/bf16 conversion for the prefill GEMMs.
// All pointers are device pointers; launches are asynchronous on `stream`; shapes are checked
// before launching (std::invalid_argument naming the bad argument).
#pragma once

#include "dequant.h"
#include "device.h"
#include "quant_types.h"

#include <cstddef>
#include <cstdint>

namespace latent::kernels {

// cache row positions[t] = [latent[t] (latent_dim) ‖ rope[t] (rope_dim)] rounded to cache_type
// (F16 or BF16), for n_tokens tokens; row r starts at cache + r * row_stride elements. A position
// outside [0, n_rows) is skipped (never written out of bounds). latent and rope rows are dense.
void store_cache_rows(void* cache, QuantType cache_type, uint32_t row_stride, uint32_t n_rows, const float* latent,
                      const float* rope, uint32_t latent_dim, uint32_t rope_dim, const int32_t* positions, int64_t n_tokens,
                      gpu::Stream stream = {});

// Per-head matrix products: y[t, h, r] = Σ_c W[h, r, c] · x[t, h, c] for n_tokens tokens and
// n_heads heads, W (n_heads, rows, cols) dense in F32, F16 or BF16. x element (t, h, c) is at
// x + t * x_token_stride + h * x_head_stride + c; y element (t, h, r) at
// y + t * y_token_stride + h * y_head_stride + r. Float accumulation.
struct HeadMatmul {
    const void* w = nullptr;
    QuantType type = QuantType::F16;
    int64_t n_heads = 0, rows = 0, cols = 0;
    const float* x = nullptr;
    int64_t x_token_stride = 0, x_head_stride = 0;
    float* y = nullptr;
    int64_t y_token_stride = 0, y_head_stride = 0;
    int64_t n_tokens = 0;
};
void head_matmul(const HeadMatmul& args, gpu::Stream stream = {});

// dst row i (width floats) = src row i, for n_rows rows at the given strides (in floats).
void copy_rows(float* dst, int64_t dst_stride, const float* src, int64_t src_stride, int64_t n_rows, int64_t width,
               gpu::Stream stream = {});

// out[i] = SiLU(gate[i]) · up[i] = gate[i] / (1 + e^-gate[i]) · up[i] for n values.
void silu_mul(float* out, const float* gate, const float* up, std::size_t n, gpu::Stream stream = {});

// out[i] = x[i] rounded to nearest-even in `format`, for n values (16-bit output).
void to_half(void* out, HalfFormat format, const float* x, std::size_t n, gpu::Stream stream = {});

} // namespace latent::kernels
