// Argmax and top-k over logit rows: one block per row. Top-k takes k rounds of a block argmax,
// each round the best element ranking strictly after the previous pick (value descending, then
// index ascending, a total order), so no element is picked twice and no sort is needed:
// O(k * n_vocab / threads) per thread, small beside the output projection that made the row.
#include "common/cuda_compat.cuh"

#include "common/block_reduce.cuh"
#include "logits.h"

#include <stdexcept>
#include <string>

namespace latent::kernels {

namespace {

constexpr unsigned kThreads = 256;

__device__ __forceinline__ float ranked_value(float v) { return isnan(v) ? -INFINITY : v; }

// The best element of the row that ranks strictly after `after` (after.index < 0: no bound).
__device__ __forceinline__ ArgBest best_after(const float* row, int64_t n_vocab, ArgBest after, ArgBest* scratch) {
    ArgBest best{-INFINITY, 0x7FFFFFFF};
    bool found = false;
    for (int64_t i = threadIdx.x; i < n_vocab; i += blockDim.x) {
        const ArgBest candidate{ranked_value(row[i]), static_cast<int>(i)};
        if (after.index >= 0 && !ranks_before(after, candidate)) continue;
        if (!found || ranks_before(candidate, best)) best = candidate, found = true;
    }
    return block_best(best, scratch);
}

__global__ void __launch_bounds__(kThreads) logits_argmax_kernel(int32_t* ids, const float* logits, int64_t n_vocab) {
    __shared__ ArgBest scratch[32];
    const float* row = logits + static_cast<int64_t>(blockIdx.x) * n_vocab;
    const ArgBest best = best_after(row, n_vocab, ArgBest{0.0f, -1}, scratch);
    if (threadIdx.x == 0) ids[blockIdx.x] = best.value == -INFINITY ? -1 : best.index;
}

__global__ void __launch_bounds__(kThreads) logits_top_k_kernel(int32_t* ids, float* values, const float* logits, int64_t n_vocab,
                                                                int k) {
    __shared__ ArgBest scratch[32];
    const float* row = logits + static_cast<int64_t>(blockIdx.x) * n_vocab;
    ArgBest previous{0.0f, -1};
    for (int r = 0; r < k; ++r) {
        previous = best_after(row, n_vocab, previous, scratch);
        if (threadIdx.x == 0) {
            ids[static_cast<int64_t>(blockIdx.x) * k + r] = previous.index;
            values[static_cast<int64_t>(blockIdx.x) * k + r] = previous.value;
        }
    }
}

void check_rows(const char* function, const float* logits, int64_t n_vocab, int64_t n_rows) {
    if (!logits) throw std::invalid_argument(std::string(function) + ": null pointer");
    if (n_vocab <= 0 || n_vocab > 0x7FFFFFFF || n_rows <= 0 || n_rows > 0x7FFFFFFF) {
        throw std::invalid_argument(std::string(function) + ": n_vocab and n_rows must be in 1..2^31-1");
    }
}

} // namespace

void logits_argmax(int32_t* ids, const float* logits, int64_t n_vocab, int64_t n_rows, gpu::Stream stream) {
    check_rows("logits_argmax", logits, n_vocab, n_rows);
    if (!ids) throw std::invalid_argument("logits_argmax: null pointer");
    LATENT_LAUNCH(logits_argmax_kernel, static_cast<unsigned>(n_rows), kThreads, 0, stream, ids, logits, n_vocab);
    LATENT_CHECK_LAUNCH();
}

void logits_top_k(int32_t* ids, float* values, const float* logits, int64_t n_vocab, int64_t n_rows, int k, gpu::Stream stream) {
    check_rows("logits_top_k", logits, n_vocab, n_rows);
    if (!ids || !values) throw std::invalid_argument("logits_top_k: null pointer");
    if (k < 1 || k > kMaxTopK || k > n_vocab) {
        throw std::invalid_argument("logits_top_k: k " + std::to_string(k) + " is not in 1..min(" + std::to_string(kMaxTopK) +
                                    ", n_vocab)");
    }
    LATENT_LAUNCH(logits_top_k_kernel, static_cast<unsigned>(n_rows), kThreads, 0, stream, ids, values, logits, n_vocab, k);
    LATENT_CHECK_LAUNCH();
}

} // namespace latent::kernels
