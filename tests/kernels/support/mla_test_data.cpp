#include "mla_test_data.h"

#include "cpu/latent_attention.h"
#include "tensor/tensor_types.h"

#include <cmath>
#include <cstring>

namespace latent::test {

std::string MlaShape::name() const {
    return std::to_string(n_heads) + "h " + std::to_string(latent_dim) + "+" + std::to_string(rope_dim) + " stride " +
           std::to_string(stride()) + " " + (cache_type == kernels::QuantType::BF16 ? "bf16" : "f16") + " " +
           std::to_string(n_tokens) + "q/" + std::to_string(n_keys) + "k";
}

MlaInputs random_mla_inputs(const MlaShape& s, Random& random) {
    MlaInputs in;
    in.cache.resize(static_cast<size_t>(s.n_keys) * s.stride());
    for (uint16_t& v : in.cache) {
        const float x = static_cast<float>(random.normal());
        v = s.cache_type == kernels::QuantType::BF16 ? fp32_to_bf16(x) : fp32_to_fp16(x);
    }
    in.q_latent.resize(static_cast<size_t>(s.n_tokens) * s.n_heads * s.latent_dim);
    in.q_rope.resize(static_cast<size_t>(s.n_tokens) * s.n_heads * s.rope_dim);
    for (float& v : in.q_latent) v = static_cast<float>(random.normal());
    for (float& v : in.q_rope) v = static_cast<float>(random.normal());
    return in;
}

std::vector<float> mla_reference(const MlaShape& s, const MlaInputs& in) {
    // The engine's reference takes f16 or f32 rows: bf16 is widened to f32 (exactly).
    std::vector<float> widened;
    cpu::LatentCache cache;
    cache.row_width = s.width();
    cache.latent_width = s.latent_dim;
    if (s.cache_type == kernels::QuantType::BF16) {
        widened.resize(in.cache.size());
        for (size_t i = 0; i < in.cache.size(); ++i) widened[i] = bf16_to_fp32(in.cache[i]);
        cache.rows = reinterpret_cast<const uint8_t*>(widened.data());
        cache.type = TensorType::F32;
        cache.row_bytes = s.stride() * sizeof(float);
    } else {
        cache.rows = reinterpret_cast<const uint8_t*>(in.cache.data());
        cache.type = TensorType::F16;
        cache.row_bytes = s.stride() * sizeof(uint16_t);
    }
    std::vector<float> out(static_cast<size_t>(s.n_tokens) * s.n_heads * s.latent_dim);
    std::vector<float> queries(static_cast<size_t>(s.n_heads) * s.width());
    for (uint32_t t = 0; t < s.n_tokens; ++t) {
        for (uint32_t h = 0; h < s.n_heads; ++h) {
            const size_t row = static_cast<size_t>(t) * s.n_heads + h;
            std::memcpy(&queries[h * s.width()], &in.q_latent[row * s.latent_dim], s.latent_dim * sizeof(float));
            std::memcpy(&queries[h * s.width() + s.latent_dim], &in.q_rope[row * s.rope_dim], s.rope_dim * sizeof(float));
        }
        const uint32_t visible = s.n_keys - s.n_tokens + t + 1;
        cpu::latent_attention_reference(queries.data(), s.n_heads, cache, visible, s.scale,
                                        &out[static_cast<size_t>(t) * s.n_heads * s.latent_dim]);
    }
    return out;
}

} // namespace latent::test
