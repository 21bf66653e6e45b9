// RMSNorm (optionally fused with int8 activation quantisation) and YaRN RoPE on the rope part of
// each head. All pointers are device pointers; launches are asynchronous on `stream`. Shapes are
// checked before launching; a bad argument throws std::invalid_argument naming it.
#pragma once

#include "device.h"

#include <cstddef>
#include <cstdint>

namespace latent::kernels {

// y[t] = (x[t] * s_t) * gain with s_t = 1 / sqrt(mean(x[t]^2) + eps), for n_tokens rows of
// `width` floats (the engine's rms_norm_rows). y may be x.
void rms_norm(float* y, const float* x, const float* gain, int64_t width, int64_t n_tokens, float eps,
              gpu::Stream stream = {});

// Bytes of an int8 activation buffer for n_tokens rows of `width` values: the quants
// (n_tokens, width) as int8, then at the next 16-byte boundary one float scale per 32 values
// (n_tokens, width / 32) — the layout of matvec_quant.h's q8 activations.
std::size_t q8_rows_bytes(int64_t width, int64_t n_tokens);

// rms_norm, then each 32 normalised values quantised with the CPU backend's Q8_32 rule:
// d = max|y| / 127, q = round-to-even(y * (127 / max|y|)) clamped to +-127; a block holding a
// NaN or infinity gets d = NaN and q = 0, a block of (near) zeros d = 0. Writes q8
// (q8_rows_bytes, 16-byte aligned) and, when y is not null, the floats too. width % 32 == 0.
void rms_norm_q8(void* q8, float* y, const float* x, const float* gain, int64_t width, int64_t n_tokens, float eps,
                 gpu::Stream stream = {});

// RoPE angles as the engine computes them (backend_common.cpp rope_angles): for pair i of a
// token at position p, theta_extrap = p * theta_scale^i by repeated float multiplication,
// theta_interp = freq_scale * theta_extrap, and with YaRN the blend
// theta = theta_interp * (1 - r) + theta_extrap * r with r = 1 - clamp((i - low) / max(0.001, high - low), 0, 1).
struct RopeParams {
    uint32_t rope_dim = 0;     // rotated values per head (even, <= 256)
    float theta_scale = 1.0f;  // rope_freq_base^(-2 / rope_dim), computed on the host in float
    float freq_scale = 1.0f;   // 1 / rope scaling factor
    bool yarn = false;
    float yarn_low_dim = 0.0f; // correction range in pair indices
    float yarn_high_dim = 0.0f;
};

RopeParams rope_params(uint32_t rope_dim, float freq_base, float freq_scale, bool yarn, float yarn_low_dim,
                       float yarn_high_dim);

// Rotates the interleaved pairs (x[2i], x[2i+1]) of the rope part of every head in place:
// head h of token t starts at x + t * token_stride + h * head_stride + rope_offset.
// positions: n_tokens int32 values in device memory (so a captured graph reads the current ones).
void rope(float* x, const int32_t* positions, int64_t n_tokens, int64_t n_heads, int64_t token_stride,
          int64_t head_stride, int64_t rope_offset, const RopeParams& params, gpu::Stream stream = {});

} // namespace latent::kernels
