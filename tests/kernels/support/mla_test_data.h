// Random latent caches and queries for the MLA attention kernel tests, and their reference
// through the engine (the oracle): cpu::latent_attention_reference (scores, softmax and weighted
// sum in double, head by head), called once per query token with that token's causal key count.
#pragma once

#include "quant_types.h"
#include "test_random.h"

#include <QMetaType>

#include <cstdint>
#include <string>
#include <vector>

namespace latent::test {

struct MlaShape {
    uint32_t n_heads = 1;
    uint32_t latent_dim = 64;  // kv_lora_rank
    uint32_t rope_dim = 32;    // qk_rope_dim
    uint32_t row_stride = 0;   // 0: latent_dim + rope_dim
    uint32_t n_tokens = 1;     // query tokens (the last n_tokens cache rows)
    uint32_t n_keys = 1;       // cache rows the last query token sees
    kernels::QuantType cache_type = kernels::QuantType::F16;
    float scale = 0.1147214f;  // V2-Lite's kq_scale

    uint32_t width() const { return latent_dim + rope_dim; }
    uint32_t stride() const { return row_stride ? row_stride : width(); }
    std::string name() const;
};

struct MlaInputs {
    std::vector<uint16_t> cache;  // n_keys rows of stride() f16/bf16 elements (padding random too)
    std::vector<float> q_latent;  // (n_tokens, n_heads, latent_dim)
    std::vector<float> q_rope;    // (n_tokens, n_heads, rope_dim)
};

// Latents ~ N(0, 1) (what RMSNorm leaves), rope keys and queries ~ N(0, 1): scores of a few
// units after the scale, so softmax is neither flat nor one-hot.
MlaInputs random_mla_inputs(const MlaShape& shape, Random& random);

// (n_tokens, n_heads, latent_dim) through cpu::latent_attention_reference.
std::vector<float> mla_reference(const MlaShape& shape, const MlaInputs& inputs);

} // namespace latent::test

Q_DECLARE_METATYPE(latent::test::MlaShape)
