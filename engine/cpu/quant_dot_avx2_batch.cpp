// AVX2 matmul for batches of tokens, for CPUs with AVX2 but neither AVX-512 nor AVX-VNNI (AMD
// Zen 2/3, Intel Skylake to Comet Lake). The GEMM-style kernel of quant_dot_avxvnni.cpp on the
// same panel (16 decoded rows, interleaved 4 values at a time, see quant_dot_batch.h), with
// vpdpbusd emulated: _mm256_maddubs_epi16 (u8 x s8, adjacent pairs summed into int16, with
// signed saturation) then _mm256_madd_epi16 with ones (int16 pairs summed into int32).
//
// No saturation, and exact integers (so the int32 sums, and with the same float operations in
// the same order, the results, are bit-identical to the AVX-VNNI and AVX-512 batch kernels):
//  * Activations are quantized to -127..127 (both quantizers clamp to +-127) and come in as
//    u = x + 128 in 1..255 (0..255 for any input). Weights q lie in [-m, m] with m =
//    RowForm::max_magnitude (8 for Q4_0, 15 for Q4_K, 32 for Q6_K, 128 for Q8_0, ...).
//  * m <= 64 ("unsigned" path, u x q): one maddubs pair is |u0 q0 + u1 q1| <= 2 * 255 * m, and
//    kGroup consecutive steps are added in int16 (_mm256_add_epi16, which wraps, never
//    saturates) before the madd, with kGroup the largest power of two (dividing the steps of a
//    sub-block) for which kGroup * 2 * 255 * m <= 32767: for m = 64 that is 1 (32640), for
//    m = 32 it is 2 (32640), for m = 15 or 16 it is 4 (30600, 32640), for m = 8 it is 8
//    (32640), for m <= 4 it is the whole sub-block (16 * 2 * 255 * 4 = 32640). So no
//    intermediate int16 value leaves [-32640, 32640]. The madd then sums two int16 into an
//    int32 (exact), and the int32 sum of a sub-block is at most 32 * 255 * 128 < 2^21.
//  * m > 64 (Q8_0, Q8_K, IQ4_NL, IQ4_XS: "sign" path): u x q could reach 2 * 255 * 128 = 65280
//    and saturate, so the signed activation x = u - 128 is used with the sign trick:
//    maddubs(|q|, sign(x, q)) = sum |q| * (x * sgn q) = sum q x. |q| <= 128 fits an unsigned
//    byte (abs(-128) = 0x80 = 128), and x is first clamped to >= -127 (a no-op for the
//    quantizers' output) so that sign(x, q) = +-x never overflows a byte; a pair is then at
//    most 2 * 128 * 127 = 32512. The accumulators start at 0 instead of -128 * sum q.
// When it runs (quant_dot.cpp): at level Avx2, for every covered type, from kBatchKernelMinTokens
// tokens, like the other batch kernels. Measured on a 2-vCPU VM (Sapphire Rapids forced to AVX2;
// 2048 x 2816 products on 2 threads, BENCHMARKS.md 2025-11-22) against the per-row AVX2 kernels:
// from 16 tokens it wins for every type (512 tokens: Q4_K 1.5x, Q6_K 1.6x, Q8_0 1.3x, Q4_0 2.0x,
// Q5_0 2.5x, IQ4_XS 1.1x, Q2_K 1.15x); at 6-8 tokens it wins for Q4_0/Q5_0 (1.3-1.4x), ties for
// Q4_K/Q5_K/Q3_K and loses 10-30% for Q6_K, Q8_0, IQ4_XS and Q2_K. A per-type token threshold
// would win those back, but then a batch's results would depend on how its tokens are grouped
// into calls (a 10-token call on one kernel, a 71-token call on the other), which quant_dot.h
// rules out; batches of 6-15 tokens are a small share of a prompt's work.
// tests/engine/test_cpu_kernels.cpp checks both paths with every weight at its extreme and
// activations at +-127, bit for bit against the AVX-VNNI/AVX-512 kernels where the CPU has one.
#include "cpu/avx2_common.h"
#include "cpu/quant_dot_batch.h"

#include <cstdint>
#include <cstring>

#if LATENT_HAVE_X86

LATENT_AVX2_BEGIN

namespace latent::cpu::avx2_batch {
namespace {

using avx2::load256;
using detail::batch::kPanelRows;
using detail::batch::Panel;
using detail::batch::PanelTokens;
using detail::batch::PreparedActivations;
using detail::batch::RowForm;

inline void store256(void* p, __m256i v) { _mm256_storeu_si256(static_cast<__m256i*>(p), v); }

// 8 rows x 8 dwords -> 8 x 8 dwords (out[s] = dword s of rows 0..7).
inline void transpose_8x8(const int32_t* src, int64_t stride, __m256i (&out)[8]) {
    __m256i u[8];
    for (int h = 0; h < 2; ++h) {
        const int32_t* rows = src + 4 * h * stride;
        const __m256i r0 = load256(rows);
        const __m256i r1 = load256(rows + stride);
        const __m256i r2 = load256(rows + 2 * stride);
        const __m256i r3 = load256(rows + 3 * stride);
        const __m256i t0 = _mm256_unpacklo_epi32(r0, r1);
        const __m256i t1 = _mm256_unpackhi_epi32(r0, r1);
        const __m256i t2 = _mm256_unpacklo_epi32(r2, r3);
        const __m256i t3 = _mm256_unpackhi_epi32(r2, r3);
        u[4 * h + 0] = _mm256_unpacklo_epi64(t0, t2);
        u[4 * h + 1] = _mm256_unpackhi_epi64(t0, t2);
        u[4 * h + 2] = _mm256_unpacklo_epi64(t1, t3);
        u[4 * h + 3] = _mm256_unpackhi_epi64(t1, t3);
    }
    for (int s = 0; s < 4; ++s) {
        out[s] = _mm256_permute2x128_si256(u[s], u[4 + s], 0x20);
        out[s + 4] = _mm256_permute2x128_si256(u[s], u[4 + s], 0x31);
    }
}

// The dword sums of 4 signed bytes: maddubs with all-ones bytes (pairs of q, |sum| <= 256),
// then madd with ones.
inline __m256i byte_sums(__m256i q) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q), _mm256_set1_epi16(1));
}

// -128 * sum, the start of a sub-block's accumulators.
inline __m256i start_of(__m256i sum) { return _mm256_slli_epi32(_mm256_sub_epi32(_mm256_setzero_si256(), sum), 7); }

// The interleaving of quant_dot_avxvnni.cpp, with the sums by maddubs + madd.
void interleave_panel(Panel& panel, const RowForm& form) {
    const int64_t cols = panel.cols;
    const int64_t n_sub_padded = panel.n_sub_padded;
    for (int64_t c = 0; c < cols; c += 32) {
        for (int h = 0; h < 2; ++h) {
            __m256i steps[8];
            transpose_8x8(reinterpret_cast<const int32_t*>(panel.rows.data() + 8 * h * cols + c), cols / 4, steps);
            int8_t* out = panel.quants.data() + 16 * c + 32 * h;
            __m256i first_half = _mm256_setzero_si256();  // steps 0-3
            __m256i second_half = _mm256_setzero_si256(); // steps 4-7
            for (int s = 0; s < 4; ++s) {
                store256(out + 64 * s, steps[s]);
                store256(out + 64 * (s + 4), steps[s + 4]);
                first_half = _mm256_add_epi32(first_half, byte_sums(steps[s]));
                second_half = _mm256_add_epi32(second_half, byte_sums(steps[s + 4]));
            }
            if (form.sub == 32) {
                store256(panel.start.data() + (c / 32) * kPanelRows + 8 * h, start_of(_mm256_add_epi32(first_half, second_half)));
            } else {
                store256(panel.start.data() + (c / 16) * kPanelRows + 8 * h, start_of(first_half));
                store256(panel.start.data() + (c / 16 + 1) * kPanelRows + 8 * h, start_of(second_half));
            }
        }
    }
    for (int64_t k = 0; k < n_sub_padded; k += 8) {
        for (int h = 0; h < 2; ++h) {
            __m256i columns[8];
            transpose_8x8(reinterpret_cast<const int32_t*>(panel.row_scales.data() + 8 * h * n_sub_padded + k), n_sub_padded,
                          columns);
            for (int s = 0; s < 8; ++s) store256(panel.scales.data() + (k + s) * kPanelRows + 8 * h, columns[s]);
            if (form.has_min) {
                transpose_8x8(reinterpret_cast<const int32_t*>(panel.row_mins.data() + 8 * h * n_sub_padded + k), n_sub_padded,
                              columns);
                for (int s = 0; s < 8; ++s) store256(panel.mins.data() + (k + s) * kPanelRows + 8 * h, columns[s]);
            }
        }
    }
}

// ---- the micro-kernel ---------------------------------------------------------------------------

inline int32_t load_i32(const uint8_t* p) {
    int32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

// out[t * out_stride + r] for the panel's 16 rows and NT tokens from t0. kSub: values per
// sub-block; kPerBlock: sub-blocks per activation scale (1 for Q8_32, 256 / kSub for Q8_K);
// kGroup: steps added in int16 before widening (unsigned path), 0 for the sign path.
template <int NT, int kSub, int kPerBlock, bool kHasMin, int kGroup>
void panel_tile(const Panel& panel, const PreparedActivations& x, int64_t t0, float* out, int64_t out_stride, int n_rows) {
    constexpr int kSteps = kSub / 4;
    static_assert(kGroup == 0 || kSteps % kGroup == 0);
    constexpr bool kSign = kGroup == 0;
    const uint8_t* xq[NT];
    const float* dx[NT];
    const float* xs[NT];
    for (int t = 0; t < NT; ++t) {
        xq[t] = x.unsigned_quants + (t0 + t) * x.cols;
        dx[t] = x.scales + (t0 + t) * x.scales_per_token;
        xs[t] = kHasMin ? x.sub_sums + (t0 + t) * x.n_sub : nullptr;
    }
    const __m256i ones16 = _mm256_set1_epi16(1);
    __m256 acc[NT][2], block_acc[NT][2];
    for (int t = 0; t < NT; ++t) {
        for (int h = 0; h < 2; ++h) acc[t][h] = block_acc[t][h] = _mm256_setzero_ps();
    }
    const int8_t* quants = panel.quants.data();
    for (int64_t k = 0; k < panel.n_sub; ++k) {
        __m256i isum[NT][2];
        if constexpr (kSign) {
            for (int t = 0; t < NT; ++t) isum[t][0] = isum[t][1] = _mm256_setzero_si256();
            for (int s = 0; s < kSteps; ++s) {
                const int8_t* step = quants + (k * kSteps + s) * 64;
                const __m256i w_lo = load256(step);
                const __m256i w_hi = load256(step + 32);
                const __m256i abs_lo = _mm256_abs_epi8(w_lo);
                const __m256i abs_hi = _mm256_abs_epi8(w_hi);
                const int64_t offset = k * kSub + 4 * s;
                for (int t = 0; t < NT; ++t) {
                    // x = u - 128, clamped to >= -127 (u >= 1).
                    const __m256i u = _mm256_max_epu8(_mm256_set1_epi32(load_i32(xq[t] + offset)), _mm256_set1_epi8(1));
                    const __m256i xb = _mm256_xor_si256(u, _mm256_set1_epi8(static_cast<char>(0x80)));
                    isum[t][0] = _mm256_add_epi32(
                        isum[t][0], _mm256_madd_epi16(_mm256_maddubs_epi16(abs_lo, _mm256_sign_epi8(xb, w_lo)), ones16));
                    isum[t][1] = _mm256_add_epi32(
                        isum[t][1], _mm256_madd_epi16(_mm256_maddubs_epi16(abs_hi, _mm256_sign_epi8(xb, w_hi)), ones16));
                }
            }
        } else {
            const __m256i start_lo = load256(panel.start.data() + k * kPanelRows);
            const __m256i start_hi = load256(panel.start.data() + k * kPanelRows + 8);
            for (int t = 0; t < NT; ++t) {
                isum[t][0] = start_lo;
                isum[t][1] = start_hi;
            }
            for (int g = 0; g < kSteps; g += kGroup) {
                __m256i part[NT][2];
                for (int s = g; s < g + kGroup; ++s) {
                    const int8_t* step = quants + (k * kSteps + s) * 64;
                    const __m256i w_lo = load256(step);
                    const __m256i w_hi = load256(step + 32);
                    const int64_t offset = k * kSub + 4 * s;
                    for (int t = 0; t < NT; ++t) {
                        const __m256i xb = _mm256_set1_epi32(load_i32(xq[t] + offset));
                        const __m256i p_lo = _mm256_maddubs_epi16(xb, w_lo);
                        const __m256i p_hi = _mm256_maddubs_epi16(xb, w_hi);
                        if (s == g) {
                            part[t][0] = p_lo;
                            part[t][1] = p_hi;
                        } else {
                            part[t][0] = _mm256_add_epi16(part[t][0], p_lo);
                            part[t][1] = _mm256_add_epi16(part[t][1], p_hi);
                        }
                    }
                }
                for (int t = 0; t < NT; ++t) {
                    isum[t][0] = _mm256_add_epi32(isum[t][0], _mm256_madd_epi16(part[t][0], ones16));
                    isum[t][1] = _mm256_add_epi32(isum[t][1], _mm256_madd_epi16(part[t][1], ones16));
                }
            }
        }
        for (int h = 0; h < 2; ++h) {
            const __m256 scale = _mm256_loadu_ps(panel.scales.data() + k * kPanelRows + 8 * h);
            for (int t = 0; t < NT; ++t) {
                block_acc[t][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t][h]), scale, block_acc[t][h]);
            }
            if constexpr (kHasMin) {
                const __m256 mins = _mm256_loadu_ps(panel.mins.data() + k * kPanelRows + 8 * h);
                for (int t = 0; t < NT; ++t) acc[t][h] = _mm256_fnmadd_ps(mins, _mm256_set1_ps(xs[t][k]), acc[t][h]);
            }
        }
        if ((k + 1) % kPerBlock == 0) {
            const int64_t block = k / kPerBlock;
            for (int t = 0; t < NT; ++t) {
                const __m256 d = _mm256_set1_ps(dx[t][block]);
                for (int h = 0; h < 2; ++h) {
                    acc[t][h] = _mm256_fmadd_ps(block_acc[t][h], d, acc[t][h]);
                    block_acc[t][h] = _mm256_setzero_ps();
                }
            }
        }
    }
    if (n_rows == kPanelRows) {
        for (int t = 0; t < NT; ++t) {
            _mm256_storeu_ps(out + t * out_stride, acc[t][0]);
            _mm256_storeu_ps(out + t * out_stride + 8, acc[t][1]);
        }
        return;
    }
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i valid_lo = _mm256_cmpgt_epi32(_mm256_set1_epi32(n_rows), lane);
    const __m256i valid_hi = _mm256_cmpgt_epi32(_mm256_set1_epi32(n_rows - 8), lane);
    for (int t = 0; t < NT; ++t) {
        _mm256_maskstore_ps(out + t * out_stride, valid_lo, acc[t][0]);
        _mm256_maskstore_ps(out + t * out_stride + 8, valid_hi, acc[t][1]);
    }
}

// Tokens per micro-kernel call: 3 x 2 int32 sums (+ 3 x 2 int16 partial sums) in registers;
// 2, 3 and 4 ran within noise of each other, 3 slightly ahead for Q8_0 and IQ4_XS.
constexpr int kMaxTileTokens = 3;

template <int kSub, int kPerBlock, bool kHasMin, int kGroup>
void panel_tokens(const Panel& panel, const PreparedActivations& x, int64_t t0, int64_t t1, float* y, int64_t y_stride,
                  int64_t row0, int n_rows) {
    int64_t t = t0;
    for (; t + kMaxTileTokens <= t1; t += kMaxTileTokens) {
        panel_tile<kMaxTileTokens, kSub, kPerBlock, kHasMin, kGroup>(panel, x, t, y + t * y_stride + row0, y_stride, n_rows);
    }
    if constexpr (kMaxTileTokens > 2) {
        if (t + 2 <= t1) {
            panel_tile<2, kSub, kPerBlock, kHasMin, kGroup>(panel, x, t, y + t * y_stride + row0, y_stride, n_rows);
            t += 2;
        }
    }
    if (t < t1) panel_tile<1, kSub, kPerBlock, kHasMin, kGroup>(panel, x, t, y + t * y_stride + row0, y_stride, n_rows);
}

// kGroup for a weight magnitude (see the top of the file): the largest power of two dividing
// the kSteps steps of a sub-block with kGroup * 2 * 255 * m <= 32767; 0 (sign path) for m > 64.
constexpr int group_for(int max_magnitude, int steps) {
    if (max_magnitude > 64) return 0;
    int group = 1;
    while (group * 2 <= steps && group * 2 * 2 * 255 * max_magnitude <= 32767) group *= 2;
    return group;
}
static_assert(group_for(64, 8) == 1 && group_for(32, 8) == 2 && group_for(16, 8) == 4 && group_for(15, 8) == 4 &&
              group_for(8, 8) == 8 && group_for(4, 4) == 4 && group_for(128, 8) == 0);

template <int kSub, int kPerBlock, bool kHasMin>
PanelTokens by_magnitude(int max_magnitude) {
    constexpr int kSteps = kSub / 4;
    switch (group_for(max_magnitude, kSteps)) {
    case 0: return panel_tokens<kSub, kPerBlock, kHasMin, 0>;
    case 1: return panel_tokens<kSub, kPerBlock, kHasMin, 1>;
    case 2: return panel_tokens<kSub, kPerBlock, kHasMin, 2>;
    case 4: return panel_tokens<kSub, kPerBlock, kHasMin, 4>;
    default:
        if constexpr (kSteps >= 8) return panel_tokens<kSub, kPerBlock, kHasMin, 8>;
        else return panel_tokens<kSub, kPerBlock, kHasMin, 4>;
    }
}

PanelTokens panel_tokens_for(const RowForm& form, ActivationFormat format) {
    const int m = form.max_magnitude;
    if (format == ActivationFormat::Q8_32) {
        return form.has_min ? by_magnitude<32, 1, true>(m) : by_magnitude<32, 1, false>(m);
    }
    if (form.sub == 16) return form.has_min ? by_magnitude<16, 16, true>(m) : by_magnitude<16, 16, false>(m);
    return form.has_min ? by_magnitude<32, 8, true>(m) : by_magnitude<32, 8, false>(m);
}

} // namespace
} // namespace latent::cpu::avx2_batch

LATENT_AVX2_END

namespace latent::cpu::detail {

bool avx2_batch_matmul(const WeightMatrix& w, const ActivationView& x, float* y, int64_t y_stride, int64_t row_begin,
                       int64_t row_end, ThreadPool* pool) {
    static constexpr batch::BatchKernel kKernel{avx2_batch::interleave_panel, avx2_batch::panel_tokens_for};
    return batch::batch_matmul(kKernel, w, x, y, y_stride, row_begin, row_end, pool);
}

} // namespace latent::cpu::detail

#else // !LATENT_HAVE_X86

namespace latent::cpu::detail {
bool avx2_batch_matmul(const WeightMatrix&, const ActivationView&, float*, int64_t, int64_t, int64_t, ThreadPool*) {
    return false;
}
} // namespace latent::cpu::detail

#endif
