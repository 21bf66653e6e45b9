// Model configuration, weight table, statistics and the random-model builder: every tiny preset
// round-trips through a GGUF file into the same ModelConfig; the spec's numbers (kq_scale, YaRN
// correction dims, KV bytes, the Q4_K_M type table) come out exactly; a table of malformed files
// each fails with a clean latent::Error naming the key or tensor; the conformance kit's models load.
#include "core/error.h"
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "model/model_builder.h"
#include "model/model_config.h"
#include "model/model_stats.h"
#include "model/model_weights.h"
#include "model/random_weights.h"
#include "model/synthetic_vocab.h"
#include "tensor/tensor_types.h"
#include "test_support.h"

#include <QtTest>

#include <cmath>
#include <functional>
#include <limits>
#include <set>
#include <unordered_set>

using namespace latent;

namespace {

struct LoadedModel {
    std::unique_ptr<gguf::ModelFiles> files;
    ModelConfig config;
    ModelWeights weights;
};

LoadedModel load_model(const std::filesystem::path& path) {
    LoadedModel model;
    model.files = gguf::ModelFiles::open(path);
    model.config = load_model_config(model.files->main(), model.files->tensors());
    model.weights = bind_model_weights(model.config, model.files->tensors());
    return model;
}

ModelShape preset(const QString& name) {
    const std::optional<ModelShape> shape = model_shape_preset(name.toStdString());
    if (!shape) throw std::runtime_error("no preset " + name.toStdString());
    return *shape;
}

// TensorInfo records for a planned model, without data: enough for load_model_config,
// bind_model_weights and compute_model_stats, so full-size shapes can be checked without
// writing gigabytes.
std::vector<gguf::TensorInfo> planned_infos(const std::vector<TensorPlan>& plan) {
    std::vector<gguf::TensorInfo> infos;
    for (const TensorPlan& t : plan) {
        gguf::TensorInfo info;
        info.name = t.name;
        info.n_dims = static_cast<uint32_t>(t.ne.size());
        for (size_t i = 0; i < t.ne.size(); ++i) info.ne[i] = t.ne[i];
        info.type = t.type;
        info.size_bytes = tensor_row_bytes(t.type, static_cast<int64_t>(t.ne[0])) * info.row_count();
        infos.push_back(info);
    }
    return infos;
}

// A type the reader accepts for a 64-wide row but the engine cannot decode, if there is one.
std::optional<TensorType> undecodable_type() {
    for (uint32_t id = 0; id < 64; ++id) {
        const std::optional<TensorTypeInfo> info = tensor_type_info(id);
        if (info && !info->can_decode && info->block_size > 0 && 64 % info->block_size == 0) return info->type;
    }
    return std::nullopt;
}

bool close_to(double a, double b, double rel) { return std::fabs(a - b) <= rel * std::fabs(b); }

TensorPlan* find_plan(std::vector<TensorPlan>& plan, std::string_view name) {
    for (TensorPlan& t : plan)
        if (t.name == name) return &t;
    throw std::runtime_error("no planned tensor " + std::string(name));
}

// One malformed model: a preset, how to break it, and what the error must name.
struct MalformedCase {
    const char* name;
    const char* preset;
    std::function<void(BuildOptions&)> breaks;
    std::vector<std::string> expected; // substrings of the error message
};

const std::vector<MalformedCase>& malformed_cases() {
    static const std::vector<MalformedCase> cases = {
        {"other architecture", "tiny",
         [](BuildOptions& o) { o.edit_metadata = [](gguf::Writer& w) { w.set_string("general.architecture", "llama"); }; },
         {"unsupported architecture 'llama' (this engine runs deepseek2 models)"}},
        {"missing required key", "tiny",
         [](BuildOptions& o) { o.omit_keys = {"deepseek2.attention.kv_lora_rank"}; },
         {"deepseek2.attention.kv_lora_rank"}},
        {"wrong key type", "tiny",
         [](BuildOptions& o) { o.edit_metadata = [](gguf::Writer& w) { w.set_string("deepseek2.block_count", "3"); }; },
         {"deepseek2.block_count"}},
        {"expert_used > experts", "tiny",
         [](BuildOptions& o) { o.edit_metadata = [](gguf::Writer& w) { w.set_u32("deepseek2.expert_used_count", 9); }; },
         {"deepseek2.expert_used_count", "deepseek2.expert_count"}},
        {"groups do not divide experts", "tiny-v3",
         [](BuildOptions& o) { o.edit_metadata = [](gguf::Writer& w) { w.set_u32("deepseek2.expert_group_count", 3); }; },
         {"deepseek2.expert_group_count"}},
        {"group_used > groups", "tiny-v3",
         [](BuildOptions& o) {
             o.edit_metadata = [](gguf::Writer& w) { w.set_u32("deepseek2.expert_group_used_count", 5); };
         },
         {"deepseek2.expert_group_used_count"}},
        {"too few experts in kept groups", "tiny-v3",
         [](BuildOptions& o) {
             o.edit_metadata = [](gguf::Writer& w) {
                 w.set_u32("deepseek2.expert_group_count", 8);
                 w.set_u32("deepseek2.expert_group_used_count", 1);
             };
         },
         {"deepseek2.expert_used_count", "kept groups"}},
        {"unknown gating func", "tiny",
         [](BuildOptions& o) { o.edit_metadata = [](gguf::Writer& w) { w.set_u32("deepseek2.expert_gating_func", 3); }; },
         {"deepseek2.expert_gating_func"}},
        {"tensor with wrong shape", "tiny",
         [](BuildOptions& o) {
             o.edit_tensors = [](std::vector<TensorPlan>& p) { find_plan(p, "blk.1.attn_kv_a_mqa.weight")->ne[1] = 40; };
         },
         {"tensor 'blk.1.attn_kv_a_mqa.weight' has shape {64, 40}, expected {64, 48}"}},
        {"expert tensor with wrong expert count", "tiny",
         [](BuildOptions& o) {
             o.edit_tensors = [](std::vector<TensorPlan>& p) { find_plan(p, "blk.2.ffn_up_exps.weight")->ne[2] = 7; };
         },
         {"tensor 'blk.2.ffn_up_exps.weight' has shape {64, 32, 7}, expected {64, 32, 8}"}},
        {"missing tensor", "tiny",
         [](BuildOptions& o) {
             o.edit_tensors = [](std::vector<TensorPlan>& p) {
                 std::erase_if(p, [](const TensorPlan& t) { return t.name == "blk.2.ffn_norm.weight"; });
             };
         },
         {"missing tensor 'blk.2.ffn_norm.weight'"}},
        {"missing query tensor", "tiny",
         [](BuildOptions& o) {
             o.edit_tensors = [](std::vector<TensorPlan>& p) {
                 std::erase_if(p, [](const TensorPlan& t) { return t.name == "blk.0.attn_q.weight"; });
             };
         },
         {"blk.0.attn_q.weight"}},
        {"unsupported tensor type", "tiny",
         [](BuildOptions& o) {
             o.edit_tensors = [](std::vector<TensorPlan>& p) {
                 find_plan(p, "blk.0.attn_kv_a_mqa.weight")->type = *undecodable_type();
             };
         },
         {"tensor 'blk.0.attn_kv_a_mqa.weight' has type", "which this engine does not support"}},
        {"norm stored as f16", "tiny",
         [](BuildOptions& o) {
             o.edit_tensors = [](std::vector<TensorPlan>& p) { find_plan(p, "blk.0.attn_norm.weight")->type = TensorType::F16; };
         },
         {"tensor 'blk.0.attn_norm.weight' has type f16, expected f32"}},
        {"mla keys with attn_kv_b tensors", "tiny-legacy",
         [](BuildOptions& o) {
             o.edit_metadata = [](gguf::Writer& w) {
                 w.set_u32("deepseek2.attention.key_length_mla", 32);
                 w.set_u32("deepseek2.attention.value_length_mla", 16);
             };
         },
         {"deepseek2.attention.key_length_mla", "attn_kv_b"}},
        {"legacy keys with attn_k_b tensors", "tiny",
         [](BuildOptions& o) {
             o.omit_keys = {"deepseek2.attention.key_length_mla", "deepseek2.attention.value_length_mla"};
         },
         {"attn_k_b"}},
        {"only one mla key", "tiny",
         [](BuildOptions& o) { o.omit_keys = {"deepseek2.attention.value_length_mla"}; },
         {"deepseek2.attention.value_length_mla"}},
        {"vocab_size disagrees with tokens", "tiny",
         [](BuildOptions& o) { o.edit_metadata = [](gguf::Writer& w) { w.set_u32("deepseek2.vocab_size", 1000); }; },
         {"deepseek2.vocab_size", "tokenizer.ggml.tokens"}},
        {"huge n_embd", "tiny",
         [](BuildOptions& o) {
             o.edit_metadata = [](gguf::Writer& w) { w.set_u32("deepseek2.embedding_length", 1u << 20); };
         },
         {"deepseek2.embedding_length"}},
        {"huge expert count", "tiny",
         [](BuildOptions& o) { o.edit_metadata = [](gguf::Writer& w) { w.set_u32("deepseek2.expert_count", 1u << 30); }; },
         {"deepseek2.expert_count"}},
        {"odd rope dims", "tiny",
         [](BuildOptions& o) { o.edit_metadata = [](gguf::Writer& w) { w.set_u32("deepseek2.rope.dimension_count", 15); }; },
         {"deepseek2.rope.dimension_count"}},
        {"rope dims not below head dim", "tiny",
         [](BuildOptions& o) { o.edit_metadata = [](gguf::Writer& w) { w.set_u32("deepseek2.rope.dimension_count", 32); }; },
         {"deepseek2.rope.dimension_count"}},
        {"leading dense beyond layers", "tiny",
         [](BuildOptions& o) {
             o.edit_metadata = [](gguf::Writer& w) { w.set_u32("deepseek2.leading_dense_block_count", 4); };
         },
         {"deepseek2.leading_dense_block_count"}},
        {"unknown rope scaling", "tiny",
         [](BuildOptions& o) { o.edit_metadata = [](gguf::Writer& w) { w.set_string("deepseek2.rope.scaling.type", "ntk"); }; },
         {"deepseek2.rope.scaling.type", "ntk"}},
        {"q lora tensors without rank", "tiny-v3",
         [](BuildOptions& o) { o.omit_keys = {"deepseek2.attention.q_lora_rank"}; },
         {"deepseek2.attention.q_lora_rank"}},
        {"nan rms epsilon", "tiny",
         [](BuildOptions& o) {
             o.edit_metadata = [](gguf::Writer& w) {
                 w.set_f32("deepseek2.attention.layer_norm_rms_epsilon", std::numeric_limits<float>::quiet_NaN());
             };
         },
         {"deepseek2.attention.layer_norm_rms_epsilon"}},
        {"zero heads", "tiny",
         [](BuildOptions& o) { o.edit_metadata = [](gguf::Writer& w) { w.set_u32("deepseek2.attention.head_count", 0); }; },
         {"deepseek2.attention.head_count"}},
    };
    return cases;
}

} // namespace

class TestModelConfig : public QObject {
    Q_OBJECT

private slots:
    void presetsRoundTrip_data();
    void presetsRoundTrip();
    void schemes_data();
    void schemes();
    void deterministicForSeed();
    void randomBlocksDecode_data();
    void randomBlocksDecode();
    void q4KMTypesForV2Lite();
    void fullSizePresets_data();
    void fullSizePresets();
    void kqScale_data();
    void kqScale();
    void yarnCorrectionDims();
    void kvCacheFootprintV2Lite();
    void syntheticVocab_data();
    void syntheticVocab();
    void malformed_data();
    void malformed();
    void conformanceModels_data();
    void conformanceModels();
};

void TestModelConfig::presetsRoundTrip_data() {
    QTest::addColumn<QString>("preset");
    QTest::newRow("tiny") << "tiny";
    QTest::newRow("tiny-v3") << "tiny-v3";
    QTest::newRow("tiny-legacy") << "tiny-legacy";
}

void TestModelConfig::presetsRoundTrip() {
    QFETCH(QString, preset);
    const ModelShape shape = ::preset(preset);
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const std::filesystem::path path = test::to_path(dir.path()) / "model.gguf";
    const BuildResult built = build_model_file(shape, BuildOptions{}, path);
    const LoadedModel model = load_model(path);
    const ModelConfig& c = model.config;

    QCOMPARE(c.architecture, std::string("deepseek2"));
    QCOMPARE(c.name, shape.name);
    QCOMPARE(c.n_layer, shape.n_layer);
    QCOMPARE(c.n_embd, shape.n_embd);
    QCOMPARE(c.n_head, shape.n_head);
    QCOMPARE(c.n_vocab, shape.n_vocab);
    QCOMPARE(c.n_ctx_train, shape.n_ctx_train);
    QCOMPARE(c.rms_eps, shape.rms_eps);
    QCOMPARE(c.q_lora_rank, shape.q_lora_rank);
    QCOMPARE(c.kv_lora_rank, shape.kv_lora_rank);
    QCOMPARE(c.qk_rope_dim, shape.qk_rope_dim);
    QCOMPARE(c.qk_nope_dim, shape.qk_nope_dim);
    QCOMPARE(c.qk_head_dim, shape.qk_head_dim());
    QCOMPARE(c.v_head_dim, shape.v_head_dim);
    QCOMPARE(c.kv_format, shape.mla_format ? KvFormat::Mla : KvFormat::Legacy);
    QCOMPARE(c.n_leading_dense, shape.n_leading_dense);
    QCOMPARE(c.n_ff, shape.n_ff);
    QCOMPARE(c.n_ff_expert, shape.n_ff_expert);
    QCOMPARE(c.n_expert, shape.n_expert);
    QCOMPARE(c.n_expert_used, shape.n_expert_used);
    QCOMPARE(c.n_expert_shared, shape.n_expert_shared);
    QCOMPARE(c.gating, shape.gating);
    QCOMPARE(c.has_selection_bias, shape.selection_bias);
    QCOMPARE(c.expert_weights_norm, shape.write_weights_norm && shape.expert_weights_norm);
    QCOMPARE(c.expert_weights_scale, shape.expert_weights_scale);
    QCOMPARE(c.expert_group_count, shape.write_group_keys ? shape.expert_group_count : 1u);
    QCOMPARE(c.expert_group_used_count, shape.write_group_keys ? shape.expert_group_used_count : 1u);
    QCOMPARE(c.rope_freq_base, shape.rope_freq_base);
    QCOMPARE(c.rope_scaling, RopeScaling::Yarn);
    QCOMPARE(c.rope_scaling_factor, shape.rope_scaling_factor);
    QCOMPARE(c.rope_freq_scale, 1.0f / shape.rope_scaling_factor);
    QCOMPARE(c.rope_original_context, shape.rope_original_context);
    QVERIFY(close_to(c.mscale_all_dim, shape.mscale_all_dim, 1e-6));
    const YarnCorrectionDims dims = yarn_correction_dims(shape.qk_rope_dim, shape.rope_original_context, 10000.0f);
    QCOMPARE(c.yarn_low_dim, dims.low);
    QCOMPARE(c.yarn_high_dim, dims.high);
    const double mscale = 1.0 + 0.1 * shape.mscale_all_dim * std::log(shape.rope_scaling_factor);
    QVERIFY(close_to(c.kq_scale, mscale * mscale / std::sqrt(double(shape.qk_head_dim())), 1e-6));

    // Weight table.
    const ModelWeights& w = model.weights;
    QCOMPARE(w.layers.size(), size_t{shape.n_layer});
    QVERIFY(w.unused_tensors.empty());
    QVERIFY(!w.output_tied);
    QCOMPARE(w.token_embd->name, std::string("token_embd.weight"));
    for (uint32_t il = 0; il < shape.n_layer; ++il) {
        const LayerWeights& l = w.layers[il];
        QCOMPARE(l.attn_q != nullptr, shape.q_lora_rank == 0);
        QCOMPARE(l.attn_q_a != nullptr && l.attn_q_a_norm && l.attn_q_b, shape.q_lora_rank > 0);
        QCOMPARE(l.attn_kv_b != nullptr, !shape.mla_format);
        QCOMPARE(l.attn_k_b != nullptr && l.attn_v_b, shape.mla_format);
        QCOMPARE(l.is_moe, il >= shape.n_leading_dense);
        QCOMPARE(l.ffn_gate != nullptr, !l.is_moe);
        QCOMPARE(l.ffn_gate_exps != nullptr, l.is_moe);
        QCOMPARE(l.exp_probs_b != nullptr, l.is_moe && shape.selection_bias);
        QCOMPARE(l.ffn_down_shexp != nullptr, l.is_moe && shape.n_expert_shared > 0);
        QCOMPARE(l.attn_kv_a_mqa->name, "blk." + std::to_string(il) + ".attn_kv_a_mqa.weight");
    }

    // Statistics agree with what the builder wrote.
    const ModelStats stats = compute_model_stats(c, w);
    QCOMPARE(stats.total_params, built.parameter_count);
    QCOMPARE(stats.total_bytes, built.data_bytes);
    QCOMPARE(stats.by_type.size(), size_t{1});
    QCOMPARE(stats.by_type[0].type, TensorType::F32);
    const uint64_t routed = uint64_t{3} * shape.n_embd * shape.n_ff_expert * shape.n_expert *
                            (shape.n_layer - shape.n_leading_dense);
    QCOMPARE(stats.routed_expert_params, routed);
    QCOMPARE(stats.active_params, stats.total_params - routed + routed / shape.n_expert * shape.n_expert_used);

    // Tokenizer metadata the builder promised.
    const gguf::File& main = model.files->main();
    QCOMPARE(main.get_string("tokenizer.ggml.model"), std::string_view("gpt2"));
    QCOMPARE(main.get_string("tokenizer.ggml.pre"),
             std::string_view(shape.chat_style == ChatStyle::DeepSeekV3 ? "deepseek-v3" : "deepseek-llm"));
    QCOMPARE(main.get_array_size("tokenizer.ggml.tokens"), uint64_t{shape.n_vocab});
    QCOMPARE(main.get_u32("tokenizer.ggml.bos_token_id"), shape.special_tokens_start);
    QCOMPARE(main.get_u32("tokenizer.ggml.eos_token_id"), shape.special_tokens_start + 1);
    QVERIFY(main.get_bool("tokenizer.ggml.add_bos_token"));
    const std::string_view chat_template = main.get_string("tokenizer.chat_template");
    if (shape.chat_style == ChatStyle::DeepSeekV3)
        QVERIFY(chat_template.find("<\xEF\xBD\x9CUser\xEF\xBD\x9C>") != std::string_view::npos);
    else
        QVERIFY(chat_template.find("'Assistant: ' + message['content'] + eos_token") != std::string_view::npos);
}

void TestModelConfig::schemes_data() {
    QTest::addColumn<QString>("preset");
    QTest::addColumn<QString>("scheme");
    for (const char* p : {"tiny", "tiny-v3"})
        for (std::string_view s : weight_scheme_names())
            QTest::addRow("%s %s", p, std::string(s).c_str()) << QString(p) << QString::fromUtf8(s.data(), qsizetype(s.size()));
}

void TestModelConfig::schemes() {
    QFETCH(QString, preset);
    QFETCH(QString, scheme);
    const ModelShape shape = ::preset(preset);
    BuildOptions options;
    options.scheme = *weight_scheme_from_name(scheme.toStdString());
    QTemporaryDir dir;
    const std::filesystem::path path = test::to_path(dir.path()) / "model.gguf";
    build_model_file(shape, options, path);
    const LoadedModel model = load_model(path);
    QCOMPARE(model.files->main().get_u32("general.file_type"), weight_scheme_file_type(options.scheme));

    const std::vector<TensorPlan> plan = plan_model_tensors(shape, options.scheme);
    QCOMPARE(model.files->tensors().size(), plan.size());
    for (const TensorPlan& t : plan) {
        const gguf::TensorInfo* info = model.files->find_tensor(t.name);
        QVERIFY2(info, t.name.c_str());
        QCOMPARE(info->type, t.type);
        if (t.ne.size() == 1 || t.name.find("ffn_gate_inp") != std::string::npos) QCOMPARE(t.type, TensorType::F32);

        // Decoded values are finite and of the intended magnitude.
        std::vector<float> values(info->element_count());
        const size_t row_bytes = tensor_row_bytes(info->type, static_cast<int64_t>(info->ne[0]));
        for (uint64_t r = 0; r < info->row_count(); ++r)
            dequantize_row(info->type, info->data + r * row_bytes, values.data() + r * info->ne[0],
                           static_cast<int64_t>(info->ne[0]));
        double sum = 0.0, sum_sq = 0.0;
        for (float v : values) {
            QVERIFY2(std::isfinite(v), t.name.c_str());
            sum += v;
            sum_sq += double(v) * v;
        }
        const double n = double(values.size());
        const double mean = sum / n, stddev = std::sqrt(std::max(0.0, sum_sq / n - mean * mean));
        double want_mean = 0.0, want_std = 1.0;
        switch (t.init) {
        case WeightInit::Matrix: want_std = 1.0 / std::sqrt(double(t.ne[0])); break;
        case WeightInit::Embedding: want_std = 1.0; break;
        case WeightInit::Gain: want_mean = 1.0; want_std = 0.05; break;
        case WeightInit::Bias: want_std = 0.01; break;
        }
        // Sampling error allowed for (a 16-element bias is a small sample).
        QVERIFY2(std::fabs(mean - want_mean) < want_std * (0.15 + 4.0 / std::sqrt(n)), t.name.c_str());
        if (n >= 256) QVERIFY2(stddev > 0.6 * want_std && stddev < 1.5 * want_std, t.name.c_str());
    }
}

void TestModelConfig::deterministicForSeed() {
    QTemporaryDir dir;
    const std::filesystem::path base = test::to_path(dir.path());
    const ModelShape shape = *model_shape_preset("tiny-v3");
    BuildOptions options;
    options.scheme = WeightScheme::Q4_K_M;
    options.seed = 7;
    build_model_file(shape, options, base / "a.gguf");
    build_model_file(shape, options, base / "b.gguf");
    options.seed = 8;
    build_model_file(shape, options, base / "c.gguf");
    const std::string a = test::read_text_file(base / "a.gguf");
    QCOMPARE(test::read_text_file(base / "b.gguf"), a);
    const std::string c = test::read_text_file(base / "c.gguf");
    QCOMPARE(c.size(), a.size());
    QVERIFY(c != a);
}

void TestModelConfig::randomBlocksDecode_data() {
    QTest::addColumn<int>("type");
    for (TensorType t : {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0,
                         TensorType::Q2_K, TensorType::Q3_K, TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K,
                         TensorType::Q8_K})
        QTest::newRow(std::string(tensor_type_name(t)).c_str()) << int(t);
}

void TestModelConfig::randomBlocksDecode() {
    QFETCH(int, type);
    const TensorType t = static_cast<TensorType>(type);
    QVERIFY(has_random_block_layout(t));
    if (!tensor_type_info(t).can_decode) QSKIP("the engine does not decode this type");
    const uint64_t ne0 = 512, rows = 64;
    const float sd = 0.03f;
    const size_t row_bytes = tensor_row_bytes(t, ne0);
    std::vector<uint8_t> bytes(row_bytes * rows);
    WeightRng rng(42);
    fill_random_blocks(t, ne0, rows, sd, rng, bytes.data());
    std::vector<float> values(ne0 * rows);
    for (uint64_t r = 0; r < rows; ++r)
        dequantize_row(t, bytes.data() + r * row_bytes, values.data() + r * ne0, static_cast<int64_t>(ne0));
    double sum = 0.0, sum_sq = 0.0;
    for (float v : values) {
        QVERIFY(std::isfinite(v));
        QVERIFY(std::fabs(v) < 20 * sd);
        sum += v;
        sum_sq += double(v) * v;
    }
    const double n = double(values.size()), mean = sum / n;
    const double stddev = std::sqrt(sum_sq / n - mean * mean);
    QVERIFY2(std::fabs(mean) < 0.3 * sd, qPrintable(QString("mean %1").arg(mean)));
    QVERIFY2(stddev > 0.7 * sd && stddev < 1.4 * sd, qPrintable(QString("stddev %1").arg(stddev)));
}

void TestModelConfig::q4KMTypesForV2Lite() {
    // The §7.5 table for a V2-Lite Q4_K_M file (MLA format), row by row.
    const ModelShape shape = *model_shape_preset("v2-lite");
    std::vector<TensorPlan> plan = plan_model_tensors(shape, WeightScheme::Q4_K_M);
    const auto type_of = [&](const std::string& name) { return find_plan(plan, name)->type; };
    const std::set<int> more_bits = {0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 24, 25, 26};
    QCOMPARE(type_of("token_embd.weight"), TensorType::Q4_K);
    QCOMPARE(type_of("output.weight"), TensorType::Q6_K);
    QCOMPARE(type_of("output_norm.weight"), TensorType::F32);
    QCOMPARE(type_of("blk.0.ffn_gate.weight"), TensorType::Q4_K);
    QCOMPARE(type_of("blk.0.ffn_up.weight"), TensorType::Q4_K);
    QCOMPARE(type_of("blk.0.ffn_down.weight"), TensorType::Q8_0);
    for (int il = 0; il < 27; ++il) {
        const std::string p = "blk." + std::to_string(il) + ".";
        QCOMPARE(type_of(p + "attn_norm.weight"), TensorType::F32);
        QCOMPARE(type_of(p + "attn_kv_a_norm.weight"), TensorType::F32);
        QCOMPARE(type_of(p + "attn_q.weight"), TensorType::Q4_K);
        QCOMPARE(type_of(p + "attn_kv_a_mqa.weight"), TensorType::Q4_K);
        QCOMPARE(type_of(p + "attn_output.weight"), TensorType::Q4_K);
        QCOMPARE(type_of(p + "attn_k_b.weight"), TensorType::Q5_0);
        QCOMPARE(type_of(p + "attn_v_b.weight"), TensorType::Q4_K);
        if (il == 0) continue;
        const bool more = more_bits.contains(il);
        QCOMPARE(type_of(p + "ffn_gate_inp.weight"), TensorType::F32);
        QCOMPARE(type_of(p + "ffn_gate_exps.weight"), TensorType::Q4_K);
        QCOMPARE(type_of(p + "ffn_up_exps.weight"), TensorType::Q4_K);
        QCOMPARE(type_of(p + "ffn_down_exps.weight"), more ? TensorType::Q8_0 : TensorType::Q5_0);
        QCOMPARE(type_of(p + "ffn_gate_shexp.weight"), TensorType::Q4_K);
        QCOMPARE(type_of(p + "ffn_down_shexp.weight"), more ? TensorType::Q6_K : TensorType::Q4_K);
    }
    // A legacy file quantised with the current rules: attn_kv_b follows use_more_bits.
    ModelShape legacy = shape;
    legacy.mla_format = false;
    plan = plan_model_tensors(legacy, WeightScheme::Q4_K_M);
    QCOMPARE(type_of("blk.2.attn_kv_b.weight"), TensorType::Q6_K);
    QCOMPARE(type_of("blk.3.attn_kv_b.weight"), TensorType::Q4_K);
}

void TestModelConfig::fullSizePresets_data() {
    QTest::addColumn<QString>("preset");
    QTest::addColumn<QString>("scheme");
    QTest::addColumn<double>("kq_scale");
    QTest::addColumn<double>("min_gb");
    QTest::addColumn<double>("max_gb");
    // V2-Lite: 15.7B parameters; a Q4_K_M file is about 9-10 GB (§7.5).
    QTest::newRow("v2-lite q4_k_m") << "v2-lite" << "q4_k_m" << 0.1147214 << 8.5 << 10.5;
    QTest::newRow("v3-small f16") << "v3-small" << "f16" << 0.1352338 << 1.0 << 4.0;
}

void TestModelConfig::fullSizePresets() {
    // Full-size shapes are checked through their metadata and a data-less tensor table.
    QFETCH(QString, preset);
    QFETCH(QString, scheme);
    QFETCH(double, kq_scale);
    QFETCH(double, min_gb);
    QFETCH(double, max_gb);
    const ModelShape shape = ::preset(preset);
    validate_model_shape(shape);
    BuildOptions options;
    options.scheme = *weight_scheme_from_name(scheme.toStdString());
    gguf::Writer writer;
    write_model_metadata(shape, options, writer);
    const std::vector<uint8_t> bytes = writer.to_bytes();
    const auto file = gguf::File::from_memory(bytes.data(), bytes.size(), preset.toStdString());
    const std::vector<gguf::TensorInfo> tensors = planned_infos(plan_model_tensors(shape, options.scheme));

    const ModelConfig config = load_model_config(*file, tensors);
    QVERIFY(close_to(config.kq_scale, kq_scale, 2e-6));
    QCOMPARE(config.yarn_low_dim, 10.0f);
    QCOMPARE(config.yarn_high_dim, 23.0f);
    QCOMPARE(config.n_vocab, shape.n_vocab);
    const ModelWeights weights = bind_model_weights(config, tensors);
    QVERIFY(weights.unused_tensors.empty());
    const ModelStats stats = compute_model_stats(config, weights);
    const double gb = double(stats.total_bytes) / 1e9;
    QVERIFY2(gb > min_gb && gb < max_gb, qPrintable(QString("%1 GB").arg(gb)));

    if (preset == "v2-lite") {
        // 15.7B total; 2.66B active by our rule (DeepSeek's 2.4B leaves out the input embedding).
        QVERIFY2(stats.total_params > 15'600'000'000ull && stats.total_params < 15'800'000'000ull,
                 qPrintable(QString::number(stats.total_params)));
        const uint64_t embedding = uint64_t{2048} * 102400;
        QVERIFY2(stats.active_params - embedding > 2'400'000'000ull && stats.active_params - embedding < 2'500'000'000ull,
                 qPrintable(QString::number(stats.active_params)));
        QCOMPARE(config.q_lora_rank, 0u);
        QCOMPARE(config.gating, ExpertGating::Softmax);
    } else {
        QVERIFY(config.q_compressed());
        QCOMPARE(config.gating, ExpertGating::Sigmoid);
        QVERIFY(config.has_selection_bias);
        QCOMPARE(config.expert_group_count, 8u);
        QCOMPARE(config.expert_group_used_count, 4u);
    }
}

void TestModelConfig::kqScale_data() {
    QTest::addColumn<int>("scaling");
    QTest::addColumn<double>("factor");
    QTest::addColumn<double>("mscale_all_dim");
    QTest::addColumn<double>("expected");
    // deepseek2-gguf.md §4.5 table; d_qk = 192.
    QTest::newRow("V2-Lite") << int(RopeScaling::Yarn) << 40.0 << 0.707 << 0.1147214;
    QTest::newRow("V3") << int(RopeScaling::Yarn) << 40.0 << 1.0 << 0.1352338;
    QTest::newRow("Moonlight") << int(RopeScaling::None) << 1.0 << 0.0 << 0.0721688;
    QTest::newRow("yarn factor 1") << int(RopeScaling::Yarn) << 1.0 << 1.0 << 0.0721688;
}

void TestModelConfig::kqScale() {
    QFETCH(int, scaling);
    QFETCH(double, factor);
    QFETCH(double, mscale_all_dim);
    QFETCH(double, expected);
    const float kq = attention_kq_scale(192, static_cast<RopeScaling>(scaling), float(factor),
                                        0.1f * float(mscale_all_dim));
    QVERIFY2(close_to(kq, expected, 2e-6), qPrintable(QString::number(kq, 'g', 9)));
}

void TestModelConfig::yarnCorrectionDims() {
    const YarnCorrectionDims dims = yarn_correction_dims(64, 4096, 10000.0f);
    QCOMPARE(dims.low, 10.0f);
    QCOMPARE(dims.high, 23.0f);
    // Clamped to [0, d_r - 1].
    const YarnCorrectionDims narrow = yarn_correction_dims(8, 1 << 20, 10.0f);
    QCOMPARE(narrow.high, 7.0f);
    const YarnCorrectionDims tiny_context = yarn_correction_dims(64, 16, 10000.0f);
    QCOMPARE(tiny_context.low, 0.0f);
}

void TestModelConfig::kvCacheFootprintV2Lite() {
    ModelConfig c;
    c.n_layer = 27;
    c.n_head = 16;
    c.kv_lora_rank = 512;
    c.qk_rope_dim = 64;
    c.qk_head_dim = 192;
    c.v_head_dim = 128;
    const KvCacheFootprint f16 = kv_cache_footprint(c);
    QCOMPARE(f16.mla_bytes_per_token, uint64_t{27} * 576 * 2);
    QCOMPARE(f16.mha_bytes_per_token, uint64_t{27} * 16 * 320 * 2);
    QVERIFY(std::fabs(f16.reduction_percent - 88.75) < 1e-9);
    const KvCacheFootprint f32 = kv_cache_footprint(c, 4);
    QCOMPARE(f32.mla_bytes_per_token, uint64_t{27} * 576 * 4);
}

void TestModelConfig::syntheticVocab_data() {
    QTest::addColumn<uint32_t>("n_vocab");
    QTest::addColumn<uint32_t>("special_start");
    QTest::newRow("smallest, specials last") << 262u << 256u;
    QTest::newRow("tiny, specials first") << 1024u << 0u;
    QTest::newRow("v2-lite") << 102400u << 100000u;
}

void TestModelConfig::syntheticVocab() {
    QFETCH(uint32_t, n_vocab);
    QFETCH(uint32_t, special_start);
    const SyntheticVocab vocab = make_synthetic_vocab(n_vocab, special_start);
    QCOMPARE(vocab.tokens.size(), size_t{n_vocab});
    QCOMPARE(vocab.token_types.size(), size_t{n_vocab});
    QCOMPARE(vocab.merges.size(), size_t{n_vocab - 256 - kSyntheticSpecialCount});
    std::unordered_set<std::string> seen;
    for (const std::string& t : vocab.tokens) QVERIFY2(seen.insert(t).second, t.c_str());

    QCOMPARE(vocab.bos_id, special_start);
    QCOMPARE(vocab.tokens[vocab.bos_id], std::string("<\xEF\xBD\x9C" "begin\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"));
    QCOMPARE(vocab.tokens[vocab.eos_id], std::string("<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"));
    QCOMPARE(vocab.tokens[vocab.user_id], std::string("<\xEF\xBD\x9CUser\xEF\xBD\x9C>"));
    QCOMPARE(vocab.tokens[vocab.assistant_id], std::string("<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>"));
    QCOMPARE(vocab.tokens[vocab.think_id], std::string("<think>"));
    QCOMPARE(vocab.tokens[vocab.think_end_id], std::string("</think>"));
    for (uint32_t id : {vocab.bos_id, vocab.eos_id, vocab.user_id, vocab.assistant_id})
        QCOMPARE(vocab.token_types[id], kTokenControl);
    QCOMPARE(vocab.token_types[vocab.think_id], kTokenUserDefined);
    QCOMPARE(vocab.token_types[vocab.think_end_id], kTokenUserDefined);

    // Every byte has its GPT-2 token; space is "Ġ", LF is "Ċ".
    for (int b = 0; b < 256; ++b) QVERIFY(seen.contains(gpt2_byte_token(static_cast<uint8_t>(b))));
    QCOMPARE(gpt2_byte_token(' '), std::string("\xC4\xA0"));
    QCOMPARE(gpt2_byte_token('\n'), std::string("\xC4\x8A"));
    QCOMPARE(gpt2_byte_token(0xAD), std::string("\xC5\x83"));

    // Merges: both sides are tokens made by earlier merges (or bytes), the result is a new token.
    std::unordered_set<std::string> available;
    for (int b = 0; b < 256; ++b) available.insert(gpt2_byte_token(static_cast<uint8_t>(b)));
    for (const std::string& merge : vocab.merges) {
        const size_t space = merge.find(' ');
        QVERIFY(space != std::string::npos && space > 0);
        const std::string left = merge.substr(0, space), right = merge.substr(space + 1);
        QVERIFY2(available.contains(left) && available.contains(right), merge.c_str());
        QVERIFY2(seen.contains(left + right), merge.c_str());
        QVERIFY2(available.insert(left + right).second, merge.c_str());
    }
    // Common English from the sample text became whole tokens.
    if (n_vocab >= 1024) {
        QVERIFY(seen.contains("\xC4\xA0the"));
        QVERIFY(seen.contains("\xC4\xA0" "and"));
    }
}

void TestModelConfig::malformed_data() {
    QTest::addColumn<int>("index");
    const auto& cases = malformed_cases();
    for (size_t i = 0; i < cases.size(); ++i) QTest::newRow(cases[i].name) << int(i);
}

void TestModelConfig::malformed() {
    QFETCH(int, index);
    const MalformedCase& c = malformed_cases()[size_t(index)];
    if (std::string_view(c.name) == "unsupported tensor type" && !undecodable_type())
        QSKIP("every type the reader accepts for this row width is decodable");
    BuildOptions options;
    c.breaks(options);
    QTemporaryDir dir;
    const std::filesystem::path path = test::to_path(dir.path()) / "bad.gguf";
    build_model_file(*model_shape_preset(c.preset), options, path);
    try {
        load_model(path);
        QFAIL("loading succeeded");
    } catch (const Error& e) {
        const std::string message = e.what();
        for (const std::string& expected : c.expected)
            QVERIFY2(message.find(expected) != std::string::npos,
                     qPrintable(QString::fromStdString("'" + expected + "' not in: " + message)));
    }
}

void TestModelConfig::conformanceModels_data() {
    QTest::addColumn<QString>("file");
    QTest::newRow("tiny-v2lite-f32e") << "tiny-v2lite-f32e.gguf";
    QTest::newRow("tiny-v3-f32e") << "tiny-v3-f32e.gguf";
    QTest::newRow("tiny-v3-q8_0") << "tiny-v3-q8_0.gguf";
}

void TestModelConfig::conformanceModels() {
    QFETCH(QString, file);
    LATENT_REQUIRE_CONFORMANCE(kit);
    const LoadedModel model = load_model(kit / "models" / file.toStdString());
    const ModelConfig& c = model.config;
    QVERIFY(model.weights.unused_tensors.empty());
    QCOMPARE(c.rope_scaling, RopeScaling::Yarn);
    QCOMPARE(c.rope_scaling_factor, 40.0f);
    QCOMPARE(c.rope_original_context, 4096u);
    QCOMPARE(c.n_leading_dense, 1u);
    QCOMPARE(c.n_vocab, 32256u);
    QCOMPARE(c.kv_format, KvFormat::Legacy); // early-2025 files
    QCOMPARE(model.weights.token_embd->type, TensorType::Q8_0);
    QCOMPARE(model.weights.output->type, TensorType::Q8_0);
    if (file.startsWith("tiny-v2lite")) {
        QCOMPARE(c.n_layer, 27u);
        QVERIFY(!c.q_compressed());
        QCOMPARE(c.gating, ExpertGating::Softmax);
        QVERIFY(!c.has_selection_bias);
        QCOMPARE(c.n_expert, 6u);
        QCOMPARE(c.n_expert_used, 2u);
        QCOMPARE(c.n_expert_shared, 2u);
        QVERIFY(!c.expert_weights_norm);
        QVERIFY(close_to(c.mscale_all_dim, 0.707, 1e-6));
        QCOMPARE(model.weights.layers[5].attn_q->type, TensorType::F32);
    } else {
        QCOMPARE(c.n_layer, 4u);
        QVERIFY(c.q_compressed());
        QCOMPARE(c.gating, ExpertGating::Sigmoid);
        QVERIFY(c.has_selection_bias);
        QCOMPARE(c.n_expert, 16u);
        QCOMPARE(c.n_expert_used, 4u);
        QCOMPARE(c.n_expert_shared, 1u);
        QVERIFY(c.expert_weights_norm);
        QCOMPARE(c.expert_weights_scale, 2.5f);
        QCOMPARE(c.expert_group_count, 1u); // no group keys in these files
        const double mscale = 1.0 + 0.1 * std::log(40.0);
        QVERIFY(close_to(c.kq_scale, mscale * mscale / std::sqrt(double(c.qk_head_dim)), 1e-6));
        for (const LayerWeights& layer : model.weights.layers)
            QCOMPARE(layer.exp_probs_b != nullptr, layer.is_moe);
        const TensorType body = file.endsWith("q8_0.gguf") ? TensorType::Q8_0 : TensorType::F32;
        QCOMPARE(model.weights.layers[2].ffn_down_exps->type, body);
    }
    const ModelStats stats = compute_model_stats(c, model.weights);
    uint64_t elements = 0;
    for (const gguf::TensorInfo& t : model.files->tensors()) elements += t.element_count();
    QCOMPARE(stats.total_params, elements);
    QVERIFY(stats.active_params < stats.total_params);
}

QTEST_APPLESS_MAIN(TestModelConfig)
#include "test_model_config.moc"
