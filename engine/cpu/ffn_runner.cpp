#include "cpu/ffn_runner.h"

#include "backend/backend_common.h"
#include "core/huge_pages.h"
#include "cpu/section_profile.h"
#include "cpu/vector_math.h"

#include <algorithm>
#include <cmath>
#include <optional>

namespace latent::cpu {

void FfnRunner::matmul(const WeightMatrix& wm, const float* x, size_t n, float* y) {
    quantize_activations(wm.type, x, wm.cols, static_cast<int64_t>(n), act_, &pool_);
    cpu::matmul(wm, act_, y, &pool_);
}

// act_ = 2n activation rows for wm: x, then its rounding remainder (quantize_activations_with_remainder).
// A prompt's rows are split over the pool (few tokens stay on this thread: a pool round trip
// would cost more than the work).
void FfnRunner::quantize_with_remainder(const WeightMatrix& wm, const float* x, size_t n) {
    ThreadPool* pool = n >= static_cast<size_t>(kBatchKernelMinTokens) ? &pool_ : nullptr;
    quantize_activations_with_remainder(wm.type, x, wm.cols, static_cast<int64_t>(n), act_, pool);
}

// y[i] = c[i] + c[count + i] for i < count: a product of x plus that of its remainder (the 2n
// rows of quantize_with_remainder), in chunks over the pool for a prompt.
void FfnRunner::sum_halves(float* y, const float* c, size_t count) {
    constexpr size_t kChunk = 32768;
    auto chunk = [&](size_t task, unsigned) {
        const size_t end = std::min(count, (task + 1) * kChunk);
        for (size_t i = task * kChunk; i < end; ++i) y[i] = c[i] + c[count + i];
    };
    const size_t chunks = (count + kChunk - 1) / kChunk;
    if (chunks > 1) {
        pool_.parallel_for(chunks, chunk);
    } else {
        chunk(0, 0); // a decode step's: no std::function for the pool
    }
}

void FfnRunner::matmul_precise(const WeightMatrix& wm, const float* x, size_t n, float* y) {
    if (activation_format(wm.type) == ActivationFormat::F32) {
        matmul(wm, x, n, y);
        return;
    }
    // x and its rounding remainder as 2n activation rows of one product, so the weights are read
    // (and for a prompt unpacked) once; the kernels give each row what separate products would.
    const size_t rows = static_cast<size_t>(wm.rows);
    quantize_with_remainder(wm, x, n);
    resize_scratch(correction_, 2 * n * rows);
    if (n < static_cast<size_t>(kBatchKernelMinTokens)) {
        matmul_per_row(wm, act_, correction_.data(), &pool_); // few tokens (decode)
    } else {
        cpu::matmul(wm, act_, correction_.data(), &pool_);
    }
    sum_halves(y, correction_.data(), n * rows);
}

void FfnRunner::matmul_precise_pair(const WeightMatrix& a, const WeightMatrix& b, const float* x, size_t n, float* ya, float* yb) {
    const size_t batch = static_cast<size_t>(kBatchKernelMinTokens);
    if (a.type != b.type || a.cols != b.cols || activation_format(a.type) == ActivationFormat::F32 || (2 * n >= batch && n < batch)) {
        matmul_precise(a, x, n, ya);
        matmul_precise(b, x, n, yb);
        return;
    }
    const size_t rows_a = static_cast<size_t>(a.rows), rows_b = static_cast<size_t>(b.rows);
    // Both products on the same 2n rows (x and its remainder), rounded once: a prompt's through
    // the batch kernels, a decode step's in one pool round trip (matmul_many's per-row kernels,
    // which give what matmul_per_row gives).
    quantize_with_remainder(a, x, n);
    resize_scratch(correction_, 2 * n * (rows_a + rows_b));
    float* ca = correction_.data();
    float* cb = correction_.data() + 2 * n * rows_a;
    if (n >= batch) {
        cpu::matmul(a, act_, ca, &pool_);
        cpu::matmul(b, act_, cb, &pool_);
    } else {
        const MatmulJob jobs[2] = {{&a, &act_, ca}, {&b, &act_, cb}};
        matmul_many(jobs, &pool_);
    }
    sum_halves(ya, ca, n * rows_a);
    sum_halves(yb, cb, n * rows_b);
}

void FfnRunner::gate_up(SwigluScratch& s, const WeightMatrix& gate, const WeightMatrix& up, const float* x, size_t n) {
    resize_scratch(s.gate, n * static_cast<size_t>(gate.rows));
    resize_scratch(s.up, n * static_cast<size_t>(up.rows));
    quantize_activations(gate.type, x, gate.cols, static_cast<int64_t>(n), s.act, &pool_);
    cpu::matmul(gate, s.act, s.gate.data(), &pool_);
    if (up.type != gate.type) quantize_activations(up.type, x, up.cols, static_cast<int64_t>(n), s.act, &pool_);
    cpu::matmul(up, s.act, s.up.data(), &pool_);
    // silu(gate) ⊙ up over the pool in chunks (inline when this already runs in a pool task).
    constexpr size_t kChunk = 16384;
    const size_t total = s.gate.size();
    float* g = s.gate.data();
    const float* u = s.up.data();
    pool_.parallel_for((total + kChunk - 1) / kChunk, [&](size_t task, unsigned) {
        const size_t end = std::min(total, (task + 1) * kChunk);
        silu_mul(g + task * kChunk, u + task * kChunk, end - task * kChunk);
    });
}

void FfnRunner::swiglu(const WeightMatrix& gate, const WeightMatrix& up, const WeightMatrix& down, const float* x, size_t n,
                       float* out, bool precise_down) {
    gate_up(main_, gate, up, x, n);
    if (precise_down) matmul_precise(down, main_.gate.data(), n, out);
    else matmul(down, main_.gate.data(), n, out);
}

// The routed experts of a prompt batch, each run whole (gather, gate and up, silu, down) by one
// pool thread, largest first: no pool round trip per product and no thread waiting for another
// one's serial steps (quantising, silu). The experts go in waves of consecutive ids whose outputs
// fit wave_rows_ rows (set_wave_rows), and each wave's outputs are added to out in expert order, so the result is
// the same, bit for bit, as running the experts one after the other.
void FfnRunner::routed_experts_per_thread(const LayerWeights& lw, const float* xn, float* out) {
    const size_t d = c_.n_embd;
    thread_scratch_.resize(pool_.size());
    expert_row_.assign(c_.n_expert, 0);
    uint32_t first = 0;
    while (first < c_.n_expert) {
        expert_order_.clear();
        size_t rows = 0;
        uint32_t last = first;
        for (; last < c_.n_expert; ++last) {
            const size_t m = by_expert_[last].size();
            if (m == 0) continue;
            if (rows > 0 && rows + m > wave_rows_) break;
            expert_row_[last] = rows;
            rows += m;
            expert_order_.push_back(last);
        }
        std::stable_sort(expert_order_.begin(), expert_order_.end(),
                         [&](uint32_t a, uint32_t b) { return by_expert_[a].size() > by_expert_[b].size(); });
        resize_scratch(expert_out_, rows * d);
        pool_.parallel_for(expert_order_.size(), [&](size_t task, unsigned thread) {
            const uint32_t e = expert_order_[task];
            const auto& members = by_expert_[e];
            const size_t m = members.size();
            SwigluScratch& s = thread_scratch_[thread];
            resize_scratch(s.x, m * d);
            for (size_t i = 0; i < m; ++i) std::copy_n(xn + members[i].first * d, d, s.x.data() + i * d);
            gate_up(s, weight_matrix(*lw.ffn_gate_exps, e), weight_matrix(*lw.ffn_up_exps, e), s.x.data(), m);
            const WeightMatrix down = weight_matrix(*lw.ffn_down_exps, e);
            quantize_activations(down.type, s.gate.data(), down.cols, static_cast<int64_t>(m), s.act, &pool_);
            cpu::matmul(down, s.act, expert_out_.data() + expert_row_[e] * d, &pool_);
        });
        for (uint32_t e = first; e < last; ++e) {
            if (!by_expert_[e].empty()) add_weighted(by_expert_[e], expert_out_.data() + expert_row_[e] * d, out);
        }
        first = last;
    }
}

void FfnRunner::moe(const LayerWeights& lw, std::span<const float> selection_bias, const float* xn, size_t n, float* out,
                    bool include_shared) {
    const size_t d = c_.n_embd;
    std::optional<ProfiledSection> section;
    section.emplace("MoE: router", lw.ffn_gate_inp->size_bytes);
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
    const bool shared = include_shared && lw.ffn_gate_shexp;
    if (n < static_cast<size_t>(kBatchKernelMinTokens)) {
        section.emplace("MoE: experts (routed and shared, fused)");
        fused_experts(lw, xn, n, out, shared, *section);
        return;
    }
    section.emplace("MoE: routed experts");
    size_t active = 0;
    for (uint32_t e = 0; e < c_.n_expert; ++e) {
        if (by_expert_[e].empty()) continue;
        ++active;
        section->add_bytes(expert_bytes(lw));
    }
    if (active >= 4 * static_cast<size_t>(pool_.size())) {
        // Enough experts to keep every thread busy with whole experts.
        routed_experts_per_thread(lw, xn, out);
    } else {
        for (uint32_t e = 0; e < c_.n_expert; ++e) {
            const auto& members = by_expert_[e];
            if (members.empty()) continue;
            resize_scratch(gathered_, members.size() * d);
            for (size_t m = 0; m < members.size(); ++m) std::copy_n(xn + members[m].first * d, d, gathered_.data() + m * d);
            resize_scratch(expert_out_, members.size() * d);
            swiglu(weight_matrix(*lw.ffn_gate_exps, e), weight_matrix(*lw.ffn_up_exps, e), weight_matrix(*lw.ffn_down_exps, e),
                   gathered_.data(), members.size(), expert_out_.data());
            add_weighted(members, expert_out_.data(), out);
        }
    }
    if (shared) {
        section.emplace("MoE: shared experts", shared_bytes(lw));
        resize_scratch(shared_, n * d);
        swiglu(weight_matrix(*lw.ffn_gate_shexp), weight_matrix(*lw.ffn_up_shexp), weight_matrix(*lw.ffn_down_shexp), xn, n, shared_.data());
        for (size_t i = 0; i < n * d; ++i) out[i] += shared_[i];
    }
}

// out[token] += weight · expert_out[m] for each member m = (token, weight) of an expert.
void FfnRunner::add_weighted(std::span<const std::pair<uint32_t, float>> members, const float* expert_out, float* out) const {
    const size_t d = c_.n_embd;
    for (size_t m = 0; m < members.size(); ++m) {
        float* dst = out + members[m].first * d;
        const float* src = expert_out + m * d;
        for (size_t i = 0; i < d; ++i) dst[i] += members[m].second * src[i];
    }
}

uint64_t FfnRunner::expert_bytes(const LayerWeights& lw) const {
    return (lw.ffn_gate_exps->size_bytes + lw.ffn_up_exps->size_bytes + lw.ffn_down_exps->size_bytes) / c_.n_expert;
}

uint64_t FfnRunner::shared_bytes(const LayerWeights& lw) const {
    return lw.ffn_gate_shexp->size_bytes + lw.ffn_up_shexp->size_bytes + lw.ffn_down_shexp->size_bytes;
}

// The chosen experts of a small batch (a decode step) and the shared experts as one product per
// projection over the pool (matmul_many): gate and up of every part together, then every down.
// Each part computes exactly what swiglu would, and the results are added in the same order
// (experts by id, then the shared ones), so this equals the expert-by-expert path bit for bit.
void FfnRunner::fused_experts(const LayerWeights& lw, const float* xn, size_t n, float* out, bool shared, ProfiledSection& section) {
    const size_t d = c_.n_embd;
    parts_.clear();
    for (uint32_t e = 0; e < c_.n_expert; ++e) {
        if (by_expert_[e].empty()) continue;
        parts_.push_back(Part{static_cast<int64_t>(e), weight_matrix(*lw.ffn_gate_exps, e), weight_matrix(*lw.ffn_up_exps, e),
                              weight_matrix(*lw.ffn_down_exps, e)});
        section.add_bytes(expert_bytes(lw));
    }
    if (shared) {
        parts_.push_back(Part{-1, weight_matrix(*lw.ffn_gate_shexp), weight_matrix(*lw.ffn_up_shexp), weight_matrix(*lw.ffn_down_shexp)});
        section.add_bytes(shared_bytes(lw));
    }
    if (part_buffers_.size() < parts_.size()) part_buffers_.resize(parts_.size());
    jobs_.clear();
    for (size_t p = 0; p < parts_.size(); ++p) {
        Part& part = parts_[p];
        PartBuffers& b = part_buffers_[p];
        const float* x = xn;
        size_t m = n;
        if (part.expert >= 0) {
            const auto& members = by_expert_[static_cast<size_t>(part.expert)];
            m = members.size();
            b.x.resize(m * d);
            for (size_t i = 0; i < m; ++i) std::copy_n(xn + members[i].first * d, d, b.x.data() + i * d);
            x = b.x.data();
        }
        part.tokens = m;
        quantize_activations(part.gate.type, x, part.gate.cols, static_cast<int64_t>(m), b.gate_in);
        const ActivationBuffer* up_in = &b.gate_in;
        if (part.up.type != part.gate.type) {
            quantize_activations(part.up.type, x, part.up.cols, static_cast<int64_t>(m), b.up_in);
            up_in = &b.up_in;
        }
        b.gate.resize(m * static_cast<size_t>(part.gate.rows));
        b.up.resize(m * static_cast<size_t>(part.up.rows));
        jobs_.push_back(MatmulJob{&part.gate, &b.gate_in, b.gate.data()});
        jobs_.push_back(MatmulJob{&part.up, up_in, b.up.data()});
    }
    matmul_many(jobs_, &pool_);
    jobs_.clear();
    for (size_t p = 0; p < parts_.size(); ++p) {
        Part& part = parts_[p];
        PartBuffers& b = part_buffers_[p];
        silu_mul(b.gate.data(), b.up.data(), b.gate.size());
        quantize_activations(part.down.type, b.gate.data(), part.down.cols, static_cast<int64_t>(part.tokens), b.down_in);
        b.out.resize(part.tokens * d);
        jobs_.push_back(MatmulJob{&part.down, &b.down_in, b.out.data()});
    }
    matmul_many(jobs_, &pool_);
    for (size_t p = 0; p < parts_.size(); ++p) {
        const Part& part = parts_[p];
        const PartBuffers& b = part_buffers_[p];
        if (part.expert < 0) {
            for (size_t i = 0; i < n * d; ++i) out[i] += b.out[i];
            continue;
        }
        add_weighted(by_expert_[static_cast<size_t>(part.expert)], b.out.data(), out);
    }
}

} // namespace latent::cpu
