#include "model/model_builder.h"

#include "core/error.h"
#include "model/random_weights.h"
#include "model/synthetic_vocab.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace latent {

// ---- Presets --------------------------------------------------------------------------------

namespace {

ModelShape tiny_v3_shape() {
    ModelShape s;
    s.name = "random-tiny-v3";
    s.n_layer = 4;
    s.q_lora_rank = 32;
    s.n_ff = 192;
    s.n_expert = 16;
    s.n_expert_used = 4;
    s.n_expert_shared = 1;
    s.gating = ExpertGating::Sigmoid;
    s.selection_bias = true;
    s.expert_weights_norm = true;
    s.expert_weights_scale = 2.5f;
    s.expert_group_count = 4;
    s.expert_group_used_count = 2;
    s.mscale_all_dim = 1.0f;
    s.chat_style = ChatStyle::DeepSeekV3;
    s.special_tokens_start = 0;
    return s;
}

ModelShape v2_lite_shape() {
    // DeepSeek-V2-Lite-Chat as converted by a current (MLA-format) converter, §2.4 and §3.2.
    ModelShape s;
    s.name = "random-v2-lite";
    s.n_layer = 27;
    s.n_embd = 2048;
    s.n_head = 16;
    s.n_vocab = 102400;
    s.n_ctx_train = 163840;
    s.rms_eps = 1e-6f;
    s.q_lora_rank = 0;
    s.kv_lora_rank = 512;
    s.qk_rope_dim = 64;
    s.qk_nope_dim = 128;
    s.v_head_dim = 128;
    s.n_leading_dense = 1;
    s.n_ff = 10944;
    s.n_ff_expert = 1408;
    s.n_expert = 64;
    s.n_expert_used = 6;
    s.n_expert_shared = 2;
    s.mscale_all_dim = 0.707f;
    s.special_tokens_start = 100000; // BOS 100000, EOS 100001 as in the real vocabulary
    return s;
}

ModelShape v3_small_shape() {
    // V3's structure (query LoRA, sigmoid + bias, 8 groups keep 4, scale 2.5, 3 of 61 layers dense
    // scaled to 2 of 8) at about 1.1B parameters; V3's vocabulary size and special ids.
    ModelShape s = tiny_v3_shape();
    s.name = "random-v3-small";
    s.n_layer = 8;
    s.n_embd = 1024;
    s.n_head = 16;
    s.n_vocab = 129280;
    s.q_lora_rank = 384;
    s.kv_lora_rank = 256;
    s.qk_rope_dim = 64;
    s.qk_nope_dim = 128;
    s.v_head_dim = 128;
    s.n_leading_dense = 2;
    s.n_ff = 2816;
    s.n_ff_expert = 512;
    s.n_expert = 64;
    s.n_expert_used = 8;
    s.n_expert_shared = 1;
    s.expert_group_count = 8;
    s.expert_group_used_count = 4;
    return s;
}

constexpr std::string_view kPresetNames[] = {"tiny", "tiny-v3", "tiny-legacy", "v2-lite", "v3-small"};

} // namespace

std::optional<ModelShape> model_shape_preset(std::string_view name) {
    if (name == "tiny") {
        ModelShape s;
        s.name = "random-tiny";
        return s;
    }
    if (name == "tiny-v3") return tiny_v3_shape();
    if (name == "tiny-legacy") {
        // A 2024-era file: attn_kv_b, and none of the keys later converters added.
        ModelShape s;
        s.name = "random-tiny-legacy";
        s.mla_format = false;
        s.write_gating_func = false;
        s.write_weights_norm = false;
        s.write_group_keys = false;
        return s;
    }
    if (name == "v2-lite") return v2_lite_shape();
    if (name == "v3-small") return v3_small_shape();
    return std::nullopt;
}

std::vector<std::string_view> model_shape_preset_names() { return {std::begin(kPresetNames), std::end(kPresetNames)}; }

void validate_model_shape(const ModelShape& s) {
    const auto fail = [](const std::string& what) { throw Error("model shape: " + what); };
    const auto in_range = [&](const char* field, uint64_t v, uint64_t min, uint64_t max) {
        if (v < min || v > max)
            fail(std::string(field) + " = " + std::to_string(v) + " is out of range [" + std::to_string(min) + ", " +
                 std::to_string(max) + "]");
    };
    in_range("n_layer", s.n_layer, 1, kMaxLayers);
    in_range("n_embd", s.n_embd, 1, kMaxEmbedding);
    in_range("n_head", s.n_head, 1, kMaxHeads);
    in_range("n_vocab", s.n_vocab, 256 + kSyntheticSpecialCount, kMaxVocab);
    in_range("special_tokens_start", s.special_tokens_start, 0, s.n_vocab - kSyntheticSpecialCount);
    in_range("n_ctx_train", s.n_ctx_train, 1, kMaxContext);
    in_range("q_lora_rank", s.q_lora_rank, 0, kMaxLoraRank);
    in_range("kv_lora_rank", s.kv_lora_rank, 1, kMaxLoraRank);
    in_range("qk_rope_dim", s.qk_rope_dim, 2, kMaxHeadDim);
    in_range("qk_nope_dim", s.qk_nope_dim, 1, kMaxHeadDim);
    in_range("qk_head_dim", s.qk_head_dim(), 1, kMaxHeadDim);
    in_range("v_head_dim", s.v_head_dim, 1, kMaxHeadDim);
    if (s.qk_rope_dim % 2) fail("qk_rope_dim must be even");
    in_range("n_leading_dense", s.n_leading_dense, 0, s.n_layer);
    if (s.n_leading_dense > 0) in_range("n_ff", s.n_ff, 1, kMaxFeedForward);
    if (s.n_leading_dense < s.n_layer) {
        in_range("n_expert", s.n_expert, 1, kMaxExperts);
        in_range("n_expert_used", s.n_expert_used, 1, s.n_expert);
        in_range("n_expert_shared", s.n_expert_shared, 0, kMaxSharedExperts);
        in_range("n_ff_expert", s.n_ff_expert, 1, kMaxFeedForward);
        in_range("expert_group_count", s.expert_group_count, 1, s.n_expert);
        if (s.n_expert % s.expert_group_count) fail("expert_group_count must divide n_expert");
        in_range("expert_group_used_count", s.expert_group_used_count, 1, s.expert_group_count);
        if (s.n_expert_used > s.expert_group_used_count * (s.n_expert / s.expert_group_count))
            fail("n_expert_used exceeds the experts in the kept groups");
        if (!(s.expert_weights_scale > 0.0f)) fail("expert_weights_scale must be positive");
    }
    if (!(s.rms_eps > 0.0f)) fail("rms_eps must be positive");
    if (!(s.rope_freq_base > 1.0f)) fail("rope_freq_base must be greater than 1");
    if (s.yarn) {
        if (!(s.rope_scaling_factor >= 1.0f)) fail("rope_scaling_factor must be at least 1");
        in_range("rope_original_context", s.rope_original_context, 1, kMaxContext);
        if (!(s.mscale_all_dim >= 0.0f)) fail("mscale_all_dim must not be negative");
    }
}

// ---- Type schemes ---------------------------------------------------------------------------

namespace {

struct SchemeName {
    WeightScheme scheme;
    std::string_view name;
    uint32_t file_type; // llama_ftype
};
constexpr SchemeName kSchemes[] = {
    {WeightScheme::F32, "f32", 0},   {WeightScheme::F32E, "f32e", 0},  {WeightScheme::F16, "f16", 1},
    {WeightScheme::BF16, "bf16", 32}, {WeightScheme::Q8_0, "q8_0", 7}, {WeightScheme::Q4_0, "q4_0", 2},
    {WeightScheme::Q4_K_M, "q4_k_m", 15},
};

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Layer index from "blk.<i>.…", or -1.
int layer_of(std::string_view name) {
    if (name.substr(0, 4) != "blk.") return -1;
    int layer = 0;
    size_t i = 4;
    for (; i < name.size() && name[i] >= '0' && name[i] <= '9'; ++i) layer = layer * 10 + (name[i] - '0');
    return i > 4 ? layer : -1;
}

// llama-quantize's use_more_bits (§7.5).
bool use_more_bits(int layer, int n_layer) {
    return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

TensorType q4_k_m_type(std::string_view name, uint32_t n_layer) {
    if (name == "output.weight") return TensorType::Q6_K;
    const int layer = layer_of(name);
    const bool more_bits = layer >= 0 && use_more_bits(layer, static_cast<int>(n_layer));
    if (name.find("ffn_down") != std::string_view::npos || name.find("attn_kv_b") != std::string_view::npos)
        return more_bits ? TensorType::Q6_K : TensorType::Q4_K;
    return TensorType::Q4_K;
}

// llama-quantize's fallback when ne0 is not a multiple of the block size.
TensorType fit_block(TensorType type, uint64_t ne0) {
    const auto fits = [&](TensorType t) { return ne0 % tensor_type_info(t).block_size == 0; };
    if (fits(type)) return type;
    switch (type) {
    case TensorType::Q4_K: type = TensorType::Q5_0; break;
    case TensorType::Q5_K: type = TensorType::Q5_1; break;
    case TensorType::Q6_K: type = TensorType::Q8_0; break;
    case TensorType::Q2_K:
    case TensorType::Q3_K: type = TensorType::Q4_0; break; // llama.cpp takes IQ4_NL here
    default: break;
    }
    return fits(type) ? type : TensorType::F16;
}

} // namespace

std::optional<WeightScheme> weight_scheme_from_name(std::string_view name) {
    std::string lower(name);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) {
        return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    });
    for (const SchemeName& s : kSchemes)
        if (s.name == lower) return s.scheme;
    return std::nullopt;
}

std::string_view weight_scheme_name(WeightScheme scheme) {
    for (const SchemeName& s : kSchemes)
        if (s.scheme == scheme) return s.name;
    return "?";
}

std::vector<std::string_view> weight_scheme_names() {
    std::vector<std::string_view> names;
    for (const SchemeName& s : kSchemes) names.push_back(s.name);
    return names;
}

uint32_t weight_scheme_file_type(WeightScheme scheme) {
    for (const SchemeName& s : kSchemes)
        if (s.scheme == scheme) return s.file_type;
    return 0;
}

TensorType scheme_tensor_type(WeightScheme scheme, std::string_view name, const std::vector<uint64_t>& ne,
                              uint32_t n_layer) {
    // Never quantised (§3.3): 1-D tensors, norm gains, the router, the selection bias.
    if (ne.size() < 2 || ends_with(name, "_norm.weight") || name.find("ffn_gate_inp") != std::string_view::npos ||
        !ends_with(name, ".weight"))
        return TensorType::F32;
    const bool head = name == "output.weight";
    TensorType type = TensorType::F32;
    switch (scheme) {
    case WeightScheme::F32: type = TensorType::F32; break;
    case WeightScheme::F32E:
        type = head || name == "token_embd.weight" ? TensorType::Q8_0 : TensorType::F32;
        break;
    case WeightScheme::F16: type = TensorType::F16; break;
    case WeightScheme::BF16: type = TensorType::BF16; break;
    case WeightScheme::Q8_0: type = TensorType::Q8_0; break;
    case WeightScheme::Q4_0: type = head ? TensorType::Q6_K : TensorType::Q4_0; break;
    case WeightScheme::Q4_K_M: type = q4_k_m_type(name, n_layer); break;
    }
    return fit_block(type, ne[0]);
}

// ---- Tensor plan and data -------------------------------------------------------------------

std::vector<TensorPlan> plan_model_tensors(const ModelShape& s, WeightScheme scheme) {
    std::vector<TensorPlan> plan;
    const auto add = [&](std::string name, std::vector<uint64_t> ne, WeightInit init) {
        const TensorType type = scheme_tensor_type(scheme, name, ne, s.n_layer);
        plan.push_back(TensorPlan{std::move(name), type, std::move(ne), init});
    };
    const uint64_t D = s.n_embd, H = s.n_head, V = s.n_vocab;
    add("token_embd.weight", {D, V}, WeightInit::Embedding);
    for (uint32_t il = 0; il < s.n_layer; ++il) {
        const std::string p = "blk." + std::to_string(il) + ".";
        add(p + "attn_norm.weight", {D}, WeightInit::Gain);
        if (s.q_lora_rank > 0) {
            add(p + "attn_q_a.weight", {D, s.q_lora_rank}, WeightInit::Matrix);
            add(p + "attn_q_a_norm.weight", {s.q_lora_rank}, WeightInit::Gain);
            add(p + "attn_q_b.weight", {s.q_lora_rank, H * s.qk_head_dim()}, WeightInit::Matrix);
        } else {
            add(p + "attn_q.weight", {D, H * s.qk_head_dim()}, WeightInit::Matrix);
        }
        add(p + "attn_kv_a_mqa.weight", {D, uint64_t{s.kv_lora_rank} + s.qk_rope_dim}, WeightInit::Matrix);
        add(p + "attn_kv_a_norm.weight", {s.kv_lora_rank}, WeightInit::Gain);
        if (s.mla_format) {
            add(p + "attn_k_b.weight", {s.qk_nope_dim, s.kv_lora_rank, H}, WeightInit::Matrix);
            add(p + "attn_v_b.weight", {s.kv_lora_rank, s.v_head_dim, H}, WeightInit::Matrix);
        } else {
            add(p + "attn_kv_b.weight", {s.kv_lora_rank, H * (uint64_t{s.qk_nope_dim} + s.v_head_dim)},
                WeightInit::Matrix);
        }
        add(p + "attn_output.weight", {H * s.v_head_dim, D}, WeightInit::Matrix);
        add(p + "ffn_norm.weight", {D}, WeightInit::Gain);
        if (il < s.n_leading_dense) {
            add(p + "ffn_gate.weight", {D, s.n_ff}, WeightInit::Matrix);
            add(p + "ffn_up.weight", {D, s.n_ff}, WeightInit::Matrix);
            add(p + "ffn_down.weight", {s.n_ff, D}, WeightInit::Matrix);
            continue;
        }
        const uint64_t E = s.n_expert, Fe = s.n_ff_expert;
        add(p + "ffn_gate_inp.weight", {D, E}, WeightInit::Matrix);
        if (s.selection_bias) add(p + "exp_probs_b.bias", {E}, WeightInit::Bias);
        add(p + "ffn_gate_exps.weight", {D, Fe, E}, WeightInit::Matrix);
        add(p + "ffn_up_exps.weight", {D, Fe, E}, WeightInit::Matrix);
        add(p + "ffn_down_exps.weight", {Fe, D, E}, WeightInit::Matrix);
        if (s.n_expert_shared > 0) {
            const uint64_t shared = Fe * s.n_expert_shared;
            add(p + "ffn_gate_shexp.weight", {D, shared}, WeightInit::Matrix);
            add(p + "ffn_up_shexp.weight", {D, shared}, WeightInit::Matrix);
            add(p + "ffn_down_shexp.weight", {shared, D}, WeightInit::Matrix);
        }
    }
    add("output_norm.weight", {D}, WeightInit::Gain);
    add("output.weight", {D, V}, WeightInit::Matrix);
    return plan;
}

namespace {

uint64_t plan_rows(const TensorPlan& t) {
    uint64_t rows = 1;
    for (size_t i = 1; i < t.ne.size(); ++i) rows *= t.ne[i];
    return rows;
}

uint64_t plan_bytes(const TensorPlan& t) {
    return tensor_row_bytes(t.type, static_cast<int64_t>(t.ne.at(0))) * plan_rows(t);
}

} // namespace

void generate_tensor_data(const TensorPlan& t, uint64_t seed, uint8_t* out) {
    const uint64_t ne0 = t.ne.at(0), rows = plan_rows(t);
    float mean = 0.0f, stddev = 1.0f;
    switch (t.init) {
    case WeightInit::Matrix: stddev = 1.0f / std::sqrt(static_cast<float>(ne0)); break;
    case WeightInit::Embedding: stddev = 1.0f; break;
    case WeightInit::Gain: mean = 1.0f; stddev = 0.05f; break;
    case WeightInit::Bias: stddev = 0.01f; break;
    }
    WeightRng rng(tensor_stream_seed(seed, t.name));
    const TensorTypeInfo& info = tensor_type_info(t.type);
    const bool plain_float = t.type == TensorType::F32 || t.type == TensorType::F16 || t.type == TensorType::BF16;
    if (plain_float || (info.can_encode && ne0 * rows <= kEncodeFromFloatsMaxElements))
        fill_from_floats(t.type, ne0, rows, mean, stddev, rng, out);
    else
        fill_random_blocks(t.type, ne0, rows, stddev, rng, out);
}

// ---- Metadata -------------------------------------------------------------------------------

namespace {

// Written for this project in the shape of the official templates (§6.2, §6.3), so template
// detection recognises them.
constexpr std::string_view kTemplateV2 =
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ 'User: ' + message['content'] + '\\n\\n' }}"
    "{% elif message['role'] == 'assistant' %}{{ 'Assistant: ' + message['content'] + eos_token }}"
    "{% elif message['role'] == 'system' %}{{ message['content'] + '\\n\\n' }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}";

constexpr std::string_view kTemplateV3 =
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}{{ message['content'] }}"
    "{% endif %}{% endfor %}{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ '<\xEF\xBD\x9CUser\xEF\xBD\x9C>' + message['content'] }}"
    "{% elif message['role'] == 'assistant' %}{{ '<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>' + message['content'] + "
    "'<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>' }}{% endif %}";

// Writes keys unless the options omit them.
class KeyWriter {
public:
    KeyWriter(gguf::Writer& writer, const std::vector<std::string>& omit) : writer_(writer), omit_(omit) {}

    void u32(std::string_view key, uint32_t v) { if (keep(key)) writer_.set_u32(key, v); }
    void f32(std::string_view key, float v) { if (keep(key)) writer_.set_f32(key, v); }
    void boolean(std::string_view key, bool v) { if (keep(key)) writer_.set_bool(key, v); }
    void string(std::string_view key, std::string_view v) { if (keep(key)) writer_.set_string(key, v); }
    void strings(std::string_view key, const std::vector<std::string>& v) { if (keep(key)) writer_.set_string_array(key, v); }
    void i32s(std::string_view key, const std::vector<int32_t>& v) { if (keep(key)) writer_.set_i32_array(key, v); }

private:
    bool keep(std::string_view key) const { return std::find(omit_.begin(), omit_.end(), key) == omit_.end(); }
    gguf::Writer& writer_;
    const std::vector<std::string>& omit_;
};

} // namespace

void write_model_metadata(const ModelShape& s, const BuildOptions& options, gguf::Writer& writer) {
    KeyWriter w(writer, options.omit_keys);
    w.string("general.architecture", "deepseek2");
    w.string("general.name", s.name);
    w.u32("general.file_type", weight_scheme_file_type(options.scheme));
    w.u32("general.quantization_version", 2);

    // deepseek2.* in the converter's order (§2.1).
    w.u32("deepseek2.block_count", s.n_layer);
    w.u32("deepseek2.context_length", s.n_ctx_train);
    w.u32("deepseek2.embedding_length", s.n_embd);
    w.u32("deepseek2.feed_forward_length", s.n_ff);
    w.u32("deepseek2.attention.head_count", s.n_head);
    w.u32("deepseek2.attention.head_count_kv", s.mla_format ? 1 : s.n_head);
    w.f32("deepseek2.rope.freq_base", s.rope_freq_base);
    w.f32("deepseek2.attention.layer_norm_rms_epsilon", s.rms_eps);
    w.u32("deepseek2.expert_used_count", s.n_expert_used);
    w.u32("deepseek2.leading_dense_block_count", s.n_leading_dense);
    w.u32("deepseek2.vocab_size", s.n_vocab);
    if (s.q_lora_rank > 0) w.u32("deepseek2.attention.q_lora_rank", s.q_lora_rank);
    w.u32("deepseek2.attention.kv_lora_rank", s.kv_lora_rank);
    if (s.mla_format) {
        w.u32("deepseek2.attention.key_length", s.kv_lora_rank + s.qk_rope_dim);
        w.u32("deepseek2.attention.value_length", s.kv_lora_rank);
        w.u32("deepseek2.attention.key_length_mla", s.qk_head_dim());
        w.u32("deepseek2.attention.value_length_mla", s.v_head_dim);
    } else {
        w.u32("deepseek2.attention.key_length", s.qk_head_dim());
        w.u32("deepseek2.attention.value_length", s.v_head_dim);
    }
    w.u32("deepseek2.expert_feed_forward_length", s.n_ff_expert);
    w.u32("deepseek2.expert_count", s.n_expert);
    w.u32("deepseek2.expert_shared_count", s.n_expert_shared);
    w.f32("deepseek2.expert_weights_scale", s.expert_weights_scale);
    if (s.write_weights_norm) w.boolean("deepseek2.expert_weights_norm", s.expert_weights_norm);
    if (s.write_gating_func) w.u32("deepseek2.expert_gating_func", static_cast<uint32_t>(s.gating));
    if (s.write_group_keys) {
        w.u32("deepseek2.expert_group_count", s.expert_group_count);
        w.u32("deepseek2.expert_group_used_count", s.expert_group_used_count);
    }
    w.u32("deepseek2.rope.dimension_count", s.qk_rope_dim);
    if (s.yarn) {
        w.string("deepseek2.rope.scaling.type", "yarn");
        w.f32("deepseek2.rope.scaling.factor", s.rope_scaling_factor);
        w.u32("deepseek2.rope.scaling.original_context_length", s.rope_original_context);
        w.f32("deepseek2.rope.scaling.yarn_log_multiplier", 0.1f * s.mscale_all_dim);
    }

    const SyntheticVocab vocab = make_synthetic_vocab(s.n_vocab, s.special_tokens_start);
    const bool v3 = s.chat_style == ChatStyle::DeepSeekV3;
    w.string("tokenizer.ggml.model", "gpt2");
    w.string("tokenizer.ggml.pre", v3 ? "deepseek-v3" : "deepseek-llm");
    w.strings("tokenizer.ggml.tokens", vocab.tokens);
    w.i32s("tokenizer.ggml.token_type", vocab.token_types);
    w.strings("tokenizer.ggml.merges", vocab.merges);
    w.u32("tokenizer.ggml.bos_token_id", vocab.bos_id);
    w.u32("tokenizer.ggml.eos_token_id", vocab.eos_id);
    w.boolean("tokenizer.ggml.add_bos_token", true);
    w.boolean("tokenizer.ggml.add_eos_token", false);
    w.string("tokenizer.chat_template", v3 ? kTemplateV3 : kTemplateV2);

    if (options.edit_metadata) options.edit_metadata(writer);
}

// ---- Whole file -----------------------------------------------------------------------------

BuildResult build_model_file(const ModelShape& shape, const BuildOptions& options, const std::filesystem::path& path) {
    validate_model_shape(shape);
    gguf::Writer writer;
    write_model_metadata(shape, options, writer);

    std::vector<TensorPlan> plan = plan_model_tensors(shape, options.scheme);
    if (options.edit_tensors) options.edit_tensors(plan);

    BuildResult result;
    for (const TensorPlan& t : plan) {
        writer.declare_tensor(t.name, t.type, t.ne);
        uint64_t elements = 1;
        for (uint64_t d : t.ne) elements *= d;
        result.parameter_count += elements;
        result.data_bytes += plan_bytes(t);
    }
    result.tensor_count = plan.size();

    uint64_t done = 0;
    writer.write_file(path, [&](size_t index, std::vector<uint8_t>& out) {
        const TensorPlan& t = plan.at(index);
        const uint64_t bytes = plan_bytes(t);
        const size_t at = out.size();
        out.resize(at + bytes);
        generate_tensor_data(t, options.seed, out.data() + at);
        done += bytes;
        if (options.progress) options.progress(done, result.data_bytes);
    });
    return result;
}

} // namespace latent
