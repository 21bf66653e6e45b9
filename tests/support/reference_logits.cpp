#include "reference_logits.h"

#include "cuda/gpu_plugin.h"
#include "session/backend_factory.h"

#include <QJsonArray>
#include <QString>

#include <algorithm>
#include <cmath>

namespace latent::test {

ReferenceLogits parse_reference_logits(const QJsonObject& o) {
    ReferenceLogits e;
    e.text = o["text"].toString().toStdString();
    for (const QJsonValue v : o["tokens"].toArray()) e.tokens.push_back(v.toInt());
    for (const QJsonValue p : o["positions"].toArray()) {
        e.lse.push_back(p.toObject()["lse"].toDouble());
        std::vector<std::pair<int32_t, double>> top;
        for (const QJsonValue t : p.toObject()["top"].toArray()) top.emplace_back(t.toArray()[0].toInt(), t.toArray()[1].toDouble());
        e.top.push_back(top);
    }
    for (const QJsonValue v : o["greedy"].toArray()) e.greedy.push_back(v.toInt());
    return e;
}

double log_sum_exp(const float* v, size_t n) {
    const float max = *std::max_element(v, v + n);
    double sum = 0.0;
    for (size_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(v[i]) - max);
    return max + std::log(sum);
}

int32_t argmax(const float* v, size_t n) { return static_cast<int32_t>(std::max_element(v, v + n) - v); }

ReferenceCheck check_reference_logits(const std::vector<float>& logits, size_t n_vocab, const ReferenceLogits& e, bool strict) {
    ReferenceCheck c;
    const size_t positions = std::min(e.top.size(), logits.size() / n_vocab);
    if (positions != e.top.size() || positions == 0) {
        c.failure = QString("%1 rows of logits for %2 reference positions").arg(logits.size() / n_vocab).arg(e.top.size()).toStdString();
        return c;
    }
    double sum_err = 0.0;
    size_t n_err = 0, top1_same = 0;
    const auto fail = [&c](const QString& what) {
        if (c.failure.empty()) c.failure = what.toStdString();
    };
    for (size_t p = 0; p < positions; ++p) {
        const float* row = logits.data() + p * n_vocab;
        const double lse = log_sum_exp(row, n_vocab);
        if (strict && std::abs(lse - e.lse[p]) > 2e-3) fail(QString("position %1: lse %2 vs %3").arg(p).arg(lse).arg(e.lse[p]));
        for (const auto& [id, want] : e.top[p]) {
            const double err = std::abs(static_cast<double>(row[id]) - want);
            c.max_err = std::max(c.max_err, err);
            sum_err += err;
            ++n_err;
            if (strict && err > 2e-3) fail(QString("position %1 id %2: logit %3 vs %4").arg(p).arg(id).arg(row[id]).arg(want));
        }
        if (argmax(row, n_vocab) == e.top[p][0].first) ++top1_same;
        else if (strict) fail(QString("position %1: top-1 %2 vs %3").arg(p).arg(argmax(row, n_vocab)).arg(e.top[p][0].first));
    }
    c.mean_err = n_err ? sum_err / static_cast<double>(n_err) : 0.0;
    c.top1 = static_cast<double>(top1_same) / static_cast<double>(positions);
    if (!strict && c.mean_err > 0.15) fail(QString("mean |dlogit| %1 > 0.15").arg(c.mean_err));
    if (!strict && c.top1 < 0.85) fail(QString("top-1 agreement %1 < 0.85").arg(c.top1));
    return c;
}

std::unique_ptr<Backend> backend_named(const Model& m, const std::string& name, BackendOptions options, std::string* skip) {
    if (name == "ref") return create_ref_backend(m, options);
    if (name == "cpu") return create_cpu_backend(m, options);
    std::string why;
    if (gpu_plugin(&why) == nullptr) {
        *skip = "no GPU plugin: " + why;
        return nullptr;
    }
    options.cache_type = KvCacheType::F16; // the GPU keeps the cache in f16 or bf16
    std::string note;
    auto b = create_backend(m, BackendKind::Cuda, options, &note);
    if (b->name() != "cuda") throw std::runtime_error("the cuda backend fell back to " + std::string(b->name()) + ": " + note);
    return b;
}

std::vector<int32_t> greedy_continuation(Backend& b, const std::vector<float>& logits, size_t n_vocab, size_t n) {
    std::vector<float> last(logits.end() - static_cast<std::ptrdiff_t>(n_vocab), logits.end());
    std::vector<int32_t> greedy;
    const uint32_t zero = 0;
    for (size_t g = 0; g < n; ++g) {
        const int32_t next = argmax(last.data(), n_vocab);
        greedy.push_back(next);
        if (g + 1 < n) b.evaluate(std::span<const int32_t>(&next, 1), std::span<const uint32_t>(&zero, 1), last.data());
    }
    return greedy;
}

} // namespace latent::test
