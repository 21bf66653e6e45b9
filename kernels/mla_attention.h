// MLA attention over the latent cache in the absorbed form (deepseek2-gguf.md §4.7): every head's
// latent-space query [q_latent ‖ q_rope] is scored against the cached rows [c̃ ‖ RoPE(k_pe)]
// (f16 or bf16), and the softmax-weighted sum of the latents c̃ is returned per head; the value
// up-projection (attn_v_b) happens after, outside these kernels.
//
//   mla_decode   flash-decoding: the context is split over many blocks (partial softmax per
//                split, then a combine kernel merging the splits by log-sum-exp), so one
//                sequence fills the GPU at 16K+ keys; 2 launches (1 when one split suffices).
//   mla_prefill  a block per group of query tokens walking the cache in tiles with the causal
//                mask; 1 launch. Why this form and not decompressed keys/values: mla_prefill.cu.
//
// Shapes: q_latent (n_tokens, n_heads, latent_dim), q_rope (n_tokens, n_heads, rope_dim), out
// (n_tokens, n_heads, latent_dim), all f32 and dense. The query tokens are the LAST n_tokens of
// the n_keys cached rows (their own rows already appended): query token j sees keys
// 0 .. n_keys - n_tokens + j. Limits (checked, std::invalid_argument otherwise): latent_dim even
// and <= 512, (latent_dim + rope_dim) and row_stride multiples of 8, the cache 16-byte aligned,
// 1 <= n_tokens <= n_keys.
#pragma once

#include "device.h"
#include "quant_types.h"

#include <cstddef>
#include <cstdint>

namespace latent::kernels {

struct MlaAttentionArgs {
    const float* q_latent = nullptr; // (n_tokens, n_heads, latent_dim): W_UK,hᵀ q_nope per head
    const float* q_rope = nullptr;   // (n_tokens, n_heads, rope_dim): RoPE(q_pe) per head
    const void* cache = nullptr;     // rows [c̃ (latent_dim) ‖ RoPE(k_pe) (rope_dim)], F16 or BF16
    QuantType cache_type = QuantType::F16;
    uint32_t row_stride = 0;  // elements from one cache row to the next (>= latent_dim + rope_dim)
    uint32_t n_heads = 0;
    uint32_t latent_dim = 0;  // kv_lora_rank
    uint32_t rope_dim = 0;    // qk_rope_dim
    uint32_t n_tokens = 1;    // query tokens
    uint32_t n_keys = 0;      // cache rows the last query token sees (n_cached + n_tokens)
    float scale = 0.0f;       // kq_scale: mscale² / sqrt(d_qk) (YaRN mscale from the caller)
    float* out = nullptr;     // (n_tokens, n_heads, latent_dim)
};

// How mla_decode splits the context for `args` (max_keys bounds the context a captured graph
// will see; 0 = args.n_keys). `requested` > 0 forces that many splits (tests).
struct MlaDecodePlan {
    uint32_t splits = 1;
    size_t workspace_bytes = 0; // device scratch mla_decode needs (0 for one split)
};
MlaDecodePlan mla_decode_plan(const MlaAttentionArgs& args, uint32_t max_keys = 0, uint32_t requested = 0);

// Decode attention. workspace: plan.workspace_bytes of device memory (16-byte aligned).
// n_keys_device, when set, holds the current key count on the device and is read at run time
// (a captured graph replays with a growing context; args.n_keys is then only the bound the plan
// was made for and must not be exceeded).
void mla_decode(const MlaAttentionArgs& args, const MlaDecodePlan& plan, void* workspace,
                const uint32_t* n_keys_device = nullptr, gpu::Stream stream = {});

// Prefill attention for a chunk of n_tokens query tokens.
void mla_prefill(const MlaAttentionArgs& args, gpu::Stream stream = {});

// Bytes an attention call moves through DRAM (cache rows once per head group, queries, outputs,
// split partials), for GB/s.
size_t mla_attention_bytes(const MlaAttentionArgs& args, uint32_t splits);

} // namespace latent::kernels
