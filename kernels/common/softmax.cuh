// Online softmax and log-sum-exp merging as __host__ __device__ helpers (flash-attention /
// flash-decoding arithmetic). The attention kernels call them on the GPU; the emulator build and
// the native test (tests/kernels/test_softmax_helpers.cpp) run the very same code on the CPU.
//
// A softmax over a stream of scores s_1..s_n is carried as a state (m, l):
//     m = max_i s_i            (-inf while nothing has been seen)
//     l = sum_i exp(s_i - m)
// together with accumulators acc = sum_i exp(s_i - m) * v_i kept by the caller. Taking in more
// scores (or a whole tile of them) raises m and multiplies l and acc by exp(m_old - m_new);
// the result is acc / l. Two states over disjoint parts of the stream merge the same way
// (flash-decoding's combine), which is how split-K partials are reduced.
//
// Masked scores are -inf and contribute exactly 0; a state that has seen only masked scores
// stays (m = -inf, l = 0) and merges as the identity (no NaN from -inf - -inf).
#pragma once

#include <cmath>

#if defined(__CUDACC__)
#define LATENT_SOFTMAX __host__ __device__ __forceinline__
#else
#define LATENT_SOFTMAX inline
#endif

namespace latent::kernels::softmax {

// -inf as a float bit pattern (usable in device code without <limits>).
LATENT_SOFTMAX float negative_infinity() { return -INFINITY; }

// exp(x - m) with exp(-inf - anything) = 0: the only place the kernels exponentiate, so the GPU
// and the emulator use the same expression (the fast exponential on the GPU, whose relative
// error for x - m <= 0 is a few ulp).
LATENT_SOFTMAX float exp_shifted(float x, float m) {
    if (x == -INFINITY) return 0.0f;
#if defined(__CUDA_ARCH__)
    return __expf(x - m);
#else
    return std::exp(x - m);
#endif
}

struct State {
    float max = -INFINITY; // m: the largest score seen
    float sum = 0.0f;      // l: sum of exp(score - m)
};

// Takes in a tile of scores whose largest value is tile_max: raises the state's max and
// returns the factor exp(m_old - m_new) by which l (already applied here) and the caller's
// accumulators must be multiplied before the tile's exp(s - state.max) terms are added (their
// sum then goes through add_to_sum).
LATENT_SOFTMAX float raise_max(State& state, float tile_max) {
    const float new_max = tile_max > state.max ? tile_max : state.max;
    const float factor = exp_shifted(state.max, new_max);
    state.max = new_max;
    state.sum *= factor;
    return factor;
}

LATENT_SOFTMAX void add_to_sum(State& state, float tile_sum) { state.sum += tile_sum; }

// Takes in one score; returns {factor for the old accumulators, weight of the new value}.
struct Update {
    float old_factor; // multiply accumulators by this
    float weight;     // then add weight * v
};
LATENT_SOFTMAX Update add_score(State& state, float score) {
    const float factor = raise_max(state, score);
    const float weight = exp_shifted(score, state.max);
    add_to_sum(state, weight);
    return Update{factor, weight};
}

// Merging two states over disjoint scores: the merged state and the factors by which each side's
// accumulators are multiplied before they are added (acc = acc_a * a + acc_b * b).
struct Merge {
    State merged;
    float factor_a;
    float factor_b;
};
LATENT_SOFTMAX Merge merge(const State& a, const State& b) {
    Merge out;
    out.merged.max = a.max > b.max ? a.max : b.max;
    out.factor_a = exp_shifted(a.max, out.merged.max);
    out.factor_b = exp_shifted(b.max, out.merged.max);
    out.merged.sum = a.sum * out.factor_a + b.sum * out.factor_b;
    return out;
}

// log(sum_i exp(s_i)) of the scores a state has seen (-inf for none).
LATENT_SOFTMAX float log_sum_exp(const State& state) {
    if (state.sum == 0.0f) return -INFINITY;
#if defined(__CUDA_ARCH__)
    return state.max + __logf(state.sum);
#else
    return state.max + std::log(state.sum);
#endif
}

// 1 / l, or 0 for a state that has seen nothing (so an empty row comes out 0, not NaN).
LATENT_SOFTMAX float inverse_sum(const State& state) { return state.sum > 0.0f ? 1.0f / state.sum : 0.0f; }

} // namespace latent::kernels::softmax
