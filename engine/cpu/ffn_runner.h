// The CPU side of the feed-forward layers, shared by the cpu backend (every layer) and the cuda
// backend (routed experts kept in host memory, gpu_placement.h): quantised matmuls on a thread
// pool, SwiGLU, and the MoE block with tokens grouped by expert so each chosen expert's weights
// are read once per batch and only the chosen experts are touched.
#pragma once

#include "cpu/quant_dot.h"
#include "cpu/section_profile.h"
#include "cpu/thread_pool.h"
#include "model/model.h"

#include <cstddef>
#include <span>
#include <vector>

namespace latent::cpu {

class FfnRunner {
public:
    FfnRunner(const ModelConfig& config, ThreadPool& pool) : c_(config), pool_(pool) {}

    // y (n × rows) = W · x (n × cols), threaded over the weight's rows.
    void matmul(const WeightMatrix& wm, const float* x, size_t n, float* y);

    // y = W · x with near-float precision on quantised weights: x is rounded to 8-bit blocks,
    // then the rounding remainder is rounded and multiplied too, so only the remainder's
    // rounding (about 1/127 of the first) is lost. For the products whose inputs are heavy-tailed
    // or feed attention scores, where activation rounding costs the most accuracy.
    void matmul_precise(const WeightMatrix& wm, const float* x, size_t n, float* y);
    // matmul_precise of a and b over the same x: the same values, in one pool round trip for
    // few tokens (a decode step's query and kv_a projections).
    void matmul_precise_pair(const WeightMatrix& a, const WeightMatrix& b, const float* x, size_t n, float* ya, float* yb);

    // out (n × D) = down(silu(gate·x) ⊙ up·x) for a 2-D or one matrix of a 3-D tensor.
    // precise_down: the down projection's input (a product of two projections) goes through
    // matmul_precise.
    void swiglu(const WeightMatrix& gate, const WeightMatrix& up, const WeightMatrix& down, const float* x, size_t n, float* out,
                bool precise_down = false);

    // out (n × D) = Σ_k w_k · expert_k(x) over each token's routed experts (router on the CPU,
    // §4.10), plus the shared experts when include_shared. xn: n normalised rows.
    void moe(const LayerWeights& lw, std::span<const float> selection_bias, const float* xn, size_t n, float* out,
             bool include_shared = true);

    // The most routed-expert output rows the per-thread path holds at once (default 8192); tests
    // set a few to run the experts in several waves.
    void set_wave_rows(size_t rows) { wave_rows_ = rows > 0 ? rows : 1; }

private:
    // One expert (or the shared experts, expert -1) of a fused step and its buffers.
    struct Part {
        int64_t expert = -1;
        WeightMatrix gate, up, down;
        size_t tokens = 0;
    };
    struct PartBuffers {
        std::vector<float> x, gate, up, out;
        ActivationBuffer gate_in, up_in, down_in;
    };
    // The buffers of one SwiGLU: the caller's, and one per pool thread for the experts of a
    // prompt run whole on one thread each.
    struct SwigluScratch {
        std::vector<float> x, gate, up;
        ActivationBuffer act;
    };
    // s.gate (n × gate.rows) = silu(gate·x) ⊙ up·x.
    void gate_up(SwigluScratch& s, const WeightMatrix& gate, const WeightMatrix& up, const float* x, size_t n);
    void routed_experts_per_thread(const LayerWeights& lw, const float* xn, float* out);
    void quantize_with_remainder(const WeightMatrix& wm, const float* x, size_t n);
    void sum_halves(float* y, const float* c, size_t count);
    void fused_experts(const LayerWeights& lw, const float* xn, size_t n, float* out, bool shared, ProfiledSection& section);
    void add_weighted(std::span<const std::pair<uint32_t, float>> members, const float* expert_out, float* out) const;
    uint64_t expert_bytes(const LayerWeights& lw) const;
    uint64_t shared_bytes(const LayerWeights& lw) const;

    const ModelConfig& c_;
    ThreadPool& pool_;
    ActivationBuffer act_;
    std::vector<float> correction_, router_, gathered_, expert_out_, shared_;
    SwigluScratch main_;
    size_t wave_rows_ = 8192;
    std::vector<SwigluScratch> thread_scratch_;
    std::vector<uint32_t> expert_order_;
    std::vector<size_t> expert_row_;  // first row of each expert's output in expert_out_
    std::vector<std::vector<std::pair<uint32_t, float>>> by_expert_; // (token, weight) per expert
    std::vector<Part> parts_;
    std::vector<PartBuffers> part_buffers_;
    std::vector<MatmulJob> jobs_;
};

} // namespace latent::cpu
