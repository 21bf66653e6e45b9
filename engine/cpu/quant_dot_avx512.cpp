// AVX-512 VNNI matmul for batches of tokens (prompt processing); the AVX-512 per-row kernels
// are in quant_dot_avx512_rows.cpp.
//
// One-token decode streams every weight once and is bound by memory; a batch reuses each weight
// for every token and is bound by arithmetic, so it gets a GEMM-style kernel (the decoders, the
// panel's memory and the split into tasks are shared with the AVX-VNNI kernel of
// quant_dot_avxvnni.cpp, in quant_dot_batch.h / .cpp):
//
//  1. Panel: 16 weight rows are decoded into a common form, W[r][i] = S[r][k] * q[r][i] - M[r][k]
//     for sub-block k = i / sub (sub = 16 or 32 values, the type's scale granularity), with q a
//     signed byte, S and M floats (M only for the types with a minimum). The bytes are stored
//     interleaved: for every 4 consecutive values, 64 bytes holding those 4 values of each of the
//     16 rows, so one zmm register carries 16 rows.
//  2. Micro-kernel: for up to 8 tokens at once, vpdpbusd multiplies the panel register by the
//     token's 4 activation bytes broadcast to all lanes and accumulates one int32 per row. After
//     each sub-block the int32 sums are converted and scaled (S, and the activation scale d_x)
//     into float accumulators. 8 multiply-accumulates of 64 bytes then cost about 3 more vector
//     operations, instead of 3 per 32 bytes in the per-row AVX2 kernels.
//  3. Where a product has two panels or more, they are taken in pairs (PairKernel: 32 rows by up
//     to 6 tokens), so that each token's broadcast activation bytes serve 2 vpdpbusd; a lone last
//     panel takes the one-panel tile. Both give the same bits.
//
// vpdpbusd multiplies unsigned by signed bytes; the activations are made unsigned by adding 128
// (x ^ 0x80), and the excess 128 * sum(q) of each row and sub-block is subtracted exactly, in
// integers, by starting the sub-block's accumulator at -128 * sum(q).

// GCC 12's AVX-512 intrinsics pass an "undefined" register as the unused merge source, which
// -Wmaybe-uninitialized reports after inlining, located in the header: silence it for this file
// (before any header can pull in immintrin.h).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "cpu/avx2_common.h"
#include "cpu/quant_dot_batch.h"

#include <cstdint>

#if defined(__x86_64__)
#define LATENT_HAVE_AVX512 1
#else
#define LATENT_HAVE_AVX512 0
#endif

namespace latent::cpu::detail {

bool cpu_has_avx512() {
#if LATENT_HAVE_AVX512
    static const bool supported = cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
                                  __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                                  __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("bmi2");
    return supported;
#else
    return false;
#endif
}

} // namespace latent::cpu::detail

#if LATENT_HAVE_AVX512

LATENT_AVX512_BEGIN

#include "cpu/quant_dot_batch_tiles.h"

namespace latent::cpu::avx512 {
namespace {

using avx2::load256;
using avx2::load_i32;
using namespace detail::batch;

// 16 rows x 8 dwords -> 8 x 16 dwords (out[s] = dword s of rows 0..15): two 8 x 8 transposes
// side by side in the zmm halves. Rows are paired (r, r + 4) for r < 4 and (r + 4, r + 8) for
// r >= 4, the order in which the final lane shuffle leaves them natural.
inline void transpose_16x8(const int32_t* src, int64_t stride, __m512i (&out)[8]) {
    __m512i z[8];
    for (int i = 0; i < 8; ++i) {
        const int first = i < 4 ? i : i + 4;
        const __m256i a = load256(src + first * stride);
        const __m256i b = load256(src + (first + 4) * stride);
        z[i] = _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
    }
    __m512i u[8];
    for (int h = 0; h < 2; ++h) {
        const __m512i* zh = z + 4 * h;
        const __m512i t0 = _mm512_unpacklo_epi32(zh[0], zh[1]);
        const __m512i t1 = _mm512_unpackhi_epi32(zh[0], zh[1]);
        const __m512i t2 = _mm512_unpacklo_epi32(zh[2], zh[3]);
        const __m512i t3 = _mm512_unpackhi_epi32(zh[2], zh[3]);
        u[4 * h + 0] = _mm512_unpacklo_epi64(t0, t2); // dwords 0 and 4
        u[4 * h + 1] = _mm512_unpackhi_epi64(t0, t2); // dwords 1 and 5
        u[4 * h + 2] = _mm512_unpacklo_epi64(t1, t3); // dwords 2 and 6
        u[4 * h + 3] = _mm512_unpackhi_epi64(t1, t3); // dwords 3 and 7
    }
    for (int s = 0; s < 4; ++s) {
        out[s] = _mm512_shuffle_i32x4(u[s], u[4 + s], 0x88);
        out[s + 4] = _mm512_shuffle_i32x4(u[s], u[4 + s], 0xDD);
    }
}

// Interleaves the panel's decoded rows (see quant_dot_batch.h).
void interleave_panel(Panel& panel, const RowForm& form) {
    const int64_t cols = panel.cols;
    const int64_t n_sub_padded = panel.n_sub_padded;
    // Values: 32 at a time (8 dwords of 4) per row. The same pass sums each row's values per
    // sub-block (vpdpbusd with all-ones bytes) for the accumulators' start, -128 * sum (the
    // activations come in as x + 128).
    const __m512i ones = _mm512_set1_epi8(1);
    for (int64_t c = 0; c < cols; c += 32) {
        __m512i steps[8];
        transpose_16x8(reinterpret_cast<const int32_t*>(panel.rows.data() + c), cols / 4, steps);
        auto* out = reinterpret_cast<__m512i*>(panel.quants.data() + 16 * c);
        __m512i first_half = _mm512_setzero_si512();  // steps 0-3
        __m512i second_half = _mm512_setzero_si512(); // steps 4-7
        for (int s = 0; s < 4; ++s) {
            _mm512_store_si512(out + s, steps[s]);
            _mm512_store_si512(out + s + 4, steps[s + 4]);
            first_half = _mm512_dpbusd_epi32(first_half, ones, steps[s]);
            second_half = _mm512_dpbusd_epi32(second_half, ones, steps[s + 4]);
        }
        const __m512i zero = _mm512_setzero_si512();
        if (form.sub == 32) {
            _mm512_store_si512(panel.start.data() + (c / 32) * kPanelRows,
                               _mm512_slli_epi32(_mm512_sub_epi32(zero, _mm512_add_epi32(first_half, second_half)), 7));
        } else {
            _mm512_store_si512(panel.start.data() + (c / 16) * kPanelRows, _mm512_slli_epi32(_mm512_sub_epi32(zero, first_half), 7));
            _mm512_store_si512(panel.start.data() + (c / 16 + 1) * kPanelRows,
                               _mm512_slli_epi32(_mm512_sub_epi32(zero, second_half), 7));
        }
    }
    // Scales and minimums: 8 sub-blocks at a time.
    for (int64_t k = 0; k < n_sub_padded; k += 8) {
        __m512i columns[8];
        transpose_16x8(reinterpret_cast<const int32_t*>(panel.row_scales.data() + k), n_sub_padded, columns);
        for (int s = 0; s < 8; ++s) _mm512_store_si512(panel.scales.data() + (k + s) * kPanelRows, columns[s]);
        if (form.has_min) {
            transpose_16x8(reinterpret_cast<const int32_t*>(panel.row_mins.data() + k), n_sub_padded, columns);
            for (int s = 0; s < 8; ++s) _mm512_store_si512(panel.mins.data() + (k + s) * kPanelRows, columns[s]);
        }
    }
}

// ---- the micro-kernel (its interface: quant_dot_batch_tiles.h) ----------------------------------

struct MicroKernel {
    static constexpr int kMaxTileTokens = 8; // 8 sums + 16 float accumulators in registers

    template <int NT, int kSub, int kPerBlock, bool kHasMin>
    static void tile(const Panel& panel, const PreparedActivations& x, int64_t t0, float* out, int64_t out_stride, int n_rows) {
        constexpr int kSteps = kSub / 4;
        const TileTokens<NT, kHasMin> tokens(x, t0);
        __m512 acc[NT], block_acc[NT];
        for (int t = 0; t < NT; ++t) acc[t] = block_acc[t] = _mm512_setzero_ps();
        const int8_t* quants = panel.quants.data();
        for (int64_t k = 0; k < panel.n_sub; ++k) {
            const __m512i start = _mm512_load_si512(panel.start.data() + k * kPanelRows);
            __m512i isum[NT];
            for (int t = 0; t < NT; ++t) isum[t] = start;
            for (int s = 0; s < kSteps; ++s) {
                const __m512i w = _mm512_load_si512(quants + (k * kSteps + s) * 64);
                const int64_t offset = k * kSub + 4 * s;
                for (int t = 0; t < NT; ++t) {
                    isum[t] = _mm512_dpbusd_epi32(isum[t], _mm512_set1_epi32(load_i32(tokens.quants[t] + offset)), w);
                }
            }
            const __m512 scale = _mm512_load_ps(panel.scales.data() + k * kPanelRows);
            for (int t = 0; t < NT; ++t) {
                block_acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), scale, block_acc[t]);
            }
            if constexpr (kHasMin) {
                const __m512 mins = _mm512_load_ps(panel.mins.data() + k * kPanelRows);
                for (int t = 0; t < NT; ++t) acc[t] = _mm512_fnmadd_ps(mins, _mm512_set1_ps(tokens.sub_sums[t][k]), acc[t]);
            }
            if ((k + 1) % kPerBlock == 0) {
                const int64_t block = k / kPerBlock;
                for (int t = 0; t < NT; ++t) {
                    acc[t] = _mm512_fmadd_ps(block_acc[t], _mm512_set1_ps(tokens.scales[t][block]), acc[t]);
                    block_acc[t] = _mm512_setzero_ps();
                }
            }
        }
        const __mmask16 valid = static_cast<__mmask16>((1u << n_rows) - 1u);
        for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(out + t * out_stride, valid, acc[t]);
    }
};

// Two panels (32 rows) against up to 6 tokens: each step loads the two panels' 64 bytes and
// each token's 4 activation bytes once, for 2 * NT vpdpbusd (the one-panel tile: 1 + NT loads for
// NT). The float half does the one-panel tile's operations in the same order, lane by lane (so
// the results are bit-identical to it); the block accumulators stay in registers and the results
// in memory (L1), for want of registers: 12 sums and 12 block accumulators take 24 of 32.
struct PairKernel {
    static constexpr int kMaxTileTokens = 6;

    template <int NT, int kSub, int kPerBlock, bool kHasMin>
    static void tile(const Panel& pa, const Panel& pb, const PreparedActivations& x, int64_t t0, float* out, int64_t out_stride,
                     int n_rows_b) {
        constexpr int kSteps = kSub / 4;
        const TileTokens<NT, kHasMin> tokens(x, t0);
        alignas(64) float acc[2][NT][kPanelRows];
        __m512 block_acc[2][NT];
        for (int p = 0; p < 2; ++p) {
            for (int t = 0; t < NT; ++t) {
                block_acc[p][t] = _mm512_setzero_ps();
                _mm512_store_ps(acc[p][t], _mm512_setzero_ps());
            }
        }
        const Panel* panels[2] = {&pa, &pb};
        for (int64_t k = 0; k < pa.n_sub; ++k) {
            __m512i isum[2][NT];
            for (int p = 0; p < 2; ++p) {
                const __m512i start = _mm512_load_si512(panels[p]->start.data() + k * kPanelRows);
                for (int t = 0; t < NT; ++t) isum[p][t] = start;
            }
            for (int s = 0; s < kSteps; ++s) {
                const __m512i wa = _mm512_load_si512(pa.quants.data() + (k * kSteps + s) * 64);
                const __m512i wb = _mm512_load_si512(pb.quants.data() + (k * kSteps + s) * 64);
                const int64_t offset = k * kSub + 4 * s;
                for (int t = 0; t < NT; ++t) {
                    const __m512i xt = _mm512_set1_epi32(load_i32(tokens.quants[t] + offset));
                    isum[0][t] = _mm512_dpbusd_epi32(isum[0][t], xt, wa);
                    isum[1][t] = _mm512_dpbusd_epi32(isum[1][t], xt, wb);
                }
            }
            for (int p = 0; p < 2; ++p) {
                const __m512 scale = _mm512_load_ps(panels[p]->scales.data() + k * kPanelRows);
                for (int t = 0; t < NT; ++t) block_acc[p][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[p][t]), scale, block_acc[p][t]);
                if constexpr (kHasMin) {
                    const __m512 mins = _mm512_load_ps(panels[p]->mins.data() + k * kPanelRows);
                    for (int t = 0; t < NT; ++t) {
                        _mm512_store_ps(acc[p][t], _mm512_fnmadd_ps(mins, _mm512_set1_ps(tokens.sub_sums[t][k]), _mm512_load_ps(acc[p][t])));
                    }
                }
            }
            if ((k + 1) % kPerBlock == 0) {
                const int64_t block = k / kPerBlock;
                for (int t = 0; t < NT; ++t) {
                    const __m512 d = _mm512_set1_ps(tokens.scales[t][block]);
                    for (int p = 0; p < 2; ++p) {
                        _mm512_store_ps(acc[p][t], _mm512_fmadd_ps(block_acc[p][t], d, _mm512_load_ps(acc[p][t])));
                        block_acc[p][t] = _mm512_setzero_ps();
                    }
                }
            }
        }
        const __mmask16 valid_b = static_cast<__mmask16>((1u << n_rows_b) - 1u);
        for (int t = 0; t < NT; ++t) {
            _mm512_storeu_ps(out + t * out_stride, _mm512_load_ps(acc[0][t]));
            _mm512_mask_storeu_ps(out + t * out_stride + kPanelRows, valid_b, _mm512_load_ps(acc[1][t]));
        }
    }
};

// Tokens [t0, t1) of two panels: tiles of 6 tokens, then at most one of 4, 2 and 1.
template <int kSub, int kPerBlock, bool kHasMin>
void panel_pair_tokens(const Panel& a, const Panel& b, const PreparedActivations& x, int64_t t0, int64_t t1, float* y, int64_t y_stride,
                       int64_t row0, int n_rows_b) {
    int64_t t = t0;
    for (; t + 6 <= t1; t += 6) PairKernel::tile<6, kSub, kPerBlock, kHasMin>(a, b, x, t, y + t * y_stride + row0, y_stride, n_rows_b);
    if (t + 4 <= t1) {
        PairKernel::tile<4, kSub, kPerBlock, kHasMin>(a, b, x, t, y + t * y_stride + row0, y_stride, n_rows_b);
        t += 4;
    }
    if (t + 2 <= t1) {
        PairKernel::tile<2, kSub, kPerBlock, kHasMin>(a, b, x, t, y + t * y_stride + row0, y_stride, n_rows_b);
        t += 2;
    }
    if (t < t1) PairKernel::tile<1, kSub, kPerBlock, kHasMin>(a, b, x, t, y + t * y_stride + row0, y_stride, n_rows_b);
}

struct PickPair {
    template <int kSub, int kPerBlock, bool kHasMin>
    static PanelPairTokens tokens(const RowForm&) {
        return panel_pair_tokens<kSub, kPerBlock, kHasMin>;
    }
};

} // namespace
} // namespace latent::cpu::avx512

LATENT_AVX512_END

const latent::cpu::detail::batch::BatchKernel latent::cpu::detail::batch::kAvx512Kernel{
    avx512::interleave_panel, panel_tokens_for<SameForAnyMagnitude<avx512::MicroKernel>>, panel_tokens_for<avx512::PickPair>};

#else // !LATENT_HAVE_AVX512

const latent::cpu::detail::batch::BatchKernel latent::cpu::detail::batch::kAvx512Kernel{};

#endif
