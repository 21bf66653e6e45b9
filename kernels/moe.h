// Mixture-of-experts FFN on the device (deepseek2-gguf.md §4.10), for decode and prefill alike:
//
//   1. router logits z = W_gate_inp · x            matmul_quant (matvec_quant.h), 16 tokens a launch
//   2. moe_select_kernel (one block)               per token: softmax or sigmoid gating, selection
//        bias, group-limited top-k, renormalisation and scale — the semantics of the engine's
//        route_token (backend_common.cpp), ties to the lower index — then the tokens grouped by
//        expert on the device (histogram, scan, scatter) into a work list of (expert, token tile)
//        items, the shared experts as one more group holding every token;
//   3. moe_gate_up_kernel                          per work item and 32 rows of the expert:
//        gate and up rows dotted with the tile's tokens (weights read once per tile), SiLU(g)·u,
//        written as floats and as int8 per 32 (the down projection's activations);
//   4. moe_down_kernel                             per work item and 32 output rows: down rows
//        dotted with each (token, expert) pair's hidden vector;
//   5. moe_combine_kernel                          out = residual + Σ_k w_k·y_k + y_shared;
//   decode (one token): moe_down_decode_kernel does 4 and 5 in one launch.
// Expert ids and weights live only in device memory, so the launches (fixed grids sized for the
// worst case, blocks past the work list exit at once) can be captured in a CUDA graph.
//
// Weights are used in their stored types through quant_blocks.cuh / matvec_warp.cuh (block
// types against int8 activations with dp4a, float types against float activations, as
// matvec_quant). Each of the six expert matrices may have its own type (a Q4_K_M file mixes
// Q4_K gate/up, Q8_0/Q5_0 routed down and Q6_K/Q4_K shared down).
#pragma once

#include "device.h"
#include "matvec_quant.h"
#include "quant_types.h"

#include <cstddef>
#include <cstdint>

namespace latent::kernels {

inline constexpr uint32_t kMoeMaxExperts = 512;   // E (Kimi-K2: 384)
inline constexpr uint32_t kMoeMaxExpertsUsed = 16; // K (V3, K2: 8)
inline constexpr uint32_t kMoeMaxGroups = 32;      // expert_group_count (V3: 8)

// The router's configuration (ModelConfig's MoE fields).
struct MoeRouting {
    uint32_t n_expert = 0;             // E
    uint32_t n_expert_used = 0;        // K
    bool sigmoid_gating = false;       // false: softmax over E (V2); true: per-expert sigmoid (V3)
    bool weights_norm = false;         // renormalise the K weights to sum 1
    float weights_scale = 1.0f;        // multiplies the routed weights
    uint32_t group_count = 1;          // experts in this many equal groups
    uint32_t group_used = 1;           // groups kept per token (when group_count > 1)
};

// One MoE layer's weights on the device. Routed expert tensors are 3-D: n_expert matrices of
// (n_ff_expert rows x n_embd cols) for gate/up and (n_embd x n_ff_expert) for down, stacked;
// `rows` in those QuantMatrix entries is the rows of ONE expert. The shared experts are one MLP
// of width n_ff_shared (data null when the model has none).
struct MoeWeights {
    QuantMatrix router;                  // (n_expert, n_embd), usually F32
    const float* selection_bias = nullptr; // exp_probs_b: n_expert floats, or null
    QuantMatrix gate_exps, up_exps, down_exps;
    QuantMatrix gate_shexp, up_shexp, down_shexp;
};

// Device scratch for moe_ffn / moe_route with n_tokens tokens (for moe_route alone the expert
// matrices may be left empty).
size_t moe_workspace_bytes(const MoeRouting& routing, const MoeWeights& weights, int64_t n_tokens);

// Routing only (step 1-2): ids (n_tokens, K) int32 and weights (n_tokens, K) float, best first,
// written to device memory. Exposed for tests and for callers that route separately.
void moe_route(const MoeRouting& routing, const MoeWeights& weights, const float* x, int64_t n_tokens, int32_t* ids,
               float* expert_weights, void* workspace, gpu::Stream stream = {});

// out (n_tokens, n_embd) = residual (or 0 when null) + MoE(x) for x (n_tokens, n_embd) floats
// (16-byte aligned). workspace: moe_workspace_bytes of device memory, 16-byte aligned. out may
// alias residual. x_q8: x already quantised per 32 (rms_norm_q8 / quantize_q8 layout), or null
// to quantise here (one launch more). Throws std::invalid_argument for inconsistent shapes or
// types. Launches: router matvec (per 16 tokens), select, [quantize], gate_up, down — and for
// more than one token a combine; one token (decode) gets the weighted sum and the residual in
// the down launch.
void moe_ffn(const MoeRouting& routing, const MoeWeights& weights, const float* x, int64_t n_tokens, const float* residual,
             float* out, void* workspace, gpu::Stream stream = {}, const void* x_q8 = nullptr);

// Weight and activation bytes one moe_ffn call reads for n_tokens tokens with `distinct_experts`
// experts chosen in all (decode: K), for GB/s.
size_t moe_ffn_bytes(const MoeRouting& routing, const MoeWeights& weights, int64_t n_tokens, uint32_t distinct_experts);

} // namespace latent::kernels
