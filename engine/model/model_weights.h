// The weight table of a deepseek2 model: every tensor of deepseek2-gguf.md §3.1 found by name,
// its exact dims checked against the ModelConfig and its type checked to be decodable.
//
// Dims below are in GGUF order {ne0, ne1, ne2}: ne1 rows of ne0 contiguous elements, so a 2-D
// weight {in, out} computes y = W·x with x of width `in`; a 3-D expert tensor is ne2 such matrices
// back to back. Symbols: D n_embd, H n_head, V n_vocab, r_q q_lora_rank, r_kv kv_lora_rank,
// d_r qk_rope_dim, d_n qk_nope_dim, d_qk qk_head_dim, d_v v_head_dim, F n_ff, F_e n_ff_expert,
// E n_expert, S n_expert_shared.
//
// Norm gains, the router (ffn_gate_inp) and the selection bias must be F32: every converter and
// quantizer writes them so (§3.3), and backends read them as plain floats. Every other tensor may
// be of any type tensor_type_info(type).can_decode accepts.
//
// The pointers point into the tensor list given to bind_model_weights (normally
// gguf::ModelFiles::tensors()), which must outlive the ModelWeights.
#pragma once

#include "gguf/gguf.h"
#include "model/model_config.h"

#include <string>
#include <vector>

namespace latent {

struct LayerWeights {
    const gguf::TensorInfo* attn_norm = nullptr;      // {D} F32: pre-attention RMSNorm gain

    // Query path: attn_q when r_q = 0, else attn_q_a → RMSNorm(attn_q_a_norm) → attn_q_b.
    const gguf::TensorInfo* attn_q = nullptr;         // {D, H·d_qk}; per head [nope d_n ‖ pe d_r]
    const gguf::TensorInfo* attn_q_a = nullptr;       // {D, r_q}
    const gguf::TensorInfo* attn_q_a_norm = nullptr;  // {r_q} F32
    const gguf::TensorInfo* attn_q_b = nullptr;       // {r_q, H·d_qk}

    const gguf::TensorInfo* attn_kv_a_mqa = nullptr;  // {D, r_kv + d_r}: [c_kv (r_kv) ‖ k_pe (d_r)]
    const gguf::TensorInfo* attn_kv_a_norm = nullptr; // {r_kv} F32: RMSNorm on c_kv
    // kv up-projection: legacy attn_kv_b, or the MLA-format split attn_k_b + attn_v_b.
    const gguf::TensorInfo* attn_kv_b = nullptr;      // {r_kv, H·(d_n + d_v)}; per head [k_nope d_n ‖ v d_v] rows
    const gguf::TensorInfo* attn_k_b = nullptr;       // {d_n, r_kv, H}: per head W_UKᵀ (r_kv rows of d_n)
    const gguf::TensorInfo* attn_v_b = nullptr;       // {r_kv, d_v, H}: per head W_UV (d_v rows of r_kv)
    const gguf::TensorInfo* attn_output = nullptr;    // {H·d_v, D}

    const gguf::TensorInfo* ffn_norm = nullptr;       // {D} F32: pre-FFN RMSNorm gain

    // Dense SwiGLU (layers < n_leading_dense).
    const gguf::TensorInfo* ffn_gate = nullptr;       // {D, F}
    const gguf::TensorInfo* ffn_up = nullptr;         // {D, F}
    const gguf::TensorInfo* ffn_down = nullptr;       // {F, D}

    // Mixture of experts (layers >= n_leading_dense).
    const gguf::TensorInfo* ffn_gate_inp = nullptr;   // {D, E} F32: router logits
    const gguf::TensorInfo* exp_probs_b = nullptr;    // {E} F32: selection bias (has_selection_bias only)
    const gguf::TensorInfo* ffn_gate_exps = nullptr;  // {D, F_e, E}
    const gguf::TensorInfo* ffn_up_exps = nullptr;    // {D, F_e, E}
    const gguf::TensorInfo* ffn_down_exps = nullptr;  // {F_e, D, E}
    const gguf::TensorInfo* ffn_gate_shexp = nullptr; // {D, F_e·S} (S > 0 only): shared experts fused
    const gguf::TensorInfo* ffn_up_shexp = nullptr;   // {D, F_e·S}
    const gguf::TensorInfo* ffn_down_shexp = nullptr; // {F_e·S, D}

    bool is_moe = false; // which of the two FFN groups above is bound

    // Every bound tensor of the layer, in the order declared above.
    std::vector<const gguf::TensorInfo*> tensors() const;
};

struct ModelWeights {
    const gguf::TensorInfo* token_embd = nullptr;  // {D, V}: row t = embedding of token t
    const gguf::TensorInfo* output_norm = nullptr; // {D} F32: final RMSNorm gain
    const gguf::TensorInfo* output = nullptr;      // {D, V}: logits = W·h; == token_embd when output_tied
    bool output_tied = false;                      // the file has no output.weight (newer llama.cpp ties it)
    std::vector<LayerWeights> layers;              // n_layer entries

    // Tensors in the file that the model does not use (ignored; shown as a warning by tools).
    std::vector<std::string> unused_tensors;

    // Every distinct bound tensor: token_embd, the layers in order, output_norm, output (once).
    std::vector<const gguf::TensorInfo*> tensors() const;
};

// Binds every tensor of the model. Throws latent::Error for a missing tensor ("missing tensor
// 'blk.3.ffn_norm.weight'"), a wrong shape ("tensor 'blk.3.attn_kv_a_mqa.weight' has shape
// {64, 96}, expected {64, 40}"), or a type the engine cannot decode or that the role forbids.
ModelWeights bind_model_weights(const ModelConfig& config, const std::vector<gguf::TensorInfo>& tensors);

} // namespace latent
