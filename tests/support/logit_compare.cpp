#include "logit_compare.h"

#include "core/error.h"
#include "test_support.h"

#include <QtTest>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace latent::test {

std::vector<float> all_logits(Backend& b, const std::vector<int32_t>& tokens) {
    std::vector<uint32_t> rows(tokens.size());
    std::iota(rows.begin(), rows.end(), 0u);
    std::vector<float> out(rows.size() * b.model().config().n_vocab, std::numeric_limits<float>::quiet_NaN());
    b.evaluate(tokens, rows, out.data());
    return out;
}

std::vector<int32_t> test_tokens(const Model& m, size_t n, uint32_t seed) {
    std::vector<int32_t> t;
    uint32_t s = seed;
    for (size_t i = 0; i < n; ++i) {
        s = s * 1664525u + 1013904223u;
        t.push_back(static_cast<int32_t>((s >> 8) % 256)); // ordinary byte tokens
    }
    t.insert(t.begin(), *m.tokenizer().bos());
    return t;
}

Diff compare(const std::vector<float>& a, const std::vector<float>& b, size_t n_vocab) {
    Diff d;
    const size_t rows = a.size() / n_vocab;
    size_t same = 0;
    for (size_t r = 0; r < rows; ++r) {
        const float* x = a.data() + r * n_vocab;
        const float* y = b.data() + r * n_vocab;
        double scale = 0;
        for (size_t i = 0; i < n_vocab; ++i) scale = std::max(scale, static_cast<double>(std::abs(x[i])));
        for (size_t i = 0; i < n_vocab; ++i) {
            const double e = std::abs(static_cast<double>(x[i]) - y[i]);
            if (!std::isfinite(y[i]) || !std::isfinite(x[i])) d.max_abs = INFINITY;
            d.max_abs = std::max(d.max_abs, e);
            d.mean_abs += e;
            d.max_rel = std::max(d.max_rel, e / std::max(scale, 1e-6));
        }
        if (std::max_element(x, x + n_vocab) - x == std::max_element(y, y + n_vocab) - y) ++same;
    }
    d.mean_abs /= static_cast<double>(a.size());
    d.top1 = static_cast<double>(same) / static_cast<double>(rows);
    return d;
}

void check_batch_errors_leave_cache_unchanged(Backend& b) {
    std::vector<float> logits(b.model().config().n_vocab);
    const uint32_t row = 0;
    const std::vector<int32_t> bad{1, -1};
    QVERIFY_THROWS_EXCEPTION(latent::Error, b.evaluate(bad, std::span<const uint32_t>(&row, 1), logits.data()));
    const std::vector<int32_t> out_of_vocab{static_cast<int32_t>(b.model().config().n_vocab)};
    QVERIFY_THROWS_EXCEPTION(latent::Error, b.evaluate(out_of_vocab, std::span<const uint32_t>(&row, 1), logits.data()));
    const std::vector<int32_t> too_long(b.context_size() + 1, 1);
    try {
        b.evaluate(too_long, std::span<const uint32_t>(&row, 1), logits.data());
        QFAIL("context overflow accepted");
    } catch (const latent::Error& e) {
        QVERIFY2(QString(e.what()).contains("context full"), e.what());
    }
    QCOMPARE(b.n_cached(), 0u);
    const std::vector<int32_t> ok{1, 2};
    b.evaluate(ok, std::span<const uint32_t>(&row, 1), logits.data());
    QCOMPARE(b.n_cached(), 2u);
}

ModelShape preset_shape(const QString& preset, int n_embd) {
    ModelShape shape = *model_shape_preset(preset.toStdString());
    shape.n_embd = static_cast<uint32_t>(n_embd);
    if (n_embd == 256) {
        shape.n_ff = 512;
        shape.n_ff_expert = 256;
        shape.kv_lora_rank = 256;
        if (shape.q_lora_rank) shape.q_lora_rank = 256;
    }
    return shape;
}

std::vector<TensorType> forced_weight_types() {
    return {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0,   TensorType::Q2_K,   TensorType::Q3_K,
            TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K, TensorType::IQ4_NL, TensorType::IQ4_XS, TensorType::F16, TensorType::BF16};
}

QString tensor_type_qname(TensorType t) {
    const std::string_view name = tensor_type_name(t);
    return QString::fromUtf8(name.data(), static_cast<qsizetype>(name.size()));
}

BuildOptions scheme_build_options(const QString& scheme, int force_type, uint64_t seed) {
    BuildOptions options;
    options.scheme = *weight_scheme_from_name(scheme.toStdString());
    options.seed = seed;
    if (force_type >= 0) {
        const TensorType t = static_cast<TensorType>(force_type);
        const uint32_t block = tensor_type_info(t).block_size;
        options.edit_tensors = [t, block](std::vector<TensorPlan>& plans) {
            for (TensorPlan& p : plans) {
                if (p.ne.size() >= 2 && p.ne[0] % block == 0 && p.name.find("ffn_gate_inp") == std::string::npos) p.type = t;
            }
        };
    }
    return options;
}

bool float_weights(const QString& scheme, int force_type) {
    return (force_type < 0 && (scheme == "f32" || scheme == "f16" || scheme == "bf16")) ||
           force_type == static_cast<int>(TensorType::F16) || force_type == static_cast<int>(TensorType::BF16);
}

std::unique_ptr<Model> build_and_load(const QTemporaryDir& dir, const QString& name, const ModelShape& shape, const BuildOptions& options) {
    const auto path = to_path(dir.filePath(name));
    build_model_file(shape, options, path);
    return Model::load(path);
}

} // namespace latent::test
