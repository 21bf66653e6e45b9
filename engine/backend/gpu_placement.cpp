#include "backend/gpu_placement.h"

#include <algorithm>

namespace latent {

uint64_t routed_expert_bytes(const Model& model, uint32_t il) {
    const LayerWeights& lw = model.weights().layers.at(il);
    if (!lw.is_moe) return 0;
    uint64_t bytes = 0;
    for (const gguf::TensorInfo* t : {lw.ffn_gate_exps, lw.ffn_up_exps, lw.ffn_down_exps}) {
        if (t) bytes += t->size_bytes;
    }
    return bytes;
}

uint64_t layer_other_bytes(const Model& model, uint32_t il) {
    uint64_t bytes = 0;
    for (const gguf::TensorInfo* t : model.weights().layers.at(il).tensors()) bytes += t->size_bytes;
    return bytes - routed_expert_bytes(model, il);
}

GpuPlacement plan_gpu_placement(const Model& model, const BackendOptions& options, uint64_t free_bytes) {
    const ModelConfig& c = model.config();
    const ModelWeights& w = model.weights();
    GpuPlacement p;
    p.plan = plan_vram(model, options);
    p.free_bytes = free_bytes;
    p.n_layers = c.n_layer;
    p.n_moe_layers = c.n_moe_layers();
    p.layer_experts_on_cpu.assign(c.n_layer, false);
    p.layer_on_cpu.assign(c.n_layer, false);
    const uint64_t layer_cache_bytes = p.plan.kv_cache_bytes / std::max<uint32_t>(c.n_layer, 1);
    // The embedding moves to the CPU with the first layer unless the output head shares it.
    const uint64_t embedding_bytes = w.token_embd && w.token_embd != w.output ? w.token_embd->size_bytes : 0;

    // n MoE layers' experts (counting those of whole CPU layers) and the first `layers` layers
    // whole on the CPU.
    auto apply = [&](uint32_t n, uint32_t layers) {
        p.layers_on_cpu = layers;
        p.host_expert_bytes = p.host_layer_bytes = p.host_cache_bytes = 0;
        uint32_t seen = 0;
        for (uint32_t il = 0; il < c.n_layer; ++il) {
            const bool whole = il < layers;
            const bool experts = c.layer_is_moe(il) && (whole || seen < n);
            if (experts) ++seen;
            p.layer_on_cpu[il] = whole;
            p.layer_experts_on_cpu[il] = experts;
            if (experts) p.host_expert_bytes += routed_expert_bytes(model, il);
            if (whole) {
                p.host_layer_bytes += layer_other_bytes(model, il);
                p.host_cache_bytes += layer_cache_bytes;
            }
        }
        if (layers > 0) p.host_layer_bytes += embedding_bytes;
        p.experts_on_cpu = seen;
        p.device_weight_bytes = p.plan.weights_bytes - p.host_expert_bytes - p.host_layer_bytes;
        p.device_bytes = p.plan.total_bytes() - p.host_expert_bytes - p.host_layer_bytes - p.host_cache_bytes;
        p.fits = p.device_bytes <= free_bytes;
    };

    const bool forced_experts = options.experts_on_cpu >= 0, forced_layers = options.layers_on_cpu >= 0;
    const uint32_t experts = forced_experts ? std::min<uint32_t>(static_cast<uint32_t>(options.experts_on_cpu), p.n_moe_layers) : 0;
    const uint32_t layers = forced_layers ? std::min<uint32_t>(static_cast<uint32_t>(options.layers_on_cpu), c.n_layer) : 0;
    if (forced_experts && forced_layers) {
        apply(experts, layers);
        return p;
    }
    if (!forced_experts) {
        // The fewest MoE layers' experts on the CPU, with the forced (or no) whole layers.
        for (uint32_t n = 0; n <= p.n_moe_layers; ++n) {
            apply(n, layers);
            if (p.fits) return p;
        }
        if (forced_layers) return p;
    }
    // The last resort: the fewest whole layers on the CPU.
    const uint32_t n = forced_experts ? experts : p.n_moe_layers;
    for (uint32_t l = 0; l <= c.n_layer; ++l) {
        apply(n, l);
        if (p.fits) return p;
    }
    return p; // every layer on the CPU and still too big: fits == false
}

std::string GpuPlacement::describe() const {
    std::string text;
    if (layers_on_cpu > 0) {
        text = layers_on_cpu == 1 ? "layer 0" : "layers 0–" + std::to_string(layers_on_cpu - 1);
        text += " of " + std::to_string(n_layers) + " whole on the CPU";
    }
    if (experts_on_cpu > 0) {
        if (!text.empty()) text += ", ";
        if (experts_on_cpu >= n_moe_layers) text += "routed experts of all " + std::to_string(n_moe_layers) + " MoE layers on the CPU";
        else text += "routed experts of " + std::to_string(experts_on_cpu) + " of " + std::to_string(n_moe_layers) + " MoE layers on the CPU";
    }
    if (text.empty()) text = "all on the GPU";
    else text += " (" + format_memory_size(host_bytes()) + " in host memory)";
    text += ": " + format_memory_size(device_bytes) + " on the GPU (weights " + format_memory_size(device_weight_bytes) +
            ", KV cache " + format_memory_size(plan.kv_cache_bytes - host_cache_bytes) + ", work " + format_memory_size(plan.work_bytes) +
            ") of " + format_memory_size(free_bytes) + " free";
    if (!fits) text += " — does not fit";
    return text;
}

} // namespace latent
