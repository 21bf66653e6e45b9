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

GpuPlacement plan_gpu_placement(const Model& model, const BackendOptions& options, uint64_t free_bytes) {
    const ModelConfig& c = model.config();
    GpuPlacement p;
    p.plan = plan_vram(model, options);
    p.free_bytes = free_bytes;
    p.n_moe_layers = c.n_moe_layers();
    p.layer_experts_on_cpu.assign(c.n_layer, false);

    auto apply = [&](uint32_t n) {
        p.experts_on_cpu = n;
        p.host_expert_bytes = 0;
        uint32_t seen = 0;
        for (uint32_t il = 0; il < c.n_layer; ++il) {
            const bool on_cpu = c.layer_is_moe(il) && seen++ < n;
            p.layer_experts_on_cpu[il] = on_cpu;
            if (on_cpu) p.host_expert_bytes += routed_expert_bytes(model, il);
        }
        p.device_weight_bytes = p.plan.weights_bytes - p.host_expert_bytes;
        p.device_bytes = p.plan.total_bytes() - p.host_expert_bytes;
        p.fits = p.device_bytes <= free_bytes;
    };

    if (options.experts_on_cpu >= 0) {
        apply(std::min<uint32_t>(static_cast<uint32_t>(options.experts_on_cpu), p.n_moe_layers));
        return p;
    }
    for (uint32_t n = 0; n <= p.n_moe_layers; ++n) {
        apply(n);
        if (p.fits) return p;
    }
    return p; // every MoE layer's experts on the CPU and still too big: fits == false
}

std::string GpuPlacement::describe() const {
    std::string text;
    if (experts_on_cpu == 0) {
        text = "all on the GPU";
    } else if (experts_on_cpu >= n_moe_layers) {
        text = "routed experts of all " + std::to_string(n_moe_layers) + " MoE layers on the CPU (" +
               format_memory_size(host_expert_bytes) + " in host memory)";
    } else {
        text = "routed experts of " + std::to_string(experts_on_cpu) + " of " + std::to_string(n_moe_layers) +
               " MoE layers on the CPU (" + format_memory_size(host_expert_bytes) + " in host memory)";
    }
    text += ": " + format_memory_size(device_bytes) + " on the GPU (weights " + format_memory_size(device_weight_bytes) +
            ", KV cache " + format_memory_size(plan.kv_cache_bytes) + ", work " + format_memory_size(plan.work_bytes) + ") of " +
            format_memory_size(free_bytes) + " free";
    if (!fits) text += " — does not fit";
    return text;
}

} // namespace latent
