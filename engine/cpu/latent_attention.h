// Absorbed multi-head latent attention (deepseek2-gguf.md §4.7) for one query position over the
// latent KV cache: every head's latent-space query is scored against each cached row
// [c̃ ‖ RoPE(k_pe)], and the attention-weighted sum of the latents c̃ is returned per head. Each
// cache row is read once for all heads. With a thread pool the keys are split across threads
// (split-K) and the partial results combined, so one sequence uses every core at long context.
// On AVX2 and AVX-512 CPUs scores, softmax and weighted sum are fused per chunk of keys (online
// softmax, flash-decoding style): each thread keeps a running max, sum and accumulators per head,
// merged at the end. Shapes the fused kernels do not take (row width not a multiple of 16, latent
// width not a multiple of 32) use scores, softmax and weighted sum in turn.
#pragma once

#include "cpu/quant_dot.h"

#include <cstdint>
#include <vector>

namespace latent::cpu {

class ThreadPool;

struct LatentCache {
    const uint8_t* rows = nullptr; // row s at rows + s·row_bytes
    TensorType type = TensorType::F16; // F16 or F32
    uint32_t row_width = 0;   // r_kv + d_r
    uint32_t latent_width = 0; // r_kv: the leading part of a row that holds c̃
    size_t row_bytes = 0;
};

// Per-thread scratch, reusable across calls.
struct LatentAttentionScratch {
    ActivationBuffer queries;
    std::vector<float> scores;   // (heads × n_keys)
    std::vector<float> partials; // (threads × heads × latent_width)
    std::vector<float> row;      // one converted cache row
    std::vector<float> qpad;     // fused paths: scaled queries, heads padded to groups (8 or 16)
    std::vector<float> stats;    // fused paths: (threads × 2 × padded heads) running max and sum
};

// Which implementation latent_attention uses (tests force each one in turn). Auto picks the
// fastest the CPU supports; forcing one the CPU lacks returns false and changes nothing.
enum class LatentAttentionKernel { Auto, Portable, Avx2, Avx512 };
bool set_latent_attention_kernel(LatentAttentionKernel kernel);

// queries: n_heads rows of row_width floats [q_latent ‖ q_rope]; scale multiplies every score;
// out: n_heads rows of latent_width floats. pool may be null (this thread only).
void latent_attention(const float* queries, uint32_t n_heads, const LatentCache& cache, uint32_t n_keys, float scale, float* out,
                      ThreadPool* pool, LatentAttentionScratch& scratch);

// Causal softmax of score rows in place: row r (stride floats) becomes softmax(scale · s) over its
// first valid[r] entries, and the rest 0. Rows are split over the pool.
void softmax_rows(float* scores, size_t rows, size_t stride, const uint32_t* valid, float scale, ThreadPool* pool);

// The slow, obvious reference: scores, softmax and weighted sum in double, head by head.
void latent_attention_reference(const float* queries, uint32_t n_heads, const LatentCache& cache, uint32_t n_keys, float scale, float* out);

} // namespace latent::cpu
