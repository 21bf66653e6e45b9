#include "cpu/ffn_runner.h"

#include "backend/backend_common.h"

#include <algorithm>
#include <cmath>

namespace latent::cpu {

namespace {

float silu(float x) { return x / (1.0f + std::exp(-x)); }

} // namespace

void FfnRunner::matmul(const WeightMatrix& wm, const float* x, size_t n, float* y) {
    quantize_activations(wm.type, x, wm.cols, static_cast<int64_t>(n), act_);
    cpu::matmul(wm, act_, y, &pool_);
}

void FfnRunner::matmul_precise(const WeightMatrix& wm, const float* x, size_t n, float* y) {
    if (activation_format(wm.type) == ActivationFormat::F32) {
        matmul(wm, x, n, y);
        return;
    }
    const size_t cols = static_cast<size_t>(wm.cols), rows = static_cast<size_t>(wm.rows);
    quantize_activations(wm.type, x, wm.cols, static_cast<int64_t>(n), act_);
    cpu::matmul(wm, act_, y, &pool_);
    residual_.resize(n * cols);
    for (size_t t = 0; t < n; ++t) {
        dequantize_activations(act_, static_cast<int64_t>(t), residual_.data() + t * cols);
        for (size_t i = 0; i < cols; ++i) residual_[t * cols + i] = x[t * cols + i] - residual_[t * cols + i];
    }
    correction_.resize(n * rows);
    quantize_activations(wm.type, residual_.data(), wm.cols, static_cast<int64_t>(n), act_);
    cpu::matmul(wm, act_, correction_.data(), &pool_);
    for (size_t i = 0; i < n * rows; ++i) y[i] += correction_[i];
}

void FfnRunner::swiglu(const WeightMatrix& gate, const WeightMatrix& up, const WeightMatrix& down, const float* x, size_t n,
                       float* out, bool precise_down) {
    gate_.resize(n * static_cast<size_t>(gate.rows));
    up_.resize(n * static_cast<size_t>(up.rows));
    quantize_activations(gate.type, x, gate.cols, static_cast<int64_t>(n), act_);
    cpu::matmul(gate, act_, gate_.data(), &pool_);
    if (up.type != gate.type) quantize_activations(up.type, x, up.cols, static_cast<int64_t>(n), act_);
    cpu::matmul(up, act_, up_.data(), &pool_);
    for (size_t i = 0; i < gate_.size(); ++i) gate_[i] = silu(gate_[i]) * up_[i];
    if (precise_down) matmul_precise(down, gate_.data(), n, out);
    else matmul(down, gate_.data(), n, out);
}

void FfnRunner::moe(const LayerWeights& lw, std::span<const float> selection_bias, const float* xn, size_t n, float* out,
                    bool include_shared) {
    const size_t d = c_.n_embd;
    router_.resize(n * c_.n_expert);
    matmul(weight_matrix(*lw.ffn_gate_inp), xn, n, router_.data());
    // Route every token, then gather the tokens of each chosen expert.
    by_expert_.resize(c_.n_expert);
    for (auto& members : by_expert_) members.clear();
    for (size_t t = 0; t < n; ++t) {
        const ExpertChoice choice = route_token(c_, std::span<const float>(router_.data() + t * c_.n_expert, c_.n_expert), selection_bias);
        for (size_t k = 0; k < choice.experts.size(); ++k) by_expert_[choice.experts[k]].emplace_back(static_cast<uint32_t>(t), choice.weights[k]);
    }
    std::fill(out, out + n * d, 0.0f);
    for (uint32_t e = 0; e < c_.n_expert; ++e) {
        const auto& members = by_expert_[e];
        if (members.empty()) continue;
        gathered_.resize(members.size() * d);
        for (size_t m = 0; m < members.size(); ++m) std::copy_n(xn + members[m].first * d, d, gathered_.data() + m * d);
        expert_out_.resize(members.size() * d);
        swiglu(weight_matrix(*lw.ffn_gate_exps, e), weight_matrix(*lw.ffn_up_exps, e), weight_matrix(*lw.ffn_down_exps, e),
               gathered_.data(), members.size(), expert_out_.data());
        for (size_t m = 0; m < members.size(); ++m) {
            float* dst = out + members[m].first * d;
            const float* src = expert_out_.data() + m * d;
            for (size_t i = 0; i < d; ++i) dst[i] += members[m].second * src[i];
        }
    }
    if (include_shared && lw.ffn_gate_shexp) {
        shared_.resize(n * d);
        swiglu(weight_matrix(*lw.ffn_gate_shexp), weight_matrix(*lw.ffn_up_shexp), weight_matrix(*lw.ffn_down_shexp), xn, n, shared_.data());
        for (size_t i = 0; i < n * d; ++i) out[i] += shared_[i];
    }
}

} // namespace latent::cpu
