#include "model/model_stats.h"

#include <algorithm>

namespace latent {

namespace {

bool is_routed_expert(const LayerWeights& layer, const gguf::TensorInfo* tensor) {
    return tensor == layer.ffn_gate_exps || tensor == layer.ffn_up_exps || tensor == layer.ffn_down_exps;
}

} // namespace

ModelStats compute_model_stats(const ModelConfig& config, const ModelWeights& weights) {
    ModelStats stats;
    stats.unused_tensors = weights.unused_tensors.size();

    const auto add_totals = [&](const gguf::TensorInfo& tensor) {
        const uint64_t elements = tensor.element_count();
        stats.total_params += elements;
        stats.total_bytes += tensor.size_bytes;
        auto it = std::find_if(stats.by_type.begin(), stats.by_type.end(),
                               [&](const TypeTotals& t) { return t.type == tensor.type; });
        if (it == stats.by_type.end()) {
            stats.by_type.push_back(TypeTotals{tensor.type, 0, 0, 0});
            it = stats.by_type.end() - 1;
        }
        it->tensors += 1;
        it->elements += elements;
        it->bytes += tensor.size_bytes;
    };

    // Per-expert parameters are whole matrices, so used/total of a stacked tensor is exact.
    uint64_t used_expert_params = 0;
    for (const gguf::TensorInfo* tensor : weights.tensors()) add_totals(*tensor);
    for (const LayerWeights& layer : weights.layers) {
        for (const gguf::TensorInfo* tensor : layer.tensors()) {
            if (!is_routed_expert(layer, tensor)) continue;
            const uint64_t elements = tensor->element_count();
            stats.routed_expert_params += elements;
            if (config.n_expert > 0) used_expert_params += elements / config.n_expert * config.n_expert_used;
        }
    }
    stats.active_params = stats.total_params - stats.routed_expert_params + used_expert_params;

    std::sort(stats.by_type.begin(), stats.by_type.end(), [](const TypeTotals& a, const TypeTotals& b) {
        return static_cast<uint32_t>(a.type) < static_cast<uint32_t>(b.type);
    });
    return stats;
}

KvCacheFootprint kv_cache_footprint(const ModelConfig& config, uint32_t element_bytes) {
    KvCacheFootprint footprint;
    footprint.mla_bytes_per_token =
        uint64_t{config.n_layer} * (uint64_t{config.kv_lora_rank} + config.qk_rope_dim) * element_bytes;
    footprint.mha_bytes_per_token = uint64_t{config.n_layer} * config.n_head *
                                    (uint64_t{config.qk_head_dim} + config.v_head_dim) * element_bytes;
    if (footprint.mha_bytes_per_token > 0)
        footprint.reduction_percent = 100.0 * (1.0 - static_cast<double>(footprint.mla_bytes_per_token) /
                                                         static_cast<double>(footprint.mha_bytes_per_token));
    return footprint;
}

} // namespace latent
