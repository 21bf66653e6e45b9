// ModelConfig: the hyper-parameters of a `deepseek2` GGUF model, read from its metadata and
// checked against the tensors it holds (deepseek2-gguf.md §2, §4.4-4.5, §9.1).
//
// Both file generations are accepted (§2.3): legacy files (one `attn_kv_b` per layer, d_qk/d_v in
// `attention.key_length`/`value_length`) and MLA-format files (`attn_k_b` + `attn_v_b`, d_qk/d_v
// in `attention.key_length_mla`/`value_length_mla`). Whether queries are compressed is decided by
// the tensors (`attn_q_a` present), never by the layer-count heuristic of older llama.cpp.
//
// Everything is validated: a missing or mistyped key, an inconsistent value, or a value beyond
// the sanity bounds below becomes a latent::Error naming the file and the key. The bounds keep a
// hostile file from requesting absurd allocations; they are far above any released model.
#pragma once

#include "gguf/gguf.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace latent {

// How router logits become expert probabilities (`deepseek2.expert_gating_func`).
enum class ExpertGating : uint32_t {
    Softmax = 1, // V2, V2-Lite, V2.5 (and files without the key)
    Sigmoid = 2, // V3, R1, Moonlight, Kimi-K2
};

// Which tensors carry the kv up-projection (§2.3).
enum class KvFormat {
    Legacy, // blk.N.attn_kv_b: {r_kv, H·(d_n + d_v)}
    Mla,    // blk.N.attn_k_b: {d_n, r_kv, H} and blk.N.attn_v_b: {r_kv, d_v, H}
};

enum class RopeScaling {
    None, // plain RoPE with rope_freq_base
    Yarn, // YaRN frequency blend and attention-scale correction (§4.4, §4.5)
};

std::string_view expert_gating_name(ExpertGating gating); // "softmax" / "sigmoid"
std::string_view kv_format_name(KvFormat format);         // "legacy (attn_kv_b)" / "mla (attn_k_b + attn_v_b)"
std::string_view rope_scaling_name(RopeScaling scaling);  // "none" / "yarn"

// Sanity bounds on values read from a file.
inline constexpr uint32_t kMaxLayers = 1024;
inline constexpr uint32_t kMaxEmbedding = 65536;
inline constexpr uint32_t kMaxHeads = 1024;
inline constexpr uint32_t kMaxLoraRank = 65536;
inline constexpr uint32_t kMaxHeadDim = 4096;
inline constexpr uint32_t kMaxFeedForward = 1u << 20;
inline constexpr uint32_t kMaxExperts = 4096;
inline constexpr uint32_t kMaxSharedExperts = 256;
inline constexpr uint32_t kMaxVocab = 1u << 22; // 4,194,304
inline constexpr uint32_t kMaxContext = 1u << 28;

// YaRN constants llama.cpp always uses for deepseek2 (the file does not store them, §2.1).
inline constexpr float kYarnBetaFast = 32.0f;
inline constexpr float kYarnBetaSlow = 1.0f;

struct ModelConfig {
    // Identity.
    std::string architecture;       // general.architecture, always "deepseek2"
    std::string name;               // general.name ("" when absent)

    // Trunk. D = n_embd, L = n_layer, H = n_head, V = n_vocab.
    uint32_t n_layer = 0;           // L: transformer blocks (MTP layers are never in the file)
    uint32_t n_embd = 0;            // D: hidden size, width of the residual stream
    uint32_t n_head = 0;            // H: attention heads
    uint32_t n_vocab = 0;           // V: rows of token_embd and output; deepseek2.vocab_size or the token list length
    uint32_t n_ctx_train = 0;       // deepseek2.context_length: longest context the model was trained for
    float rms_eps = 0.0f;           // ε of every RMSNorm

    // Multi-head latent attention (§3.1, §4.3).
    uint32_t q_lora_rank = 0;       // r_q: width of the compressed query latent; 0 = uncompressed (attn_q)
    uint32_t kv_lora_rank = 0;      // r_kv: width of the cached latent c_kv
    uint32_t qk_rope_dim = 0;       // d_r: rotary dims per head (the "pe" tail of q, and the shared k_pe)
    uint32_t qk_nope_dim = 0;       // d_n = d_qk - d_r: non-rotary dims per head (the "nope" head of q)
    uint32_t qk_head_dim = 0;       // d_qk: decompressed q/k head dim (192 for V2/V3), also in kq_scale
    uint32_t v_head_dim = 0;        // d_v: value head dim
    KvFormat kv_format = KvFormat::Mla; // from the *_mla keys, confirmed by the tensors present

    // Feed-forward: layers [0, n_leading_dense) are dense SwiGLU, the rest mixture of experts.
    uint32_t n_leading_dense = 0;   // L_d: deepseek2.leading_dense_block_count (absent ⇒ 0)
    uint32_t n_ff = 0;              // F: dense FFN width (0 when there is no dense layer)
    uint32_t n_ff_expert = 0;       // F_e: width of one routed expert (and of each shared expert)
    uint32_t n_expert = 0;          // E: routed experts per MoE layer (0 when there is no MoE layer)
    uint32_t n_expert_used = 0;     // K: routed experts chosen per token
    uint32_t n_expert_shared = 0;   // S_sh: shared experts, fused into one MLP of width F_e·S_sh

    // Routing (§4.10).
    ExpertGating gating = ExpertGating::Softmax; // absent ⇒ softmax
    bool has_selection_bias = false;  // blk.N.exp_probs_b.bias present: added to scores for top-k choice only
    bool expert_weights_norm = false; // renormalise the top-k weights to sum 1 (absent ⇒ false)
    float expert_weights_scale = 1.0f; // multiplier on the routed weights (absent ⇒ 1)
    uint32_t expert_group_count = 1;  // experts are split into this many equal groups (absent ⇒ 1)
    uint32_t expert_group_used_count = 1; // groups kept per token before the top-k (absent ⇒ 1)

    // RoPE (§4.4) and attention scale (§4.5).
    float rope_freq_base = 10000.0f; // θ base (absent ⇒ 10000)
    RopeScaling rope_scaling = RopeScaling::None;
    float rope_scaling_factor = 1.0f;  // s (1 without YaRN)
    float rope_freq_scale = 1.0f;      // 1/s: interpolated frequency = extrapolated · rope_freq_scale
    uint32_t rope_original_context = 0; // L0: YaRN's original context (absent ⇒ n_ctx_train)
    float yarn_log_multiplier = 0.0f;  // as stored: 0.1·mscale_all_dim (0 when absent)
    float mscale_all_dim = 0.0f;       // yarn_log_multiplier / 0.1
    float yarn_beta_fast = kYarnBetaFast;
    float yarn_beta_slow = kYarnBetaSlow;
    float yarn_low_dim = 0.0f;   // YaRN correction range in pair indices: pairs ≤ low keep θ,
    float yarn_high_dim = 0.0f;  // pairs ≥ high use θ/s, linear blend between (0/0 without YaRN)
    float kq_scale = 0.0f;       // softmax scale of q·k: mscale²/sqrt(d_qk)

    bool q_compressed() const { return q_lora_rank > 0; }
    bool layer_is_moe(uint32_t layer) const { return layer >= n_leading_dense; }
    uint32_t n_moe_layers() const { return n_layer - n_leading_dense; }
};

// Reads and validates the configuration. `main` holds the metadata (the first part of a split
// model); `tensors` are all tensors of the model (used to decide the q path, the kv format and the
// selection bias). Throws latent::Error naming the key at fault.
ModelConfig load_model_config(const gguf::File& main, const std::vector<gguf::TensorInfo>& tensors);

// YaRN correction dims exactly as ggml computes them (float arithmetic):
// corr(β) = d_r·ln(L0 / (2π·β)) / (2·ln base), low = max(0, floor(corr(β_fast))),
// high = min(d_r − 1, ceil(corr(β_slow))).
struct YarnCorrectionDims {
    float low = 0.0f;
    float high = 0.0f;
};
YarnCorrectionDims yarn_correction_dims(uint32_t rope_dim, uint32_t original_context, float freq_base,
                                        float beta_fast = kYarnBetaFast, float beta_slow = kYarnBetaSlow);

// kq_scale of §4.5: mscale = 1 + yarn_log_multiplier·ln s when YaRN with s > 1 (else 1);
// kq_scale = mscale² / sqrt(qk_head_dim). yarn_log_multiplier is the stored value (0.1·mscale_all_dim).
float attention_kq_scale(uint32_t qk_head_dim, RopeScaling scaling, float scaling_factor, float yarn_log_multiplier);

} // namespace latent
