#include "model/model_config.h"

#include "core/error.h"

#include <cmath>
#include <cstdio>
#include <numbers>
#include <string>
#include <unordered_set>

namespace latent {

std::string_view expert_gating_name(ExpertGating gating) {
    switch (gating) {
    case ExpertGating::Softmax: return "softmax";
    case ExpertGating::Sigmoid: return "sigmoid";
    }
    return "?";
}

std::string_view kv_format_name(KvFormat format) {
    return format == KvFormat::Mla ? "mla (attn_k_b + attn_v_b)" : "legacy (attn_kv_b)";
}

std::string_view rope_scaling_name(RopeScaling scaling) {
    return scaling == RopeScaling::Yarn ? "yarn" : "none";
}

YarnCorrectionDims yarn_correction_dims(uint32_t rope_dim, uint32_t original_context, float freq_base,
                                        float beta_fast, float beta_slow) {
    // Same float expression as ggml_rope_yarn_corr_dim, so the integer boundaries agree.
    const auto corr = [&](float beta) {
        return static_cast<float>(rope_dim) *
               std::log(static_cast<float>(original_context) / (beta * 2.0f * std::numbers::pi_v<float>)) /
               (2.0f * std::log(freq_base));
    };
    YarnCorrectionDims dims;
    dims.low = std::fmax(0.0f, std::floor(corr(beta_fast)));
    dims.high = std::fmin(static_cast<float>(rope_dim) - 1.0f, std::ceil(corr(beta_slow)));
    return dims;
}

float attention_kq_scale(uint32_t qk_head_dim, RopeScaling scaling, float scaling_factor, float yarn_log_multiplier) {
    float mscale = 1.0f;
    if (scaling == RopeScaling::Yarn && scaling_factor > 1.0f)
        mscale = 1.0f + yarn_log_multiplier * std::log(scaling_factor);
    return mscale * mscale / std::sqrt(static_cast<float>(qk_head_dim));
}

namespace {

constexpr std::string_view kArchitecture = "deepseek2";

std::string format_float(double v) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%g", v);
    return buffer;
}

// Typed, range-checked access to the deepseek2.* keys. Missing keys and wrong types are reported
// by gguf::File's accessors (which name the key); range violations here.
class KeyReader {
public:
    explicit KeyReader(const gguf::File& file) : file_(file) {}

    static std::string key(std::string_view suffix) { return std::string(kArchitecture) + "." + std::string(suffix); }
    bool has(std::string_view suffix) const { return file_.has(key(suffix)); }

    [[noreturn]] void fail(const std::string& what) const { throw Error(file_.display_name() + ": " + what); }

    uint32_t u32(std::string_view suffix, uint32_t min, uint32_t max) const {
        return check_range(suffix, file_.get_u32(key(suffix)), min, max);
    }
    uint32_t u32_or(std::string_view suffix, uint32_t fallback, uint32_t min, uint32_t max) const {
        if (!has(suffix)) return fallback;
        return u32(suffix, min, max);
    }
    bool bool_or(std::string_view suffix, bool fallback) const { return file_.get_bool_or(key(suffix), fallback); }
    // A finite float in [min, max]; min_exclusive makes the lower bound strict.
    float f32(std::string_view suffix, float min, float max, bool min_exclusive = false) const {
        return check_float(suffix, static_cast<float>(file_.get_float(key(suffix))), min, max, min_exclusive);
    }
    float f32_or(std::string_view suffix, float fallback, float min, float max, bool min_exclusive = false) const {
        if (!has(suffix)) return fallback;
        return f32(suffix, min, max, min_exclusive);
    }

private:
    uint32_t check_range(std::string_view suffix, uint32_t value, uint32_t min, uint32_t max) const {
        if (value < min || value > max)
            fail(key(suffix) + " = " + std::to_string(value) + " is out of range [" + std::to_string(min) + ", " +
                 std::to_string(max) + "]");
        return value;
    }
    float check_float(std::string_view suffix, float value, float min, float max, bool min_exclusive) const {
        const bool low_ok = min_exclusive ? value > min : value >= min;
        if (!std::isfinite(value) || !low_ok || value > max)
            fail(key(suffix) + " = " + format_float(value) + " is out of range " + (min_exclusive ? "(" : "[") +
                 format_float(min) + ", " + format_float(max) + "]");
        return value;
    }

    const gguf::File& file_;
};

std::string layer_tensor(uint32_t layer, std::string_view suffix) {
    return "blk." + std::to_string(layer) + "." + std::string(suffix);
}

void read_attention(const KeyReader& keys, const std::unordered_set<std::string_view>& names, ModelConfig& config) {
    // §9.1 step 2: the *_mla keys mark the newer file generation and carry d_qk / d_v there.
    const bool has_k_mla = keys.has("attention.key_length_mla");
    const bool has_v_mla = keys.has("attention.value_length_mla");
    if (has_k_mla != has_v_mla)
        keys.fail("deepseek2.attention.key_length_mla and deepseek2.attention.value_length_mla must both be present "
                  "or both absent");
    config.kv_format = has_k_mla ? KvFormat::Mla : KvFormat::Legacy;
    const std::string_view k_key = has_k_mla ? "attention.key_length_mla" : "attention.key_length";
    const std::string_view v_key = has_v_mla ? "attention.value_length_mla" : "attention.value_length";
    config.qk_head_dim = keys.u32(k_key, 2, kMaxHeadDim);
    config.v_head_dim = keys.u32(v_key, 1, kMaxHeadDim);
    config.kv_lora_rank = keys.u32("attention.kv_lora_rank", 1, kMaxLoraRank);

    config.qk_rope_dim = keys.u32("rope.dimension_count", 2, kMaxHeadDim);
    if (config.qk_rope_dim % 2 != 0)
        keys.fail("deepseek2.rope.dimension_count = " + std::to_string(config.qk_rope_dim) +
                  " must be even (RoPE rotates pairs)");
    if (config.qk_rope_dim >= config.qk_head_dim)
        keys.fail("deepseek2.rope.dimension_count = " + std::to_string(config.qk_rope_dim) + " must be less than " +
                  KeyReader::key(k_key) + " = " + std::to_string(config.qk_head_dim));
    config.qk_nope_dim = config.qk_head_dim - config.qk_rope_dim;

    // §9.1 step 3: the tensors decide whether queries are compressed.
    const bool has_q = names.contains(layer_tensor(0, "attn_q.weight"));
    const bool has_q_a = names.contains(layer_tensor(0, "attn_q_a.weight"));
    if (has_q && has_q_a)
        keys.fail("the model holds both 'blk.0.attn_q.weight' and 'blk.0.attn_q_a.weight'; expected one query path");
    if (has_q_a) {
        if (!keys.has("attention.q_lora_rank"))
            keys.fail("missing key 'deepseek2.attention.q_lora_rank' (required: the model has compressed queries, "
                      "'blk.0.attn_q_a.weight')");
        config.q_lora_rank = keys.u32("attention.q_lora_rank", 1, kMaxLoraRank);
    } else if (has_q) {
        config.q_lora_rank = 0;
    } else {
        keys.fail("missing tensor 'blk.0.attn_q.weight' (or 'blk.0.attn_q_a.weight' for compressed queries)");
    }

    // §9.1 step 4: the key-selected generation must match the kv_b tensors actually present.
    const bool has_kv_b = names.contains(layer_tensor(0, "attn_kv_b.weight"));
    const bool has_k_b = names.contains(layer_tensor(0, "attn_k_b.weight"));
    const bool has_v_b = names.contains(layer_tensor(0, "attn_v_b.weight"));
    if (config.kv_format == KvFormat::Mla && has_kv_b && !(has_k_b || has_v_b))
        keys.fail("kv layout mismatch: deepseek2.attention.key_length_mla marks an MLA-format file "
                  "(attn_k_b + attn_v_b), but the model holds legacy 'blk.0.attn_kv_b.weight'");
    if (config.kv_format == KvFormat::Legacy && !has_kv_b && (has_k_b || has_v_b))
        keys.fail("kv layout mismatch: without deepseek2.attention.key_length_mla the file is legacy-format "
                  "(attn_kv_b), but the model holds 'blk.0.attn_k_b.weight' / 'blk.0.attn_v_b.weight'");
}

void read_feed_forward(const KeyReader& keys, const std::unordered_set<std::string_view>& names, ModelConfig& config) {
    config.n_leading_dense = keys.u32_or("leading_dense_block_count", 0, 0, config.n_layer);
    config.n_ff = config.n_leading_dense > 0 ? keys.u32("feed_forward_length", 1, kMaxFeedForward)
                                             : keys.u32_or("feed_forward_length", 0, 0, kMaxFeedForward);
    if (config.n_moe_layers() == 0) return; // a dense-only model: routing keys are irrelevant

    config.n_expert = keys.u32("expert_count", 1, kMaxExperts);
    config.n_expert_used = keys.u32("expert_used_count", 1, kMaxExperts);
    if (config.n_expert_used > config.n_expert)
        keys.fail("deepseek2.expert_used_count = " + std::to_string(config.n_expert_used) +
                  " exceeds deepseek2.expert_count = " + std::to_string(config.n_expert));
    config.n_expert_shared = keys.u32("expert_shared_count", 0, kMaxSharedExperts);
    config.n_ff_expert = keys.u32("expert_feed_forward_length", 1, kMaxFeedForward);
    config.expert_weights_scale = keys.f32_or("expert_weights_scale", 1.0f, 0.0f, 1.0e4f, true);
    config.expert_weights_norm = keys.bool_or("expert_weights_norm", false);

    const uint32_t gating = keys.u32_or("expert_gating_func", 1, 0, UINT32_MAX);
    if (gating != 1 && gating != 2)
        keys.fail("deepseek2.expert_gating_func = " + std::to_string(gating) +
                  " is not supported (1 = softmax, 2 = sigmoid)");
    config.gating = static_cast<ExpertGating>(gating);

    config.expert_group_count = keys.u32_or("expert_group_count", 1, 1, config.n_expert);
    if (config.n_expert % config.expert_group_count != 0)
        keys.fail("deepseek2.expert_group_count = " + std::to_string(config.expert_group_count) +
                  " does not divide deepseek2.expert_count = " + std::to_string(config.n_expert));
    config.expert_group_used_count = keys.u32_or("expert_group_used_count", 1, 1, config.expert_group_count);
    const uint32_t kept_experts = config.expert_group_used_count * (config.n_expert / config.expert_group_count);
    if (config.n_expert_used > kept_experts)
        keys.fail("deepseek2.expert_used_count = " + std::to_string(config.n_expert_used) + " exceeds the " +
                  std::to_string(kept_experts) + " experts in the kept groups (deepseek2.expert_group_used_count = " +
                  std::to_string(config.expert_group_used_count) + " of deepseek2.expert_group_count = " +
                  std::to_string(config.expert_group_count) + ")");

    config.has_selection_bias = names.contains(layer_tensor(config.n_leading_dense, "exp_probs_b.bias"));
}

void read_rope(const KeyReader& keys, const gguf::File& file, ModelConfig& config) {
    config.rope_freq_base = keys.f32_or("rope.freq_base", 10000.0f, 1.0f, 1.0e12f, true);

    const std::string type_key = KeyReader::key("rope.scaling.type");
    const std::optional<std::string_view> type = file.get_string_opt(type_key);
    config.rope_scaling = RopeScaling::None;
    if (type && *type == "yarn") {
        config.rope_scaling = RopeScaling::Yarn;
    } else if (type && *type == "linear") {
        // llama.cpp's default type; accepted only as the no-op it is with factor 1.
        const float factor = keys.f32_or("rope.scaling.factor", 1.0f, 0.0f, 1.0e4f, true);
        if (factor != 1.0f)
            keys.fail(type_key + " = 'linear' with factor " + format_float(factor) +
                      " is not supported (expected 'yarn' or 'none')");
    } else if (type && *type != "none") {
        keys.fail(type_key + " = '" + std::string(*type) + "' is not supported (expected 'yarn' or 'none')");
    }

    if (config.rope_scaling == RopeScaling::Yarn) {
        config.rope_scaling_factor = keys.f32_or("rope.scaling.factor", 1.0f, 1.0f, 1.0e4f);
        config.rope_original_context =
            keys.u32_or("rope.scaling.original_context_length", config.n_ctx_train, 1, kMaxContext);
        config.yarn_log_multiplier = keys.f32_or("rope.scaling.yarn_log_multiplier", 0.0f, 0.0f, 10.0f);
        config.mscale_all_dim = config.yarn_log_multiplier / 0.1f;
        const YarnCorrectionDims dims =
            yarn_correction_dims(config.qk_rope_dim, config.rope_original_context, config.rope_freq_base);
        config.yarn_low_dim = dims.low;
        config.yarn_high_dim = dims.high;
    } else {
        config.rope_scaling_factor = 1.0f;
        config.rope_original_context = config.n_ctx_train;
    }
    config.rope_freq_scale = 1.0f / config.rope_scaling_factor;
    config.kq_scale = attention_kq_scale(config.qk_head_dim, config.rope_scaling, config.rope_scaling_factor,
                                         config.yarn_log_multiplier);
}

void read_vocab_size(const KeyReader& keys, const gguf::File& file, ModelConfig& config) {
    constexpr std::string_view tokens_key = "tokenizer.ggml.tokens";
    const bool has_tokens = file.has(tokens_key);
    if (!keys.has("vocab_size") && !has_tokens)
        keys.fail("missing key 'deepseek2.vocab_size' (and no tokenizer.ggml.tokens to count)");
    if (has_tokens) {
        const uint64_t count = file.get_array_size(tokens_key);
        if (count < 1 || count > kMaxVocab)
            keys.fail(std::string(tokens_key) + " has " + std::to_string(count) + " entries, out of range [1, " +
                      std::to_string(kMaxVocab) + "]");
        config.n_vocab = static_cast<uint32_t>(count);
    }
    if (keys.has("vocab_size")) {
        const uint32_t vocab_size = keys.u32("vocab_size", 1, kMaxVocab);
        if (has_tokens && vocab_size != config.n_vocab)
            keys.fail("deepseek2.vocab_size = " + std::to_string(vocab_size) + " disagrees with " +
                      std::string(tokens_key) + " (" + std::to_string(config.n_vocab) + " entries)");
        config.n_vocab = vocab_size;
    }
}

} // namespace

ModelConfig load_model_config(const gguf::File& main, const std::vector<gguf::TensorInfo>& tensors) {
    ModelConfig config;
    config.architecture = std::string(main.get_string("general.architecture"));
    if (config.architecture != kArchitecture)
        throw Error(main.display_name() + ": unsupported architecture '" + config.architecture +
                    "' (this engine runs deepseek2 models)");
    config.name = std::string(main.get_string_opt("general.name").value_or(""));

    std::unordered_set<std::string_view> names;
    names.reserve(tensors.size());
    for (const gguf::TensorInfo& tensor : tensors) names.insert(tensor.name);

    const KeyReader keys(main);
    config.n_layer = keys.u32("block_count", 1, kMaxLayers);
    config.n_embd = keys.u32("embedding_length", 1, kMaxEmbedding);
    config.n_head = keys.u32("attention.head_count", 1, kMaxHeads);
    config.n_ctx_train = keys.u32("context_length", 1, kMaxContext);
    config.rms_eps = keys.f32("attention.layer_norm_rms_epsilon", 0.0f, 1.0f, true);

    read_attention(keys, names, config);
    read_feed_forward(keys, names, config);
    read_rope(keys, main, config);
    read_vocab_size(keys, main, config);
    return config;
}

} // namespace latent
