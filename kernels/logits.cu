// Argmax and top-k over logit rows in two launches. First the row is split into chunks, one
// block each, and every block finds its chunk's k best; then one block per row picks the k best
// of those chunks x k candidates. Each pick is a block argmax over the elements that rank
// strictly after the previous pick (value descending, then index ascending: a total order), so
// nothing is picked twice and nothing is sorted.
#include "common/cuda_compat.cuh"

#include "common/block_reduce.cuh"
#include "logits.h"

#include <stdexcept>
#include <string>

namespace latent::kernels {

namespace {

constexpr unsigned kThreads = 256;
constexpr int64_t kChunk = 2048; // logits per first-pass block

int64_t chunk_count(int64_t n_vocab) { return (n_vocab + kChunk - 1) / kChunk; }

__device__ __forceinline__ float ranked_value(float v) { return isnan(v) ? -INFINITY : v; }

// Logits of one chunk of a row.
struct LogitSource {
    const float* row;
    __device__ __forceinline__ ArgBest operator()(int64_t i, int64_t first) const {
        return ArgBest{ranked_value(row[i]), static_cast<int>(first + i)};
    }
};

// The first pass's candidates of one row.
struct CandidateSource {
    const ArgBest* candidates;
    __device__ __forceinline__ ArgBest operator()(int64_t i, int64_t) const { return candidates[i]; }
};

// The best of source(0 .. count) ranking strictly after `after` (after.index < 0: no bound).
template <class Source>
__device__ __forceinline__ ArgBest best_after(Source source, int64_t count, int64_t first, ArgBest after, ArgBest* scratch) {
    ArgBest best{-INFINITY, 0x7FFFFFFF}; // ranks after every real element
    for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
        const ArgBest candidate = source(i, first);
        if (after.index >= 0 && !ranks_before(after, candidate)) continue;
        if (ranks_before(candidate, best)) best = candidate;
    }
    return block_best(best, scratch);
}

// grid (chunks, rows): the k best of each chunk into partial[(row * chunks + chunk) * k ..].
__global__ void __launch_bounds__(kThreads) chunk_top_k_kernel(ArgBest* partial, const float* logits, int64_t n_vocab, int k) {
    __shared__ ArgBest scratch[32];
    const int64_t first = static_cast<int64_t>(blockIdx.x) * kChunk;
    const int64_t count = n_vocab - first < kChunk ? n_vocab - first : kChunk;
    const LogitSource source{logits + static_cast<int64_t>(blockIdx.y) * n_vocab + first};
    ArgBest* out = partial + (static_cast<int64_t>(blockIdx.y) * gridDim.x + blockIdx.x) * k;
    ArgBest previous{0.0f, -1};
    for (int r = 0; r < k; ++r) {
        previous = best_after(source, count, first, previous, scratch);
        if (threadIdx.x == 0) out[r] = previous;
    }
}

// One block per row: the k best of the row's chunks x k candidates. values may be null (argmax).
__global__ void __launch_bounds__(kThreads) merge_top_k_kernel(int32_t* ids, float* values, const ArgBest* partial, int64_t chunks,
                                                               int k, bool argmax) {
    __shared__ ArgBest scratch[32];
    const CandidateSource source{partial + static_cast<int64_t>(blockIdx.x) * chunks * k};
    ArgBest previous{0.0f, -1};
    for (int r = 0; r < k; ++r) {
        previous = best_after(source, chunks * k, 0, previous, scratch);
        if (threadIdx.x != 0) continue;
        const int64_t at = static_cast<int64_t>(blockIdx.x) * k + r;
        ids[at] = argmax && previous.value == -INFINITY ? -1 : previous.index;
        if (values) values[at] = previous.value;
    }
}

void check_rows(const char* function, const void* out, const float* logits, const void* scratch, int64_t n_vocab, int64_t n_rows) {
    if (!out || !logits || !scratch) throw std::invalid_argument(std::string(function) + ": null pointer");
    if (n_vocab <= 0 || n_vocab > 0x7FFFFFFF || n_rows <= 0 || n_rows > 65535) {
        throw std::invalid_argument(std::string(function) + ": n_vocab must be in 1..2^31-1 and n_rows in 1..65535");
    }
}

void launch_top_k(int32_t* ids, float* values, const float* logits, int64_t n_vocab, int64_t n_rows, int k, void* scratch,
                  bool argmax, gpu::Stream stream) {
    const int64_t chunks = chunk_count(n_vocab);
    auto* partial = static_cast<ArgBest*>(scratch);
    LATENT_LAUNCH(chunk_top_k_kernel, dim3(static_cast<unsigned>(chunks), static_cast<unsigned>(n_rows)), kThreads, 0, stream,
                  partial, logits, n_vocab, k);
    LATENT_CHECK_LAUNCH();
    LATENT_LAUNCH(merge_top_k_kernel, static_cast<unsigned>(n_rows), kThreads, 0, stream, ids, values, partial, chunks, k, argmax);
    LATENT_CHECK_LAUNCH();
}

} // namespace

std::size_t logits_scratch_bytes(int64_t n_vocab, int64_t n_rows, int k) {
    return static_cast<std::size_t>(chunk_count(n_vocab) * n_rows * k) * sizeof(ArgBest);
}

void logits_argmax(int32_t* ids, const float* logits, int64_t n_vocab, int64_t n_rows, void* scratch, gpu::Stream stream) {
    check_rows("logits_argmax", ids, logits, scratch, n_vocab, n_rows);
    launch_top_k(ids, nullptr, logits, n_vocab, n_rows, 1, scratch, true, stream);
}

void logits_top_k(int32_t* ids, float* values, const float* logits, int64_t n_vocab, int64_t n_rows, int k, void* scratch,
                  gpu::Stream stream) {
    check_rows("logits_top_k", ids, logits, scratch, n_vocab, n_rows);
    if (!values) throw std::invalid_argument("logits_top_k: null pointer");
    if (k < 1 || k > kMaxTopK || k > n_vocab) {
        throw std::invalid_argument("logits_top_k: k " + std::to_string(k) + " is not in 1..min(" + std::to_string(kMaxTopK) +
                                    ", n_vocab)");
    }
    launch_top_k(ids, values, logits, n_vocab, n_rows, k, scratch, false, stream);
}

} // namespace latent::kernels
