#include "cpu/latent_attention.h"

#include "core/error.h"
#include "cpu/quant_dot_kernels.h"
#include "cpu/thread_pool.h"
#include "cpu/vector_exp.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LATENT_HAVE_X86 1
#endif

#if defined(LATENT_HAVE_X86) && defined(__GNUC__) && !defined(__clang__)
// GCC 12's AVX-512 intrinsics (_mm512_undefined_ps inside max/min/roundscale...) trigger
// -Wmaybe-uninitialized after inlining, located in the header: silence it for this file.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace latent::cpu {
namespace {

float cache_element(const LatentCache& c, uint32_t row, uint32_t i) {
    const uint8_t* p = c.rows + static_cast<size_t>(row) * c.row_bytes;
    if (c.type == TensorType::F16) {
        uint16_t h;
        std::memcpy(&h, p + i * 2, 2);
        return fp16_to_fp32(h);
    }
    float f;
    std::memcpy(&f, p + i * 4, 4);
    return f;
}

// Softmax of scale · s over s[0, valid), in place (max subtracted, sum in double).
void softmax_row_portable(float* s, uint32_t valid, float scale) {
    float m = -std::numeric_limits<float>::infinity();
    for (uint32_t j = 0; j < valid; ++j) m = std::max(m, s[j] * scale);
    double total = 0;
    for (uint32_t j = 0; j < valid; ++j) {
        s[j] = std::exp(s[j] * scale - m);
        total += s[j];
    }
    const float inv = static_cast<float>(1.0 / total);
    for (uint32_t j = 0; j < valid; ++j) s[j] *= inv;
}

// acc[h][i] += weights[h * stride] · row[i] for every head: the row is loaded once for all heads.
void accumulate_portable(const LatentCache& c, uint32_t key, const float* weights, size_t stride, uint32_t n_heads, float* acc, std::vector<float>& row) {
    row.resize(c.latent_width);
    if (c.type == TensorType::F16) {
        const uint16_t* src = reinterpret_cast<const uint16_t*>(c.rows + static_cast<size_t>(key) * c.row_bytes);
        for (uint32_t i = 0; i < c.latent_width; ++i) row[i] = fp16_to_fp32(src[i]);
    } else {
        std::memcpy(row.data(), c.rows + static_cast<size_t>(key) * c.row_bytes, c.latent_width * 4);
    }
    for (uint32_t h = 0; h < n_heads; ++h) {
        const float a = weights[h * stride];
        float* dst = acc + static_cast<size_t>(h) * c.latent_width;
        for (uint32_t i = 0; i < c.latent_width; ++i) dst[i] += a * row[i];
    }
}

#ifdef LATENT_HAVE_X86
__attribute__((target("avx2,fma,f16c"))) void accumulate_avx2(const LatentCache& c, uint32_t key, const float* weights, size_t stride, uint32_t n_heads,
                                                               float* acc, std::vector<float>& row) {
    row.resize(c.latent_width);
    const uint8_t* src = c.rows + static_cast<size_t>(key) * c.row_bytes;
    uint32_t i = 0;
    if (c.type == TensorType::F16) {
        for (; i + 8 <= c.latent_width; i += 8) {
            const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i * 2));
            _mm256_storeu_ps(row.data() + i, _mm256_cvtph_ps(h));
        }
        for (; i < c.latent_width; ++i) row[i] = cache_element(c, key, i);
    } else {
        std::memcpy(row.data(), src, c.latent_width * 4);
    }
    for (uint32_t h = 0; h < n_heads; ++h) {
        const __m256 a = _mm256_set1_ps(weights[h * stride]);
        float* dst = acc + static_cast<size_t>(h) * c.latent_width;
        uint32_t j = 0;
        for (; j + 8 <= c.latent_width; j += 8) _mm256_storeu_ps(dst + j, _mm256_fmadd_ps(a, _mm256_loadu_ps(row.data() + j), _mm256_loadu_ps(dst + j)));
        for (; j < c.latent_width; ++j) dst[j] += weights[h * stride] * row[j];
    }
}

bool have_avx512() {
    static const bool yes = detail::cpu_has_avx2() && __builtin_cpu_supports("avx512f");
    return yes;
}

// ---- AVX-512 fused kernel (flash-decoding style) ----
// Heads are processed in groups of 8 (padded with zero queries) and keys in chunks of kChunk: per
// chunk the scores of a group are computed, the running max / sum per head updated (online
// softmax) and the chunk's latents accumulated into the group's accumulators, so each cache row
// is brought into the core once and then used from L1. Each thread of a split keeps its own
// (max, sum, accumulators), combined at the end.
constexpr uint32_t kGroup = 8;
constexpr uint32_t kChunk = 64;

bool fused_fits(const LatentCache& c) {
    return (c.type == TensorType::F16 || c.type == TensorType::F32) && c.row_width % 16 == 0 && c.latent_width % 32 == 0 &&
           c.latent_width <= c.row_width;
}

// Brings cache rows [k, min(k + count, end)) towards the core ahead of use: the AVX2 fused kernel
// calls it for the next chunk's rows while it computes the current chunk (the AVX-512 kernel
// spreads the same prefetches over its score steps, score_keys), so a cache that lives
// in memory (27 layers of a long context) waits less on it: 16 heads × 4,096 keys × 27 caches,
// 2 threads, alternating runs: 552/538/577 vs 626/631/653 us per call (a cache held in L3:
// 431/429 vs 412/414, within the noise).
inline void prefetch_rows(const LatentCache& c, uint32_t k, uint32_t count, uint32_t end) {
    if (k >= end) return;
    const char* p = reinterpret_cast<const char*>(c.rows + static_cast<size_t>(k) * c.row_bytes);
    const size_t bytes = static_cast<size_t>(std::min(count, end - k)) * c.row_bytes;
    for (size_t o = 0; o < bytes; o += 64) _mm_prefetch(p + o, _MM_HINT_T0);
}

#define LATENT_AVX512_TARGET __attribute__((target("avx512f,avx2,fma,f16c")))

template <bool kF16>
LATENT_AVX512_TARGET inline __m512 load16(const uint8_t* row, uint32_t i) {
    if constexpr (kF16) {
        return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + static_cast<size_t>(i) * 2)));
    } else {
        return _mm512_loadu_ps(reinterpret_cast<const float*>(row) + i);
    }
}

// Lane i of the result = horizontal sum of v[i].
LATENT_AVX512_TARGET inline __m512 reduce16(const __m512* v) {
    __m512 z[8];
    for (int i = 0; i < 8; ++i) {
        z[i] = _mm512_add_ps(_mm512_shuffle_f32x4(v[i], v[i + 8], 0x44), _mm512_shuffle_f32x4(v[i], v[i + 8], 0xEE));
    }
    __m512 w[4];
    for (int i = 0; i < 4; ++i) {
        w[i] = _mm512_add_ps(_mm512_shuffle_f32x4(z[i], z[i + 4], 0x88), _mm512_shuffle_f32x4(z[i], z[i + 4], 0xDD));
    }
    const __m512 r0 = _mm512_add_ps(_mm512_shuffle_ps(w[0], w[1], _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_ps(w[0], w[1], _MM_SHUFFLE(3, 1, 3, 1)));
    const __m512 r1 = _mm512_add_ps(_mm512_shuffle_ps(w[2], w[3], _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_ps(w[2], w[3], _MM_SHUFFLE(3, 1, 3, 1)));
    const __m512 f = _mm512_add_ps(_mm512_shuffle_ps(r0, r1, _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_ps(r0, r1, _MM_SHUFFLE(3, 1, 3, 1)));
    // f's 128-bit quarters hold v0-3, v8-11, v4-7, v12-15.
    return _mm512_shuffle_f32x4(f, f, _MM_SHUFFLE(3, 1, 2, 0));
}

// Scores of K keys (rows[0..K)) for a group of 8 heads, unreduced: a[8 k + h] holds 16 partial
// sums of key k and head h. q is the group's queries in blocks of 16 row positions × 8 heads, so
// that a step reads 8 consecutive vectors, each loaded once for the K keys (K = 3: 24
// accumulators, 8 query loads per 24 FMAs; caches in memory: 7-9% more multiply-adds per second
// than K = 2). kPrefetch: each step also prefetches `step` bytes from pf on (the caller's rows to
// come, spread over the steps).
template <bool kF16, bool kPrefetch, int K>
LATENT_AVX512_TARGET inline void score_keys(const float* q, const uint8_t* const (&rows)[K], uint32_t W, const uint8_t* pf, size_t step,
                                            __m512 (&a)[8 * K]) {
    for (int i = 0; i < 8 * K; ++i) a[i] = _mm512_setzero_ps();
    for (uint32_t d = 0; d < W; d += 16, q += 16 * kGroup) {
        if constexpr (kPrefetch) {
            for (size_t o = 0; o < step; o += 64) _mm_prefetch(reinterpret_cast<const char*>(pf) + o, _MM_HINT_T0);
            pf += step;
        }
        __m512 x[K];
        for (int k = 0; k < K; ++k) x[k] = load16<kF16>(rows[k], d);
#pragma GCC unroll 8
        for (uint32_t h = 0; h < kGroup; ++h) {
            __m512 qv = _mm512_loadu_ps(q + h * 16);
            __asm__("" : "+v"(qv)); // one load for the K keys (GCC would fold it into each FMA)
            for (int k = 0; k < K; ++k) a[8 * k + h] = _mm512_fmadd_ps(qv, x[k], a[8 * k + h]);
        }
    }
}

// The scores of K (2 or 3) keys from k on, for the group whose queries are q, into S[k * 8 ...].
// prefetch (the first group): also bring the next chunk's K rows towards the core, prefetch_step
// bytes a step (a burst of 36 prefetches per key pair stalled on the core's miss buffers). A key
// past the chunk's end (n) repeats the last one; its scores land past S's n rows and are unused.
template <bool kF16, int K>
LATENT_AVX512_TARGET inline void score_and_store(const uint8_t* base, size_t rb, uint32_t k, uint32_t n, bool prefetch, const float* q, uint32_t W,
                                                 size_t prefetch_step, float* S) {
    const uint8_t* rows[K];
    for (int i = 0; i < K; ++i) rows[i] = base + static_cast<size_t>(std::min(k + i, n - 1)) * rb;
    __m512 a[8 * K];
    if (prefetch) {
        score_keys<kF16, true, K>(q, rows, W, base + static_cast<size_t>(kChunk + k) * rb, prefetch_step, a);
    } else {
        score_keys<kF16, false, K>(q, rows, W, nullptr, 0, a);
    }
    _mm512_storeu_ps(S + k * kGroup, reduce16(a));
    if constexpr (K == 3) {
        __m512 third[16]; // the third key's 8 heads, reduced by the same tree
        for (int i = 0; i < 8; ++i) {
            third[i] = a[16 + i];
            third[8 + i] = _mm512_setzero_ps();
        }
        _mm256_storeu_ps(S + (k + 2) * kGroup, _mm512_castps512_ps256(reduce16(third)));
    }
}

// Keys [begin, end) for all head groups: acc (padded heads × latent), m and l (padded heads) are
// this range's unnormalised result, running max and sum of exp(score - max).
template <bool kF16>
LATENT_AVX512_TARGET void fused_range(const LatentCache& c, const float* qpad, uint32_t groups, uint32_t begin, uint32_t end, float* acc, float* m,
                                      float* l) {
    const uint32_t W = c.row_width, L = c.latent_width;
    const size_t rb = c.row_bytes;
    alignas(64) float S[(kChunk + 1) * kGroup];
    alignas(64) float alpha[kGroup];
    std::fill(acc, acc + static_cast<size_t>(groups) * kGroup * L, 0.0f);
    std::fill(m, m + groups * kGroup, -std::numeric_limits<float>::infinity());
    std::fill(l, l + groups * kGroup, 0.0f);
    // Two (three) rows' bytes over the W / 16 steps of a score pass, in whole lines (one line a
    // step for two F16 rows, two for three).
    const size_t steps = W / 16;
    const size_t prefetch_step = (2 * rb + steps * 64 - 1) / (steps * 64) * 64;
    const size_t prefetch_step3 = (3 * rb + steps * 64 - 1) / (steps * 64) * 64;
    for (uint32_t k0 = begin; k0 < end; k0 += kChunk) {
        const uint32_t n = std::min(kChunk, end - k0);
        const uint8_t* base = c.rows + static_cast<size_t>(k0) * rb;
        for (uint32_t g = 0; g < groups; ++g) {
            const float* q = qpad + static_cast<size_t>(g) * kGroup * W;
            // Scores of three keys × 8 heads at a time, the chunk's last one or two keys together.
            uint32_t key = 0;
            for (; key + 3 <= n; key += 3) {
                score_and_store<kF16, 3>(base, rb, key, n, g == 0 && k0 + kChunk + key < end, q, W, prefetch_step3, S);
            }
            if (key < n) score_and_store<kF16, 2>(base, rb, key, n, g == 0 && k0 + kChunk + key < end, q, W, prefetch_step, S);
            // Online softmax update.
            const __m256 m_old = _mm256_loadu_ps(m + g * kGroup);
            __m256 mx = m_old;
            for (uint32_t k = 0; k < n; ++k) mx = _mm256_max_ps(mx, _mm256_load_ps(S + k * kGroup));
            const __m512 mx2 = _mm512_shuffle_f32x4(_mm512_castps256_ps512(mx), _mm512_castps256_ps512(mx), 0x44);
            const __m512 m_old2 = _mm512_shuffle_f32x4(_mm512_castps256_ps512(m_old), _mm512_castps256_ps512(m_old), 0x44);
            const __m512 al = exp16(_mm512_sub_ps(m_old2, mx2));
            _mm256_store_ps(alpha, _mm512_castps512_ps256(al));
            __m512 sum = _mm512_setzero_ps();
            for (uint32_t k = 0; k < n; k += 2) {
                __m512 p = exp16(_mm512_sub_ps(_mm512_load_ps(S + k * kGroup), mx2));
                if (k + 1 == n) p = _mm512_maskz_mov_ps(0x00FF, p);
                _mm512_store_ps(S + k * kGroup, p);
                sum = _mm512_add_ps(sum, p);
            }
            const __m256 sum8 = _mm256_add_ps(_mm512_castps512_ps256(sum), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(sum), 1)));
            _mm256_storeu_ps(l + g * kGroup, _mm256_fmadd_ps(_mm256_loadu_ps(l + g * kGroup), _mm512_castps512_ps256(al), sum8));
            _mm256_storeu_ps(m + g * kGroup, mx);
            // Weighted latents: 8 heads × 32 columns in registers over the chunk's keys.
            float* ag = acc + static_cast<size_t>(g) * kGroup * L;
            for (uint32_t cb = 0; cb < L; cb += 32) {
                __m512 a[16];
#pragma GCC unroll 8
                for (uint32_t h = 0; h < kGroup; ++h) {
                    const __m512 f = _mm512_set1_ps(alpha[h]);
                    a[2 * h] = _mm512_mul_ps(f, _mm512_loadu_ps(ag + h * L + cb));
                    a[2 * h + 1] = _mm512_mul_ps(f, _mm512_loadu_ps(ag + h * L + cb + 16));
                }
                for (uint32_t k = 0; k < n; ++k) {
                    const uint8_t* r = base + static_cast<size_t>(k) * rb;
                    const __m512 x0 = load16<kF16>(r, cb);
                    const __m512 x1 = load16<kF16>(r, cb + 16);
#pragma GCC unroll 8
                    for (uint32_t h = 0; h < kGroup; ++h) {
                        const __m512 w = _mm512_set1_ps(S[k * kGroup + h]);
                        a[2 * h] = _mm512_fmadd_ps(w, x0, a[2 * h]);
                        a[2 * h + 1] = _mm512_fmadd_ps(w, x1, a[2 * h + 1]);
                    }
                }
#pragma GCC unroll 8
                for (uint32_t h = 0; h < kGroup; ++h) {
                    _mm512_storeu_ps(ag + h * L + cb, a[2 * h]);
                    _mm512_storeu_ps(ag + h * L + cb + 16, a[2 * h + 1]);
                }
            }
        }
    }
}

// ---- AVX2 fused kernel ----
// The same online-softmax scheme with 8-wide vectors and 16 registers, so the tiles differ: each
// chunk of keys is first converted to float32 (a small buffer that stays in L2), then
//   scores:  16 heads (two vectors) × 4 keys per tile, over the row: the queries are stored
//            transposed (row position × 16 heads) so that a score tile is vector(queries) ×
//            broadcast(key element) with no horizontal sums;
//   weighted latents: 4 heads × 16 columns in registers over the chunk's keys, columns outer so
//            the chunk's slice of 16 columns is reused from L1 by every head block.
constexpr uint32_t kGroup2 = 16;
constexpr uint32_t kKeyTile2 = 4;
constexpr uint32_t kScoreBlock2 = 192;

#define LATENT_AVX2_TARGET __attribute__((target("avx2,fma,f16c")))

// Rows [k0, k0 + n) as float32 into x (row_width floats per row), then zero rows up to the next
// multiple of the key tile.
template <bool kF16> LATENT_AVX2_TARGET void convert_rows(const LatentCache& c, uint32_t k0, uint32_t n, float* x) {
    const uint32_t W = c.row_width;
    for (uint32_t k = 0; k < n; ++k) {
        const uint8_t* src = c.rows + static_cast<size_t>(k0 + k) * c.row_bytes;
        float* dst = x + static_cast<size_t>(k) * W;
        if constexpr (kF16) {
            for (uint32_t d = 0; d < W; d += 8) {
                _mm256_storeu_ps(dst + d, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + static_cast<size_t>(d) * 2))));
            }
        } else {
            std::memcpy(dst, src, static_cast<size_t>(W) * 4);
        }
    }
    const uint32_t padded = (n + kKeyTile2 - 1) / kKeyTile2 * kKeyTile2;
    std::fill(x + static_cast<size_t>(n) * W, x + static_cast<size_t>(padded) * W, 0.0f);
}

// Keys [begin, end) for all head groups (qt: per group, row_width × 16 scaled queries); acc, m, l
// as in fused_range.
template <bool kF16>
LATENT_AVX2_TARGET void fused_range_avx2(const LatentCache& c, const float* qt, uint32_t groups, uint32_t begin, uint32_t end, float* acc, float* m,
                                         float* l) {
    const uint32_t W = c.row_width, L = c.latent_width;
    thread_local std::vector<float> rows32;
    rows32.resize(static_cast<size_t>(kChunk) * W);
    float* x = rows32.data();
    alignas(32) float S[kChunk * kGroup2];
    alignas(32) float alpha[kGroup2];
    std::fill(acc, acc + static_cast<size_t>(groups) * kGroup2 * L, 0.0f);
    std::fill(m, m + groups * kGroup2, -std::numeric_limits<float>::infinity());
    std::fill(l, l + groups * kGroup2, 0.0f);
    for (uint32_t k0 = begin; k0 < end; k0 += kChunk) {
        const uint32_t n = std::min(kChunk, end - k0);
        convert_rows<kF16>(c, k0, n, x);
        for (uint32_t g = 0; g < groups; ++g) {
            const float* q = qt + static_cast<size_t>(g) * W * kGroup2;
            // Row positions in blocks whose queries (block × 16 floats) stay in L1 across the tiles.
            for (uint32_t d0 = 0; d0 < W; d0 += kScoreBlock2) {
                const uint32_t d1 = std::min(W, d0 + kScoreBlock2);
                for (uint32_t k = 0; k < n; k += kKeyTile2) {
                    if (g == 0 && d0 == 0) prefetch_rows(c, k0 + kChunk + k, kKeyTile2, end);
                    const float* x0 = x + static_cast<size_t>(k) * W;
                    float* s = S + static_cast<size_t>(k) * kGroup2; // S has room for whole tiles: kChunk % 4 == 0
                    __m256 a0, a1, b0, b1, c0, c1, e0, e1;
                    if (d0 == 0) {
                        a0 = a1 = b0 = b1 = c0 = c1 = e0 = e1 = _mm256_setzero_ps();
                    } else {
                        a0 = _mm256_load_ps(s), a1 = _mm256_load_ps(s + 8), b0 = _mm256_load_ps(s + 16), b1 = _mm256_load_ps(s + 24);
                        c0 = _mm256_load_ps(s + 32), c1 = _mm256_load_ps(s + 40), e0 = _mm256_load_ps(s + 48), e1 = _mm256_load_ps(s + 56);
                    }
                    for (uint32_t d = d0; d < d1; ++d) {
                        const __m256 q0 = _mm256_loadu_ps(q + static_cast<size_t>(d) * kGroup2);
                        const __m256 q1 = _mm256_loadu_ps(q + static_cast<size_t>(d) * kGroup2 + 8);
                        __m256 v = _mm256_broadcast_ss(x0 + d);
                        a0 = _mm256_fmadd_ps(q0, v, a0);
                        a1 = _mm256_fmadd_ps(q1, v, a1);
                        v = _mm256_broadcast_ss(x0 + W + d);
                        b0 = _mm256_fmadd_ps(q0, v, b0);
                        b1 = _mm256_fmadd_ps(q1, v, b1);
                        v = _mm256_broadcast_ss(x0 + 2 * W + d);
                        c0 = _mm256_fmadd_ps(q0, v, c0);
                        c1 = _mm256_fmadd_ps(q1, v, c1);
                        v = _mm256_broadcast_ss(x0 + 3 * W + d);
                        e0 = _mm256_fmadd_ps(q0, v, e0);
                        e1 = _mm256_fmadd_ps(q1, v, e1);
                    }
                    _mm256_store_ps(s, a0);
                    _mm256_store_ps(s + 8, a1);
                    _mm256_store_ps(s + 16, b0);
                    _mm256_store_ps(s + 24, b1);
                    _mm256_store_ps(s + 32, c0);
                    _mm256_store_ps(s + 40, c1);
                    _mm256_store_ps(s + 48, e0);
                    _mm256_store_ps(s + 56, e1);
                }
            }
            // Online softmax update, 16 heads as two vectors.
            float* mg = m + g * kGroup2;
            float* lg = l + g * kGroup2;
            for (uint32_t half = 0; half < 2; ++half) {
                const __m256 m_old = _mm256_loadu_ps(mg + half * 8);
                __m256 mx = m_old;
                for (uint32_t k = 0; k < n; ++k) mx = _mm256_max_ps(mx, _mm256_load_ps(S + k * kGroup2 + half * 8));
                const __m256 al = exp8(_mm256_sub_ps(m_old, mx));
                _mm256_store_ps(alpha + half * 8, al);
                __m256 sum = _mm256_setzero_ps();
                for (uint32_t k = 0; k < n; ++k) {
                    const __m256 p = exp8(_mm256_sub_ps(_mm256_load_ps(S + k * kGroup2 + half * 8), mx));
                    _mm256_store_ps(S + k * kGroup2 + half * 8, p);
                    sum = _mm256_add_ps(sum, p);
                }
                _mm256_storeu_ps(lg + half * 8, _mm256_fmadd_ps(_mm256_loadu_ps(lg + half * 8), al, sum));
                _mm256_storeu_ps(mg + half * 8, mx);
            }
            // Weighted latents: 4 heads × 16 columns in registers over the chunk's keys.
            float* ag = acc + static_cast<size_t>(g) * kGroup2 * L;
            for (uint32_t cb = 0; cb < L; cb += 16) {
                for (uint32_t h0 = 0; h0 < kGroup2; h0 += 4) {
                    float* a = ag + static_cast<size_t>(h0) * L + cb;
                    __m256 f = _mm256_set1_ps(alpha[h0]);
                    __m256 a0 = _mm256_mul_ps(f, _mm256_loadu_ps(a)), a1 = _mm256_mul_ps(f, _mm256_loadu_ps(a + 8));
                    f = _mm256_set1_ps(alpha[h0 + 1]);
                    __m256 b0 = _mm256_mul_ps(f, _mm256_loadu_ps(a + L)), b1 = _mm256_mul_ps(f, _mm256_loadu_ps(a + L + 8));
                    f = _mm256_set1_ps(alpha[h0 + 2]);
                    __m256 c0 = _mm256_mul_ps(f, _mm256_loadu_ps(a + 2 * L)), c1 = _mm256_mul_ps(f, _mm256_loadu_ps(a + 2 * L + 8));
                    f = _mm256_set1_ps(alpha[h0 + 3]);
                    __m256 d0 = _mm256_mul_ps(f, _mm256_loadu_ps(a + 3 * L)), d1 = _mm256_mul_ps(f, _mm256_loadu_ps(a + 3 * L + 8));
                    for (uint32_t k = 0; k < n; ++k) {
                        const float* xr = x + static_cast<size_t>(k) * W + cb;
                        const __m256 x0 = _mm256_loadu_ps(xr), x1 = _mm256_loadu_ps(xr + 8);
                        const float* p = S + k * kGroup2 + h0;
                        __m256 w = _mm256_broadcast_ss(p);
                        a0 = _mm256_fmadd_ps(w, x0, a0);
                        a1 = _mm256_fmadd_ps(w, x1, a1);
                        w = _mm256_broadcast_ss(p + 1);
                        b0 = _mm256_fmadd_ps(w, x0, b0);
                        b1 = _mm256_fmadd_ps(w, x1, b1);
                        w = _mm256_broadcast_ss(p + 2);
                        c0 = _mm256_fmadd_ps(w, x0, c0);
                        c1 = _mm256_fmadd_ps(w, x1, c1);
                        w = _mm256_broadcast_ss(p + 3);
                        d0 = _mm256_fmadd_ps(w, x0, d0);
                        d1 = _mm256_fmadd_ps(w, x1, d1);
                    }
                    _mm256_storeu_ps(a, a0);
                    _mm256_storeu_ps(a + 8, a1);
                    _mm256_storeu_ps(a + L, b0);
                    _mm256_storeu_ps(a + L + 8, b1);
                    _mm256_storeu_ps(a + 2 * L, c0);
                    _mm256_storeu_ps(a + 2 * L + 8, c1);
                    _mm256_storeu_ps(a + 3 * L, d0);
                    _mm256_storeu_ps(a + 3 * L + 8, d1);
                }
            }
        }
    }
}

// Both fused kernels: the scaled queries laid out for the kernel, keys split across threads in
// whole chunks, each thread's (acc, max, sum) combined at the end.
void latent_attention_fused(bool avx512, const float* queries, uint32_t n_heads, const LatentCache& cache, uint32_t n_keys, float scale, float* out,
                            ThreadPool* pool, LatentAttentionScratch& s) {
    const uint32_t W = cache.row_width, L = cache.latent_width;
    const uint32_t group = avx512 ? kGroup : kGroup2;
    const uint32_t groups = (n_heads + group - 1) / group, hp = groups * group;
    s.qpad.assign(static_cast<size_t>(hp) * W, 0.0f);
    for (uint32_t h = 0; h < n_heads; ++h) {
        for (uint32_t d = 0; d < W; ++d) {
            const float q = queries[static_cast<size_t>(h) * W + d] * scale;
            if (avx512) {
                // per group: blocks of 16 row positions × 8 heads (score_keys)
                s.qpad[((static_cast<size_t>(h / group) * (W / 16) + d / 16) * group + h % group) * 16 + d % 16] = q;
            } else {
                s.qpad[(static_cast<size_t>(h / group) * W + d) * group + h % group] = q; // per group: row × 16 heads
            }
        }
    }
    constexpr unsigned kMaxChunks = 64;
    const unsigned threads = pool ? std::min(pool->size(), kMaxChunks) : 1;
    const uint32_t min_keys_per_chunk = 64;
    const unsigned chunks = std::max(1u, std::min<unsigned>(threads, (n_keys + min_keys_per_chunk - 1) / min_keys_per_chunk));
    const size_t acc_size = static_cast<size_t>(hp) * L;
    s.partials.resize(acc_size * chunks);
    s.stats.resize(static_cast<size_t>(2) * hp * chunks);
    auto run = [&](size_t chunk) {
        // Chunk boundaries on multiples of kChunk keep every thread's steps full.
        const uint32_t steps = (n_keys + kChunk - 1) / kChunk;
        const uint32_t begin = std::min(n_keys, static_cast<uint32_t>(static_cast<uint64_t>(steps) * chunk / chunks) * kChunk);
        const uint32_t end = std::min(n_keys, static_cast<uint32_t>(static_cast<uint64_t>(steps) * (chunk + 1) / chunks) * kChunk);
        float* acc = s.partials.data() + chunk * acc_size;
        float* m = s.stats.data() + chunk * 2 * hp;
        const bool f16 = cache.type == TensorType::F16;
        if (avx512) {
            (f16 ? fused_range<true> : fused_range<false>)(cache, s.qpad.data(), groups, begin, end, acc, m, m + hp);
        } else {
            (f16 ? fused_range_avx2<true> : fused_range_avx2<false>)(cache, s.qpad.data(), groups, begin, end, acc, m, m + hp);
        }
    };
    if (chunks == 1) {
        run(0);
    } else {
        pool->parallel_for(chunks, [&](size_t chunk, unsigned) { run(chunk); });
    }
    // Combine: out = Σ_t exp(m_t − M)·acc_t / Σ_t exp(m_t − M)·l_t. An empty range has m = −inf.
    float weights[kMaxChunks];
    for (uint32_t h = 0; h < n_heads; ++h) {
        float mmax = -std::numeric_limits<float>::infinity();
        for (unsigned t = 0; t < chunks; ++t) mmax = std::max(mmax, s.stats[t * 2 * hp + h]);
        double denom = 0.0;
        for (unsigned t = 0; t < chunks; ++t) {
            const float mt = s.stats[t * 2 * hp + h];
            weights[t] = mt == -std::numeric_limits<float>::infinity() ? 0.0f : std::exp(mt - mmax);
            denom += static_cast<double>(weights[t]) * s.stats[t * 2 * hp + hp + h];
        }
        for (unsigned t = 0; t < chunks; ++t) weights[t] = static_cast<float>(weights[t] / denom);
        float* dst = out + static_cast<size_t>(h) * L;
        const float* a0 = s.partials.data() + static_cast<size_t>(h) * L;
        for (uint32_t i = 0; i < L; ++i) dst[i] = weights[0] * a0[i];
        for (unsigned t = 1; t < chunks; ++t) {
            const float* at = s.partials.data() + t * acc_size + static_cast<size_t>(h) * L;
            for (uint32_t i = 0; i < L; ++i) dst[i] += weights[t] * at[i];
        }
    }
}

#endif

void accumulate(bool use_avx2, const LatentCache& c, uint32_t key, const float* weights, size_t stride, uint32_t n_heads, float* acc,
                std::vector<float>& row) {
#ifdef LATENT_HAVE_X86
    if (use_avx2) return accumulate_avx2(c, key, weights, stride, n_heads, acc, row);
#endif
    (void)use_avx2;
    accumulate_portable(c, key, weights, stride, n_heads, acc, row);
}

std::atomic<int> g_forced_kernel{static_cast<int>(LatentAttentionKernel::Auto)};

bool kernel_supported(LatentAttentionKernel k) {
    switch (k) {
    case LatentAttentionKernel::Auto:
    case LatentAttentionKernel::Portable:
        return true;
#ifdef LATENT_HAVE_X86
    case LatentAttentionKernel::Avx2:
        return detail::cpu_has_avx2();
    case LatentAttentionKernel::Avx512:
        return have_avx512();
#else
    default:
        return false;
#endif
    }
    return false;
}

LatentAttentionKernel selected_kernel() {
    const auto forced = static_cast<LatentAttentionKernel>(g_forced_kernel.load(std::memory_order_relaxed));
    if (forced != LatentAttentionKernel::Auto) return forced;
    if (kernel_supported(LatentAttentionKernel::Avx512)) return LatentAttentionKernel::Avx512;
    if (kernel_supported(LatentAttentionKernel::Avx2)) return LatentAttentionKernel::Avx2;
    return LatentAttentionKernel::Portable;
}

} // namespace

bool set_latent_attention_kernel(LatentAttentionKernel kernel) {
    if (!kernel_supported(kernel)) return false;
    g_forced_kernel.store(static_cast<int>(kernel), std::memory_order_relaxed);
    return true;
}

void latent_attention(const float* queries, uint32_t n_heads, const LatentCache& cache, uint32_t n_keys, float scale, float* out, ThreadPool* pool,
                      LatentAttentionScratch& s) {
    if (n_keys == 0) throw Error("latent_attention: no keys");
    const LatentAttentionKernel kernel = selected_kernel();
#ifdef LATENT_HAVE_X86
    if ((kernel == LatentAttentionKernel::Avx512 || kernel == LatentAttentionKernel::Avx2) && fused_fits(cache)) {
        return latent_attention_fused(kernel == LatentAttentionKernel::Avx512, queries, n_heads, cache, n_keys, scale, out, pool, s);
    }
#endif
    const bool use_avx2 = kernel == LatentAttentionKernel::Avx2 || kernel == LatentAttentionKernel::Avx512;
    // Scores: the cache rows are the "weights", the heads' queries the "tokens".
    WeightMatrix keys;
    keys.type = cache.type;
    keys.data = cache.rows;
    keys.cols = cache.row_width;
    keys.rows = n_keys;
    keys.row_bytes = cache.row_bytes;
    quantize_activations(cache.type, queries, cache.row_width, n_heads, s.queries);
    s.scores.resize(static_cast<size_t>(n_heads) * n_keys);
    matmul(keys, s.queries, s.scores.data(), pool);

    // Softmax per head (scores of head h are row h: n_keys floats).
    for (uint32_t h = 0; h < n_heads; ++h) softmax_row_portable(s.scores.data() + static_cast<size_t>(h) * n_keys, n_keys, scale);

    // Weighted sum of latents, keys split across threads; partial sums are then added.
    const size_t out_size = static_cast<size_t>(n_heads) * cache.latent_width;
    const unsigned threads = pool ? pool->size() : 1;
    const uint32_t min_keys_per_chunk = 64;
    const unsigned chunks = std::max(1u, std::min<unsigned>(threads, (n_keys + min_keys_per_chunk - 1) / min_keys_per_chunk));
    if (chunks == 1) {
        std::fill(out, out + out_size, 0.0f);
        for (uint32_t k = 0; k < n_keys; ++k) accumulate(use_avx2, cache, k, s.scores.data() + k, n_keys, n_heads, out, s.row);
        return;
    }
    s.partials.assign(out_size * chunks, 0.0f);
    pool->parallel_for(chunks, [&](size_t chunk, unsigned) {
        thread_local std::vector<float> row;
        const uint32_t begin = static_cast<uint32_t>(static_cast<uint64_t>(n_keys) * chunk / chunks);
        const uint32_t end = static_cast<uint32_t>(static_cast<uint64_t>(n_keys) * (chunk + 1) / chunks);
        float* acc = s.partials.data() + chunk * out_size;
        for (uint32_t k = begin; k < end; ++k) accumulate(use_avx2, cache, k, s.scores.data() + k, n_keys, n_heads, acc, row);
    });
    std::copy_n(s.partials.data(), out_size, out);
    for (unsigned c = 1; c < chunks; ++c) {
        const float* p = s.partials.data() + c * out_size;
        for (size_t i = 0; i < out_size; ++i) out[i] += p[i];
    }
}

namespace {

#ifdef LATENT_HAVE_X86
// One row of softmax_rows with exp8 (AVX2 CPUs only).
LATENT_AVX2_TARGET void softmax_row_avx2(float* s, uint32_t valid, float scale) {
    const __m256 sc = _mm256_set1_ps(scale);
    uint32_t i = 0;
    __m256 mx = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
    for (; i + 8 <= valid; i += 8) mx = _mm256_max_ps(mx, _mm256_mul_ps(_mm256_loadu_ps(s + i), sc));
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, mx);
    float m = lanes[0];
    for (int l = 1; l < 8; ++l) m = std::max(m, lanes[l]);
    for (uint32_t j = i; j < valid; ++j) m = std::max(m, s[j] * scale);
    const __m256 mv = _mm256_set1_ps(m);
    __m256 sum = _mm256_setzero_ps();
    for (i = 0; i + 8 <= valid; i += 8) {
        const __m256 p = exp8(_mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(s + i), sc), mv));
        _mm256_storeu_ps(s + i, p);
        sum = _mm256_add_ps(sum, p);
    }
    _mm256_store_ps(lanes, sum);
    double total = 0;
    for (int l = 0; l < 8; ++l) total += lanes[l];
    for (uint32_t j = i; j < valid; ++j) {
        s[j] = std::exp(s[j] * scale - m);
        total += s[j];
    }
    const __m256 inv = _mm256_set1_ps(static_cast<float>(1.0 / total));
    for (i = 0; i + 8 <= valid; i += 8) _mm256_storeu_ps(s + i, _mm256_mul_ps(_mm256_loadu_ps(s + i), inv));
    for (uint32_t j = i; j < valid; ++j) s[j] *= static_cast<float>(1.0 / total);
}
#endif

} // namespace

void softmax_rows(float* scores, size_t rows, size_t stride, const uint32_t* valid, float scale, ThreadPool* pool) {
#ifdef LATENT_HAVE_X86
    const bool avx2 = selected_kernel() != LatentAttentionKernel::Portable;
#else
    const bool avx2 = false;
#endif
    auto run = [&](size_t r) {
        float* s = scores + r * stride;
        const uint32_t n = std::min<uint32_t>(valid[r], static_cast<uint32_t>(stride));
#ifdef LATENT_HAVE_X86
        if (avx2) softmax_row_avx2(s, n, scale);
        else softmax_row_portable(s, n, scale);
#else
        softmax_row_portable(s, n, scale);
#endif
        std::fill(s + n, s + stride, 0.0f);
    };
    if (pool && rows > 1) {
        pool->parallel_for(rows, [&run](size_t r, unsigned) { run(r); });
    } else {
        for (size_t r = 0; r < rows; ++r) run(r);
    }
}

void latent_attention_reference(const float* queries, uint32_t n_heads, const LatentCache& cache, uint32_t n_keys, float scale, float* out) {
    for (uint32_t h = 0; h < n_heads; ++h) {
        const float* q = queries + static_cast<size_t>(h) * cache.row_width;
        std::vector<double> scores(n_keys);
        double max = -std::numeric_limits<double>::infinity();
        for (uint32_t k = 0; k < n_keys; ++k) {
            double dot = 0.0;
            for (uint32_t i = 0; i < cache.row_width; ++i) dot += static_cast<double>(q[i]) * cache_element(cache, k, i);
            scores[k] = dot * scale;
            max = std::max(max, scores[k]);
        }
        double sum = 0.0;
        for (double& v : scores) {
            v = std::exp(v - max);
            sum += v;
        }
        for (uint32_t i = 0; i < cache.latent_width; ++i) {
            double acc = 0.0;
            for (uint32_t k = 0; k < n_keys; ++k) acc += scores[k] / sum * cache_element(cache, k, i);
            out[static_cast<size_t>(h) * cache.latent_width + i] = static_cast<float>(acc);
        }
    }
}

} // namespace latent::cpu
