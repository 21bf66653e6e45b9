#include "model/model_weights.h"

#include "core/error.h"
#include "tensor/tensor_types.h"

#include <algorithm>
#include <initializer_list>
#include <string>
#include <string_view>
#include <unordered_map>

namespace latent {

std::vector<const gguf::TensorInfo*> LayerWeights::tensors() const {
    std::vector<const gguf::TensorInfo*> out;
    for (const gguf::TensorInfo* t :
         {attn_norm, attn_q, attn_q_a, attn_q_a_norm, attn_q_b, attn_kv_a_mqa, attn_kv_a_norm, attn_kv_b, attn_k_b,
          attn_v_b, attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down, ffn_gate_inp, exp_probs_b, ffn_gate_exps,
          ffn_up_exps, ffn_down_exps, ffn_gate_shexp, ffn_up_shexp, ffn_down_shexp})
        if (t) out.push_back(t);
    return out;
}

std::vector<const gguf::TensorInfo*> ModelWeights::tensors() const {
    std::vector<const gguf::TensorInfo*> out;
    if (token_embd) out.push_back(token_embd);
    for (const LayerWeights& layer : layers)
        for (const gguf::TensorInfo* t : layer.tensors()) out.push_back(t);
    if (output_norm) out.push_back(output_norm);
    if (output && output != token_embd) out.push_back(output);
    return out;
}

namespace {

// What a tensor is used for decides the types it may have.
enum class Role {
    Weight, // any decodable type
    Float,  // norm gain, router, selection bias: F32 only
};

std::string format_dims(const uint64_t* dims, size_t count) {
    std::string out = "{";
    for (size_t i = 0; i < count; ++i) {
        if (i) out += ", ";
        out += std::to_string(dims[i]);
    }
    return out + "}";
}

class Binder {
public:
    explicit Binder(const std::vector<gguf::TensorInfo>& tensors) : tensors_(tensors), bound_(tensors.size(), false) {
        index_.reserve(tensors.size());
        for (size_t i = 0; i < tensors.size(); ++i) index_.emplace(tensors[i].name, i);
    }

    bool has(const std::string& name) const { return index_.contains(name); }

    const gguf::TensorInfo* require(const std::string& name, std::initializer_list<uint64_t> dims, Role role) {
        const gguf::TensorInfo* tensor = find(name);
        if (!tensor) throw Error("missing tensor '" + name + "'");
        check(*tensor, dims, role);
        return tensor;
    }

    // Names of the tensors never looked up, in file order.
    std::vector<std::string> unused() const {
        std::vector<std::string> out;
        for (size_t i = 0; i < tensors_.size(); ++i)
            if (!bound_[i]) out.push_back(tensors_[i].name);
        return out;
    }

private:
    const gguf::TensorInfo* find(const std::string& name) {
        const auto it = index_.find(name);
        if (it == index_.end()) return nullptr;
        bound_[it->second] = true;
        return &tensors_[it->second];
    }

    static void check(const gguf::TensorInfo& tensor, std::initializer_list<uint64_t> dims, Role role) {
        // Missing trailing dims are 1 on both sides, as in ggml: {D} and {D, 1} are the same shape.
        uint64_t expected[gguf::kMaxDims] = {1, 1, 1, 1};
        size_t n = 0;
        for (uint64_t d : dims) expected[n++] = d;
        bool same = true;
        for (size_t i = 0; i < gguf::kMaxDims; ++i) same = same && tensor.ne[i] == expected[i];
        if (!same) {
            const size_t shown = std::max<size_t>(tensor.n_dims, 1);
            throw Error("tensor '" + tensor.name + "' has shape " +
                        format_dims(tensor.ne.data(), std::min<size_t>(shown, gguf::kMaxDims)) + ", expected " +
                        format_dims(expected, n));
        }
        const TensorTypeInfo& info = tensor_type_info(tensor.type);
        if (role == Role::Float && tensor.type != TensorType::F32)
            throw Error("tensor '" + tensor.name + "' has type " + std::string(info.name) +
                        ", expected f32 (norm gains, the router and the selection bias are read as f32)");
        if (!info.can_decode)
            throw Error("tensor '" + tensor.name + "' has type " + std::string(info.name) +
                        ", which this engine does not support");
    }

    const std::vector<gguf::TensorInfo>& tensors_;
    std::vector<bool> bound_;
    std::unordered_map<std::string_view, size_t> index_;
};

LayerWeights bind_layer(const ModelConfig& c, uint32_t il, Binder& binder) {
    const std::string prefix = "blk." + std::to_string(il) + ".";
    const auto name = [&](std::string_view suffix) { return prefix + std::string(suffix); };
    const uint64_t D = c.n_embd, H = c.n_head;
    const uint64_t q_width = H * c.qk_head_dim;

    LayerWeights layer;
    layer.attn_norm = binder.require(name("attn_norm.weight"), {D}, Role::Float);
    if (c.q_compressed()) {
        layer.attn_q_a = binder.require(name("attn_q_a.weight"), {D, c.q_lora_rank}, Role::Weight);
        layer.attn_q_a_norm = binder.require(name("attn_q_a_norm.weight"), {c.q_lora_rank}, Role::Float);
        layer.attn_q_b = binder.require(name("attn_q_b.weight"), {c.q_lora_rank, q_width}, Role::Weight);
    } else {
        layer.attn_q = binder.require(name("attn_q.weight"), {D, q_width}, Role::Weight);
    }
    layer.attn_kv_a_mqa =
        binder.require(name("attn_kv_a_mqa.weight"), {D, uint64_t{c.kv_lora_rank} + c.qk_rope_dim}, Role::Weight);
    layer.attn_kv_a_norm = binder.require(name("attn_kv_a_norm.weight"), {c.kv_lora_rank}, Role::Float);
    if (c.kv_format == KvFormat::Mla) {
        layer.attn_k_b = binder.require(name("attn_k_b.weight"), {c.qk_nope_dim, c.kv_lora_rank, H}, Role::Weight);
        layer.attn_v_b = binder.require(name("attn_v_b.weight"), {c.kv_lora_rank, c.v_head_dim, H}, Role::Weight);
    } else {
        layer.attn_kv_b = binder.require(name("attn_kv_b.weight"),
                                         {c.kv_lora_rank, H * (uint64_t{c.qk_nope_dim} + c.v_head_dim)}, Role::Weight);
    }
    layer.attn_output = binder.require(name("attn_output.weight"), {H * c.v_head_dim, D}, Role::Weight);
    layer.ffn_norm = binder.require(name("ffn_norm.weight"), {D}, Role::Float);

    layer.is_moe = c.layer_is_moe(il);
    if (!layer.is_moe) {
        layer.ffn_gate = binder.require(name("ffn_gate.weight"), {D, c.n_ff}, Role::Weight);
        layer.ffn_up = binder.require(name("ffn_up.weight"), {D, c.n_ff}, Role::Weight);
        layer.ffn_down = binder.require(name("ffn_down.weight"), {c.n_ff, D}, Role::Weight);
        return layer;
    }
    const uint64_t E = c.n_expert, Fe = c.n_ff_expert;
    layer.ffn_gate_inp = binder.require(name("ffn_gate_inp.weight"), {D, E}, Role::Float);
    if (c.has_selection_bias) layer.exp_probs_b = binder.require(name("exp_probs_b.bias"), {E}, Role::Float);
    layer.ffn_gate_exps = binder.require(name("ffn_gate_exps.weight"), {D, Fe, E}, Role::Weight);
    layer.ffn_up_exps = binder.require(name("ffn_up_exps.weight"), {D, Fe, E}, Role::Weight);
    layer.ffn_down_exps = binder.require(name("ffn_down_exps.weight"), {Fe, D, E}, Role::Weight);
    if (c.n_expert_shared > 0) {
        const uint64_t shared = Fe * c.n_expert_shared;
        layer.ffn_gate_shexp = binder.require(name("ffn_gate_shexp.weight"), {D, shared}, Role::Weight);
        layer.ffn_up_shexp = binder.require(name("ffn_up_shexp.weight"), {D, shared}, Role::Weight);
        layer.ffn_down_shexp = binder.require(name("ffn_down_shexp.weight"), {shared, D}, Role::Weight);
    }
    return layer;
}

} // namespace

ModelWeights bind_model_weights(const ModelConfig& config, const std::vector<gguf::TensorInfo>& tensors) {
    Binder binder(tensors);
    ModelWeights weights;
    const uint64_t D = config.n_embd, V = config.n_vocab;
    weights.token_embd = binder.require("token_embd.weight", {D, V}, Role::Weight);
    weights.layers.reserve(config.n_layer);
    for (uint32_t il = 0; il < config.n_layer; ++il) weights.layers.push_back(bind_layer(config, il, binder));
    weights.output_norm = binder.require("output_norm.weight", {D}, Role::Float);
    if (binder.has("output.weight")) {
        weights.output = binder.require("output.weight", {D, V}, Role::Weight);
    } else {
        weights.output = weights.token_embd; // newer llama.cpp ties the head to the embedding when absent
        weights.output_tied = true;
    }
    weights.unused_tensors = binder.unused();
    return weights;
}

} // namespace latent
