#include "backend/vram_plan.h"

#include "model/model_stats.h"

#include <algorithm>
#include <cstdio>

namespace latent {

VramPlan plan_vram(const Model& model, const BackendOptions& options) {
    const ModelConfig& c = model.config();
    VramPlan plan;
    plan.n_ctx = options.n_ctx;
    plan.cache_type = options.cache_type;
    plan.weights_bytes = compute_model_stats(c, model.weights()).total_bytes;

    const uint64_t element_bytes = kv_cache_element_bytes(options.cache_type);
    const uint64_t n_ctx = options.n_ctx;
    plan.kv_cache_bytes = uint64_t{c.n_layer} * (uint64_t{c.kv_lora_rank} + c.qk_rope_dim) * n_ctx * element_bytes;

    // Per-token float32 activations of one prefill chunk (see the header for each term).
    const uint64_t chunk = std::min<uint64_t>(kVramPrefillChunk, n_ctx);
    const uint64_t heads = c.n_head;
    const uint64_t latent_row = uint64_t{c.kv_lora_rank} + c.qk_rope_dim;
    const uint64_t logits = c.n_vocab;
    const uint64_t hidden = 2 * uint64_t{c.n_embd};
    const uint64_t query = uint64_t{c.q_lora_rank} + heads * c.qk_head_dim + heads * latent_row;
    const uint64_t attention = latent_row + heads * (uint64_t{c.kv_lora_rank} + c.v_head_dim);
    const uint64_t scores = n_ctx;
    const uint64_t dense_ffn = 2 * uint64_t{c.n_ff};
    const uint64_t moe_ffn = 2 * (uint64_t{c.n_expert_used} + c.n_expert_shared) * c.n_ff_expert + c.n_expert;
    const uint64_t ffn = std::max(dense_ffn, moe_ffn);
    const uint64_t per_token = logits + hidden + query + attention + scores + ffn;
    plan.work_bytes = 4 * chunk * per_token + kVramFixedWorkBytes;
    return plan;
}

std::string format_memory_size(uint64_t bytes, int decimals) {
    static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB"};
    const double value = static_cast<double>(bytes);
    if (value < 0.1 * 1024.0) return std::to_string(bytes) + " bytes";
    int unit = 0;
    double scaled = value / 1024.0;
    while (unit < 2 && scaled / 1024.0 >= 0.1) {
        scaled /= 1024.0;
        ++unit;
    }
    char text[64];
    std::snprintf(text, sizeof text, "%.*f %s", std::clamp(decimals, 0, 6), scaled, kUnits[unit]);
    return text;
}

std::string describe_vram_shortfall(const VramPlan& plan, uint64_t free_bytes, std::string_view device_name) {
    const uint64_t needed = plan.total_bytes();
    int decimals = 1;
    while (decimals < 3 && format_memory_size(needed, decimals) == format_memory_size(free_bytes, decimals)) ++decimals;
    std::string text = "the model needs " + format_memory_size(needed, decimals) + " of GPU memory (weights " +
                       format_memory_size(plan.weights_bytes) + ", KV cache " + format_memory_size(plan.kv_cache_bytes) + " for " +
                       std::to_string(plan.n_ctx) + " tokens, work buffers " + format_memory_size(plan.work_bytes) + ") but ";
    text += device_name.empty() ? std::string_view("the GPU") : device_name;
    text += " has " + format_memory_size(free_bytes, decimals) + " free";
    return text;
}

} // namespace latent
