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

#if LATENT_HAVE_X86

LATENT_AVX2_BEGIN

#include "cpu/quant_dot_batch_tiles.h"

namespace latent::cpu::avx2_batch {
namespace {

using avx2::load256;
using avx2::load_i32;
using namespace detail::batch;

// The dword sums of 4 signed bytes, added to acc: maddubs with all-ones bytes (pairs of q,
// |sum| <= 256), then madd with ones.
inline __m256i add_byte_sums(__m256i acc, __m256i q) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q), _mm256_set1_epi16(1)));
}

// ---- the micro-kernel (its interface: quant_dot_batch_tiles.h) ----------------------------------

// kGroup: steps added in int16 before widening (unsigned path), 0 for the sign path.
template <int kGroup>
struct MicroKernel {
    // 3 x 2 int32 sums (+ 3 x 2 int16 partial sums) in registers; 2, 3 and 4 ran within noise of
    // each other, 3 slightly ahead for Q8_0 and IQ4_XS.
    static constexpr int kMaxTileTokens = 3;

    template <int NT, int kSub, int kPerBlock, bool kHasMin>
    static void tile(const Panel& panel, const PreparedActivations& x, int64_t t0, float* out, int64_t out_stride, int n_rows) {
        constexpr int kSteps = kSub / 4;
        static_assert(kGroup == 0 || kSteps % kGroup == 0);
        constexpr bool kSign = kGroup == 0;
        const TileTokens<NT, kHasMin> tokens(x, t0);
        const __m256i ones16 = _mm256_set1_epi16(1);
        const int8_t* quants = panel.quants.data();
        ymm_tile<NT, kPerBlock, kHasMin>(panel, tokens, out, out_stride, n_rows, [&](int64_t k, __m256i(&isum)[NT][2]) {
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
                        const __m256i u =
                            _mm256_max_epu8(_mm256_set1_epi32(load_i32(tokens.quants[t] + offset)), _mm256_set1_epi8(1));
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
                            const __m256i xb = _mm256_set1_epi32(load_i32(tokens.quants[t] + offset));
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
        });
    }
};

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

// The Pick (quant_dot_batch_tiles.h) of the form's weight magnitude.
struct ByMagnitude {
    template <int kSub, int kPerBlock, bool kHasMin>
    static PanelTokens tokens(const RowForm& form) {
        using detail::batch::panel_tokens;
        constexpr int kSteps = kSub / 4;
        switch (group_for(form.max_magnitude, kSteps)) {
        case 0: return panel_tokens<MicroKernel<0>, kSub, kPerBlock, kHasMin>;
        case 1: return panel_tokens<MicroKernel<1>, kSub, kPerBlock, kHasMin>;
        case 2: return panel_tokens<MicroKernel<2>, kSub, kPerBlock, kHasMin>;
        case 4: return panel_tokens<MicroKernel<4>, kSub, kPerBlock, kHasMin>;
        default:
            if constexpr (kSteps >= 8) return panel_tokens<MicroKernel<8>, kSub, kPerBlock, kHasMin>;
            else return panel_tokens<MicroKernel<4>, kSub, kPerBlock, kHasMin>;
        }
    }
};

} // namespace
} // namespace latent::cpu::avx2_batch

LATENT_AVX2_END

const latent::cpu::detail::batch::BatchKernel latent::cpu::detail::batch::kAvx2Kernel{
    interleave_panel_ymm<avx2_batch::add_byte_sums>, panel_tokens_for<avx2_batch::ByMagnitude>};

#else // !LATENT_HAVE_X86

const latent::cpu::detail::batch::BatchKernel latent::cpu::detail::batch::kAvx2Kernel{};

#endif
