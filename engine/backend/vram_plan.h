// How much GPU memory running a model takes, estimated before anything is uploaded, so that a
// model that does not fit is refused with the numbers (and the CPU used) instead of failing
// halfway through the upload.
//
// Symbols as in model_weights.h: D n_embd, H n_head, V n_vocab, r_q q_lora_rank, r_kv
// kv_lora_rank, d_r qk_rope_dim, d_qk qk_head_dim, d_v v_head_dim, F n_ff, F_e n_ff_expert,
// E n_expert, K n_expert_used, S n_expert_shared, L n_layer; N = options.n_ctx.
//
//   weights  = stored bytes of every distinct bound tensor (compute_model_stats().total_bytes):
//              tensors are uploaded as stored, quantised blocks unchanged; a tied output head
//              counts once; tensors the model does not use are not uploaded.
//   kv cache = L·(r_kv + d_r)·N·e, e = 2 for an f16 cache, 4 for f32 (the MLA latent cache:
//              per layer and position the compressed latent and the shared RoPE key).
//   work     = 4·T·( V                               logits, one row per token of a batch
//                  + 2·D                             residual stream and its normed copy
//                  + r_q + H·d_qk + H·(r_kv + d_r)   query latent, per-head queries, absorbed queries
//                  + (r_kv + d_r) + H·(r_kv + d_v)   new cache rows, attention output in latent
//                                                    space and after value expansion
//                  + N                               attention scores of one head over the context
//                  + max(2·F, 2·(K + S)·F_e + E) )   gate and up of the dense FFN or of the chosen
//                                                    and shared experts, router logits
//              + 256 MiB                             cuBLAS workspace, CUDA graph, allocator slack
//              with T = min(512, N) the tokens of one prefill chunk, activations in float32.
//   The estimate assumes the absorbed attention form for prefill (attention over the latent
//   cache, nothing expanded per context position) and heads processed in turn, so the score
//   buffer holds one head's T×N scores; weights dequantised for cuBLAS GEMMs are staged in
//   tiles that the fixed 256 MiB covers.
#pragma once

#include "backend/backend.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace latent {

// Tokens of one prefill chunk the work buffers are sized for (T above, at most n_ctx).
inline constexpr uint32_t kVramPrefillChunk = 512;
// Fixed allowance for cuBLAS workspace, CUDA graphs and allocator slack.
inline constexpr uint64_t kVramFixedWorkBytes = uint64_t{256} << 20;

struct VramPlan {
    uint64_t weights_bytes = 0;  // every bound tensor as stored in the file
    uint64_t kv_cache_bytes = 0; // the latent cache for n_ctx positions
    uint64_t work_bytes = 0;     // activations, logits and the fixed allowance (formula above)
    uint32_t n_ctx = 0;          // positions the cache is planned for
    KvCacheType cache_type = KvCacheType::F16;

    uint64_t total_bytes() const { return weights_bytes + kv_cache_bytes + work_bytes; }
};

// The plan for running `model` with `options` (n_ctx and cache_type are used). Never throws for
// a loaded model (its config is validated and bounded, so no sum overflows).
VramPlan plan_vram(const Model& model, const BackendOptions& options);

// One line for a model that does not fit, e.g. "the model needs 11.2 GiB of GPU memory
// (weights 9.7 GiB, KV cache 1.1 GiB for 32768 tokens, work buffers 0.4 GiB) but NVIDIA RTX 4080
// has 7.9 GiB free". Sizes below 0.1 GiB are given in MiB (or KiB, bytes); the two compared
// sizes get more decimals when one decimal would print them equal.
std::string describe_vram_shortfall(const VramPlan& plan, uint64_t free_bytes, std::string_view device_name);

// "9.7 GiB", "51.2 MiB", "3.0 KiB", "100 bytes": one decimal (or `decimals`), in the largest
// unit up to GiB of which the size is at least 0.1 (GPU memory stays in GiB: "141.0 GiB").
std::string format_memory_size(uint64_t bytes, int decimals = 1);

} // namespace latent
