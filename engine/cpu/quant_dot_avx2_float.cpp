// AVX2 matmul of float weights (F32, F16, BF16) for batches of tokens: the GEMM-style kernel the
// quantized types have (quant_dot_batch.cpp), for the float matrices of a prompt (the absorbed
// attention matrices W_UK/W_UV, F32 routers, and every matrix of an F16/BF16 model). The per-row
// kernels dot one weight row with up to 4 tokens and reduce each sum horizontally; this one
// keeps a tile of 6 rows x 16 tokens in 12 accumulators over the whole row:
//   * the tokens' activations are packed once per product, transposed in blocks of 16 tokens
//     (position i of 16 tokens = two vectors), so a step is two vector loads, 6 broadcast
//     weights and 12 FMAs, and no horizontal sums;
//   * F16/BF16 rows are decoded into a float panel of 6 rows once and reused for every token
//     block of the task.
// Every output is the sum over i in order 0..cols-1 of w·x with FMA, whatever the split into
// tasks or threads, so results do not depend on the thread count (quant_dot.h).
#include "cpu/avx2_common.h"
#include "cpu/thread_pool.h"

#include <algorithm>
#include <vector>

#if LATENT_HAVE_X86

namespace latent::cpu::detail {
namespace {

constexpr int64_t kRows = 6;    // weight rows per tile (AVX2)
constexpr int64_t kRows512 = 12; // weight rows per tile (AVX-512: 12 zmm accumulators of 16 tokens)
constexpr int64_t kTokens = 16; // tokens per tile (two vectors)
constexpr int64_t kRowsPerTask = 96;

// A tile's results, out[r][t] (rows of kTokens floats), into y for its first n_rows rows and
// n_tokens tokens (both tiles end with this).
void store_tile(const float* out, int n_rows, int64_t n_tokens, float* y, int64_t y_stride, int64_t t0, int64_t r0) {
    for (int64_t t = 0; t < n_tokens; ++t) {
        float* dst = y + (t0 + t) * y_stride + r0;
        for (int r = 0; r < n_rows; ++r) dst[r] = out[r * kTokens + t];
    }
}

} // namespace
} // namespace latent::cpu::detail

// Only plain functions in the AVX2 region: a template instantiated here (std::vector, std::min)
// would be compiled for AVX2 and could be the copy the linker keeps for every caller.
LATENT_AVX2_BEGIN

namespace latent::cpu::detail {
namespace {

// Row r of w as floats: F32 rows in place, F16/BF16 rows decoded into `buffer` (cols floats).
const float* float_row(const WeightMatrix& w, int64_t r, float* buffer) {
    const uint8_t* src = w.data + r * static_cast<int64_t>(w.row_bytes);
    if (w.type == TensorType::F32) return reinterpret_cast<const float*>(src);
    const auto* h = reinterpret_cast<const uint16_t*>(src);
    int64_t i = 0;
    if (w.type == TensorType::F16) {
        for (; i + 8 <= w.cols; i += 8) _mm256_storeu_ps(buffer + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i))));
        for (; i < w.cols; ++i) buffer[i] = fp16_to_fp32(h[i]);
    } else {
        for (; i + 8 <= w.cols; i += 8) {
            const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i)));
            _mm256_storeu_ps(buffer + i, _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16)));
        }
        for (; i < w.cols; ++i) buffer[i] = bf16_to_fp32(h[i]);
    }
    return buffer;
}

// Values [i, i + 8) of 8 rows transposed (avx2::transpose_8x8): dst[j * dst_stride + r] =
// rows[r][i + j] for r < width (8, or 4: the first 4 rows only; all 8 are read).
void store_transposed_8x8(const float* const* rows, int64_t i, float* dst, int64_t dst_stride, int width) {
    const int32_t* words[8];
    for (int r = 0; r < 8; ++r) words[r] = reinterpret_cast<const int32_t*>(rows[r] + i);
    __m256i columns[8];
    avx2::transpose_8x8(words, columns);
    for (int j = 0; j < 8; ++j) {
        if (width == 8) _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + j * dst_stride), columns[j]);
        else _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + j * dst_stride), _mm256_castsi256_si128(columns[j]));
    }
}

// Tokens [t0, t0 + 16) of x (cols floats each), all present, into one packed block: dst[i * 16
// + t] = x[t0 + t][i].
void pack_full_block(const float* x, int64_t t0, int64_t cols, float* dst) {
    const float* rows[16];
    for (int t = 0; t < 16; ++t) rows[t] = x + (t0 + t) * cols;
    int64_t i = 0;
    for (; i + 8 <= cols; i += 8) {
        store_transposed_8x8(rows, i, dst + i * 16, 16, 8);
        store_transposed_8x8(rows + 8, i, dst + i * 16 + 8, 16, 8);
    }
    for (; i < cols; ++i) {
        for (int t = 0; t < 16; ++t) dst[i * 16 + t] = rows[t][i];
    }
}

// The AVX-512 tile's weights: out[i * 12 + r] = rows[r][i] for 12 rows (`rows` has 16 entries, the
// last 4 readable, unused).
void interleave_rows12(const float* const* rows, int64_t cols, float* out) {
    int64_t i = 0;
    for (; i + 8 <= cols; i += 8) {
        store_transposed_8x8(rows, i, out + i * 12, 12, 8);
        store_transposed_8x8(rows + 8, i, out + i * 12 + 8, 12, 4);
    }
    for (; i < cols; ++i) {
        for (int r = 0; r < 12; ++r) out[i * 12 + r] = rows[r][i];
    }
}

// y rows [r0, r0 + n_rows) (n_rows <= 6; missing rows read `zeros`) for the tokens of one packed
// block (tokens [t0, t0 + n_tokens), n_tokens <= 16).
void tile(const float* const* rows, int n_rows, const float* packed, int64_t cols, int64_t t0, int64_t n_tokens, float* y, int64_t y_stride,
          int64_t r0) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0, d1 = a0, e0 = a0, e1 = a0, f0 = a0, f1 = a0;
    const float *w0 = rows[0], *w1 = rows[1], *w2 = rows[2], *w3 = rows[3], *w4 = rows[4], *w5 = rows[5];
    for (int64_t i = 0; i < cols; ++i) {
        const __m256 x0 = _mm256_load_ps(packed + i * kTokens), x1 = _mm256_load_ps(packed + i * kTokens + 8);
        __m256 w = _mm256_broadcast_ss(w0 + i);
        a0 = _mm256_fmadd_ps(w, x0, a0);
        a1 = _mm256_fmadd_ps(w, x1, a1);
        w = _mm256_broadcast_ss(w1 + i);
        b0 = _mm256_fmadd_ps(w, x0, b0);
        b1 = _mm256_fmadd_ps(w, x1, b1);
        w = _mm256_broadcast_ss(w2 + i);
        c0 = _mm256_fmadd_ps(w, x0, c0);
        c1 = _mm256_fmadd_ps(w, x1, c1);
        w = _mm256_broadcast_ss(w3 + i);
        d0 = _mm256_fmadd_ps(w, x0, d0);
        d1 = _mm256_fmadd_ps(w, x1, d1);
        w = _mm256_broadcast_ss(w4 + i);
        e0 = _mm256_fmadd_ps(w, x0, e0);
        e1 = _mm256_fmadd_ps(w, x1, e1);
        w = _mm256_broadcast_ss(w5 + i);
        f0 = _mm256_fmadd_ps(w, x0, f0);
        f1 = _mm256_fmadd_ps(w, x1, f1);
    }
    alignas(32) float out[kRows][kTokens];
    _mm256_store_ps(out[0], a0), _mm256_store_ps(out[0] + 8, a1);
    _mm256_store_ps(out[1], b0), _mm256_store_ps(out[1] + 8, b1);
    _mm256_store_ps(out[2], c0), _mm256_store_ps(out[2] + 8, c1);
    _mm256_store_ps(out[3], d0), _mm256_store_ps(out[3] + 8, d1);
    _mm256_store_ps(out[4], e0), _mm256_store_ps(out[4] + 8, e1);
    _mm256_store_ps(out[5], f0), _mm256_store_ps(out[5] + 8, f1);
    store_tile(&out[0][0], n_rows, n_tokens, y, y_stride, t0, r0);
}

} // namespace
} // namespace latent::cpu::detail

LATENT_AVX2_END

// The AVX-512 tile: 12 rows x 16 tokens, one zmm of activations per step. Each output is the
// same chain of FMAs as in the AVX2 tile (lane t of row r: w[r][i] * x[t][i], i in order), so
// both levels give the same bits.
LATENT_AVX512_BEGIN

namespace latent::cpu::detail {
namespace {

// `weights` holds the tile's rows interleaved: weights[i * 12 + r] = row r's value i (missing
// rows zero), so that the 12 broadcasts of a step come from one line. kBlocks packed blocks of
// 16 tokens at once (block b at packed + b * block_stride): with two, a step is 2 loads of
// activations and 12 broadcasts for 24 FMAs instead of 1 and 12 for 12, which left the tile
// bound by loads (12 rows x 16 tokens ran at ~50% of the FMA peak on a Zen 5 core).
template <int kBlocks>
void tile512(const float* weights, int n_rows, const float* packed, int64_t block_stride, int64_t cols, int64_t t0, int64_t n_tokens, float* y,
             int64_t y_stride, int64_t r0) {
    __m512 acc[kBlocks][kRows512];
    for (int b = 0; b < kBlocks; ++b) {
        for (int r = 0; r < kRows512; ++r) acc[b][r] = _mm512_setzero_ps();
    }
    for (int64_t i = 0; i < cols; ++i) {
        __m512 x[kBlocks];
        for (int b = 0; b < kBlocks; ++b) x[b] = _mm512_load_ps(packed + b * block_stride + i * kTokens);
        const float* w = weights + i * kRows512;
        for (int r = 0; r < kRows512; ++r) {
            const __m512 wr = _mm512_set1_ps(w[r]);
            for (int b = 0; b < kBlocks; ++b) acc[b][r] = _mm512_fmadd_ps(wr, x[b], acc[b][r]);
        }
    }
    alignas(64) float out[kRows512][kTokens];
    for (int b = 0; b < kBlocks; ++b) {
        for (int r = 0; r < kRows512; ++r) _mm512_store_ps(out[r], acc[b][r]);
        const int64_t n = std::min(kTokens, n_tokens - b * kTokens);
        store_tile(&out[0][0], n_rows, n, y, y_stride, t0 + b * kTokens, r0);
    }
}

} // namespace
} // namespace latent::cpu::detail

LATENT_AVX512_END

namespace latent::cpu::detail {

void float_batch_matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, int64_t y_stride, int64_t row_begin, int64_t row_end,
                        ThreadPool* pool) {
    const int64_t cols = w.cols;
    // Activations transposed in blocks of 16 tokens: packed[block][i][16], missing tokens zero.
    thread_local AlignedArray<float> packed_store;
    const int64_t blocks = (n_tokens + kTokens - 1) / kTokens;
    packed_store.resize(static_cast<size_t>(blocks * cols * kTokens));
    float* packed = packed_store.data();
    for (int64_t b = 0; b < blocks; ++b) {
        float* dst = packed + b * cols * kTokens;
        const int64_t n = std::min(kTokens, n_tokens - b * kTokens);
        if (n < kTokens) std::fill(dst, dst + cols * kTokens, 0.0f);
        if (n == kTokens) {
            pack_full_block(x, b * kTokens, cols, dst);
            continue;
        }
        for (int64_t t = 0; t < n; ++t) {
            const float* src = x + (b * kTokens + t) * cols;
            for (int64_t i = 0; i < cols; ++i) dst[i * kTokens + t] = src[i];
        }
    }
    const bool wide = simd_level() >= SimdLevel::Avx512;
    const int64_t tile_rows = wide ? kRows512 : kRows;
    const int64_t n_rows = row_end - row_begin;
    const int64_t row_chunks = (n_rows + kRowsPerTask - 1) / kRowsPerTask;
    // Tokens per task: all of them, so that each tile of rows is decoded and interleaved once per
    // product (with 64-token tasks that work was redone for every 64 tokens and cost about as much
    // as the FMAs), unless the rows alone make too few tasks for the pool: then whole blocks of
    // tokens are split among tasks.
    const int64_t wanted_tasks = 2 * static_cast<int64_t>(pool ? pool->size() : 1);
    const int64_t token_chunks = row_chunks >= wanted_tasks ? 1 : std::min(blocks, (wanted_tasks + row_chunks - 1) / row_chunks);
    const int64_t tokens_per_task = (blocks + token_chunks - 1) / token_chunks * kTokens;
    auto run_task = [&](size_t task) {
        thread_local std::vector<float> panel, zeros, interleaved;
        panel.resize(static_cast<size_t>(tile_rows * cols));
        zeros.assign(static_cast<size_t>(cols), 0.0f);
        const int64_t r_first = row_begin + static_cast<int64_t>(task) % row_chunks * kRowsPerTask;
        const int64_t r_last = std::min(row_end, r_first + kRowsPerTask);
        const int64_t t_first = static_cast<int64_t>(task) / row_chunks * tokens_per_task;
        const int64_t t_last = std::min(n_tokens, t_first + tokens_per_task);
        if (t_first >= t_last) return; // a token chunk past the end (the split rounds up to blocks)
        for (int64_t r0 = r_first; r0 < r_last; r0 += tile_rows) {
            const int rows_here = static_cast<int>(std::min(tile_rows, r_last - r0));
            const float* rows[16]; // 16: interleave_rows12 reads 4 more, unused
            for (int r = 0; r < 16; ++r) rows[r] = r < rows_here && r < tile_rows ? float_row(w, r0 + r, panel.data() + r * cols) : zeros.data();
            if (wide) {
                interleaved.resize(static_cast<size_t>(kRows512 * cols));
                interleave_rows12(rows, cols, interleaved.data());
            }
            for (int64_t t0 = t_first; t0 < t_last;) {
                const float* block = packed + t0 / kTokens * cols * kTokens;
                const int64_t n = std::min(2 * kTokens, t_last - t0);
                if (wide && n > kTokens) {
                    tile512<2>(interleaved.data(), rows_here, block, cols * kTokens, cols, t0, n, y, y_stride, r0);
                    t0 += n;
                    continue;
                }
                const int64_t n1 = std::min(kTokens, n);
                if (wide) tile512<1>(interleaved.data(), rows_here, block, cols * kTokens, cols, t0, n1, y, y_stride, r0);
                else tile(rows, rows_here, block, cols, t0, n1, y, y_stride, r0);
                t0 += n1;
            }
        }
    };
    const auto n_tasks = static_cast<size_t>(row_chunks * token_chunks);
    if (pool && n_tasks > 1) {
        pool->parallel_for(n_tasks, [&run_task](size_t task, unsigned) { run_task(task); });
    } else {
        for (size_t task = 0; task < n_tasks; ++task) run_task(task);
    }
}

} // namespace latent::cpu::detail

#endif
