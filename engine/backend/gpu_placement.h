// Where each part of a model runs on the cuda backend, decided before anything is uploaded from
// the VRAM plan (vram_plan.h) and the GPU's free memory:
//   1. everything on the GPU when the plan fits;
//   2. otherwise the routed experts of the first N MoE layers stay in host memory (the mapped
//      file) and run on the CPU kernels, while attention, the shared experts, dense layers, the
//      router of every other layer and the output head run on the GPU. N is the smallest count
//      that fits (routed experts are 90%+ of a DeepSeek MoE's bytes, and a decode step reads
//      only K/E of them, so they cost the CPU the least per byte moved off the GPU);
//   3. the last resort, when even N = every MoE layer does not fit: the first L layers run whole
//      on the CPU (attention with its cache in host memory, the FFN, the token embedding), the
//      rest on the GPU from the residual stream the CPU hands over (one copy per batch). L is
//      the smallest count that fits; such a model is mostly CPU-bound, but the GPU still takes
//      the layers and the output head it can hold;
//   4. when even every layer on the CPU does not fit (the output head and work buffers alone are
//      too big), the model does not fit: the cuda backend refuses with the numbers and `auto`
//      runs on the CPU.
// `experts_on_cpu` and `layers_on_cpu` in BackendOptions override N and L (the CLI's
// --experts-on-cpu N|all and --layers-on-cpu N).
#pragma once

#include "backend/backend.h"
#include "backend/vram_plan.h"

#include <cstdint>
#include <string>
#include <vector>

namespace latent {

struct GpuPlacement {
    uint32_t n_layers = 0;            // layers of the model
    uint32_t n_moe_layers = 0;        // MoE layers of the model
    uint32_t experts_on_cpu = 0;      // the first this many MoE layers keep routed experts on the host
    std::vector<bool> layer_experts_on_cpu; // per layer (false for dense layers)
    uint32_t layers_on_cpu = 0;       // the first this many layers run whole on the CPU
    std::vector<bool> layer_on_cpu;   // per layer
    uint64_t device_bytes = 0;        // planned GPU memory: weights on the GPU + cache + work
    uint64_t device_weight_bytes = 0; // weights uploaded
    uint64_t host_expert_bytes = 0;   // routed expert weights read from host memory
    uint64_t host_layer_bytes = 0;    // the other weights of whole CPU layers (and the embedding)
    uint64_t host_cache_bytes = 0;    // the KV cache of whole CPU layers, in host memory
    uint64_t free_bytes = 0;          // free GPU memory the decision was made against
    bool fits = false;                // device_bytes <= free_bytes (always true when forced? no: checked)
    VramPlan plan;                    // the all-on-GPU plan

    uint64_t host_bytes() const { return host_expert_bytes + host_layer_bytes + host_cache_bytes; }

    // "all on the GPU: 9.7 GiB of 79.1 GiB free", "routed experts of 12 of 26 MoE layers on the
    // CPU (4.1 GiB in host memory): 7.6 GiB on the GPU (…) of 7.9 GiB free" or "layers 0–9 of 27
    // whole on the CPU, routed experts of all 26 MoE layers on the CPU (…)".
    std::string describe() const;
};

// Bytes of the routed expert tensors (gate, up, down exps) of layer `il` (0 for a dense layer).
uint64_t routed_expert_bytes(const Model& model, uint32_t il);

// Bytes of layer `il`'s bound tensors other than its routed experts.
uint64_t layer_other_bytes(const Model& model, uint32_t il);

// The placement for `options` on a GPU with `free_bytes` free. With options.experts_on_cpu >= 0
// (options.layers_on_cpu >= 0) that count is used, clamped to the model's layers, and `fits`
// says whether it fits.
GpuPlacement plan_gpu_placement(const Model& model, const BackendOptions& options, uint64_t free_bytes);

} // namespace latent
