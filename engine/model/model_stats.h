// Size facts about a bound model, for `latent info` and the app's model card.
//
// Counting rule for active parameters (the llama.cpp / model-card convention): every weight that
// is not a routed expert counts in full, and each routed-expert tensor (ffn_gate_exps, ffn_up_exps,
// ffn_down_exps) counts n_expert_used / n_expert of its elements. Nothing else is excluded: the
// token embedding counts in full although a token reads only one row of it, norms and routers
// count, and a tied output head counts once. (DeepSeek's published "activated" figures leave out
// the input embedding, so they are lower by n_vocab·n_embd.)
#pragma once

#include "model/model_config.h"
#include "model/model_weights.h"
#include "tensor/tensor_types.h"

#include <cstdint>
#include <vector>

namespace latent {

// Totals over the bound tensors of one stored type.
struct TypeTotals {
    TensorType type = TensorType::F32;
    uint64_t tensors = 0;  // how many tensors have this type
    uint64_t elements = 0; // their elements (parameters)
    uint64_t bytes = 0;    // their stored bytes
};

struct ModelStats {
    uint64_t total_params = 0;        // elements of every distinct bound tensor
    uint64_t active_params = 0;       // per token, by the rule above
    uint64_t routed_expert_params = 0; // elements of the ffn_*_exps tensors (all experts)
    uint64_t total_bytes = 0;         // stored bytes of every distinct bound tensor
    std::vector<TypeTotals> by_type;  // ascending type id
    uint64_t unused_tensors = 0;      // tensors in the file the model does not use
};

ModelStats compute_model_stats(const ModelConfig& config, const ModelWeights& weights);

// KV-cache footprint of one token over all layers. The MLA latent cache keeps, per layer, the
// compressed latent and the shared RoPE key: n_layer·(kv_lora_rank + qk_rope_dim) values. An
// uncompressed multi-head cache of the same model would keep every head's key and value:
// n_layer·n_head·(qk_head_dim + v_head_dim) values.
struct KvCacheFootprint {
    uint64_t mla_bytes_per_token = 0;
    uint64_t mha_bytes_per_token = 0;
    double reduction_percent = 0.0; // 100·(1 − mla/mha)
};

// element_bytes: bytes per cached value (2 for an f16 cache, 4 for f32).
KvCacheFootprint kv_cache_footprint(const ModelConfig& config, uint32_t element_bytes = 2);

} // namespace latent
