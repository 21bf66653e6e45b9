// Internal to engine/cpu: what the batch micro-kernels of quant_dot_avx512.cpp,
// quant_dot_avxvnni.cpp and quant_dot_avx2_batch.cpp have in common beyond quant_dot_batch.h:
// walking a panel's tokens in tiles, picking a kernel's instantiation for a form, and for the two
// ymm kernels (AVX-VNNI, AVX2) the panel interleaving and the float half of a tile.
//
// Include it inside the file's target region (after LATENT_AVX512_BEGIN, LATENT_AVXVNNI_BEGIN or
// LATENT_AVX2_BEGIN), after avx2_common.h and quant_dot_batch.h have been included before it: its
// templates are then compiled for that file's target, and they are in an unnamed namespace, so
// every file gets its own copies and the linker can never give one file another's wider code.
#pragma once

#include "cpu/avx2_common.h"
#include "cpu/quant_dot_batch.h"

#if LATENT_HAVE_X86

namespace latent::cpu::detail::batch {
namespace {

// A micro-kernel, Micro, provides:
//   static constexpr int kMaxTileTokens;  // tokens per call at most
//   template <int NT, int kSub, int kPerBlock, bool kHasMin>
//   static void tile(const Panel&, const PreparedActivations&, int64_t t0, float* out, int64_t out_stride, int n_rows);
// tile writes out[t * out_stride + r] for the panel's first n_rows rows and NT tokens from t0.
// kSub: values per sub-block; kPerBlock: sub-blocks per activation scale (1 for Q8_32, 256 / kSub
// for Q8_K); kHasMin: the form has minimums.

// Tokens [t0, t1) of one panel (a PanelTokens): tiles of kMaxTileTokens tokens, then at most one
// of 4 and one of 2 (those smaller than kMaxTileTokens) and one of 1.
template <class Micro, int kSub, int kPerBlock, bool kHasMin>
void panel_tokens(const Panel& panel, const PreparedActivations& x, int64_t t0, int64_t t1, float* y, int64_t y_stride,
                  int64_t row0, int n_rows) {
    constexpr int kMax = Micro::kMaxTileTokens;
    int64_t t = t0;
    for (; t + kMax <= t1; t += kMax) {
        Micro::template tile<kMax, kSub, kPerBlock, kHasMin>(panel, x, t, y + t * y_stride + row0, y_stride, n_rows);
    }
    if constexpr (kMax > 4) {
        if (t + 4 <= t1) {
            Micro::template tile<4, kSub, kPerBlock, kHasMin>(panel, x, t, y + t * y_stride + row0, y_stride, n_rows);
            t += 4;
        }
    }
    if constexpr (kMax > 2) {
        if (t + 2 <= t1) {
            Micro::template tile<2, kSub, kPerBlock, kHasMin>(panel, x, t, y + t * y_stride + row0, y_stride, n_rows);
            t += 2;
        }
    }
    if (t < t1) Micro::template tile<1, kSub, kPerBlock, kHasMin>(panel, x, t, y + t * y_stride + row0, y_stride, n_rows);
}

// BatchKernel::tokens_for (and pair_tokens_for): Pick::template tokens<kSub, kPerBlock,
// kHasMin>(form) gives the PanelTokens (or PanelPairTokens) of the form's sub-block size and
// minimum with the activation format's blocks.
template <class Pick>
auto panel_tokens_for(const RowForm& form, ActivationFormat format) {
    if (format == ActivationFormat::Q8_32) {
        return form.has_min ? Pick::template tokens<32, 1, true>(form) : Pick::template tokens<32, 1, false>(form);
    }
    if (form.sub == 16) {
        return form.has_min ? Pick::template tokens<16, 16, true>(form) : Pick::template tokens<16, 16, false>(form);
    }
    return form.has_min ? Pick::template tokens<32, 8, true>(form) : Pick::template tokens<32, 8, false>(form);
}

// The Pick of a micro-kernel that needs nothing else of the form.
template <class Micro>
struct SameForAnyMagnitude {
    template <int kSub, int kPerBlock, bool kHasMin>
    static PanelTokens tokens(const RowForm&) {
        return panel_tokens<Micro, kSub, kPerBlock, kHasMin>;
    }
};

// A tile's activations: for NT tokens from t0 the unsigned quants, the d_x of each block and,
// for the forms with a minimum, the sub-block sums.
template <int NT, bool kHasMin>
struct TileTokens {
    const uint8_t* quants[NT];
    const float* scales[NT];
    const float* sub_sums[NT];

    [[gnu::always_inline]] TileTokens(const PreparedActivations& x, int64_t t0) {
        for (int t = 0; t < NT; ++t) {
            quants[t] = x.unsigned_quants + (t0 + t) * x.cols;
            scales[t] = x.scales + (t0 + t) * x.scales_per_token;
            sub_sums[t] = kHasMin ? x.sub_sums + (t0 + t) * x.n_sub : nullptr;
        }
    }
};

// ---- the ymm kernels: a 64-byte panel step is two ymm registers, rows 0-7 and rows 8-15 ----

// -128 * sum, the start of a sub-block's accumulators.
inline __m256i start_of(__m256i sum) { return _mm256_slli_epi32(_mm256_sub_epi32(_mm256_setzero_si256(), sum), 7); }

// Interleaves the panel's decoded rows (see quant_dot_batch.h), 8 rows at a time.
// kAddSums(acc, step) adds to acc the 8 dword sums of step's 4 signed bytes each; the same pass
// uses them for the accumulators' start, -128 * the sub-block's sum (the activations come in as
// x + 128).
template <__m256i (*kAddSums)(__m256i, __m256i)>
void interleave_panel_ymm(Panel& panel, const RowForm& form) {
    const int64_t cols = panel.cols;
    const int64_t n_sub_padded = panel.n_sub_padded;
    // Values: 32 at a time (8 dwords of 4) per row.
    for (int64_t c = 0; c < cols; c += 32) {
        for (int h = 0; h < 2; ++h) {
            __m256i steps[8];
            avx2::transpose_8x8(reinterpret_cast<const int32_t*>(panel.rows.data() + 8 * h * cols + c), cols / 4, steps);
            int8_t* out = panel.quants.data() + 16 * c + 32 * h;
            __m256i first_half = _mm256_setzero_si256();  // steps 0-3
            __m256i second_half = _mm256_setzero_si256(); // steps 4-7
            for (int s = 0; s < 4; ++s) {
                avx2::store256(out + 64 * s, steps[s]);
                avx2::store256(out + 64 * (s + 4), steps[s + 4]);
                first_half = kAddSums(first_half, steps[s]);
                second_half = kAddSums(second_half, steps[s + 4]);
            }
            if (form.sub == 32) {
                avx2::store256(panel.start.data() + (c / 32) * kPanelRows + 8 * h,
                               start_of(_mm256_add_epi32(first_half, second_half)));
            } else {
                avx2::store256(panel.start.data() + (c / 16) * kPanelRows + 8 * h, start_of(first_half));
                avx2::store256(panel.start.data() + (c / 16 + 1) * kPanelRows + 8 * h, start_of(second_half));
            }
        }
    }
    // Scales and minimums: 8 sub-blocks of 8 rows at a time.
    for (int64_t k = 0; k < n_sub_padded; k += 8) {
        for (int h = 0; h < 2; ++h) {
            __m256i columns[8];
            avx2::transpose_8x8(reinterpret_cast<const int32_t*>(panel.row_scales.data() + 8 * h * n_sub_padded + k),
                                n_sub_padded, columns);
            for (int s = 0; s < 8; ++s) avx2::store256(panel.scales.data() + (k + s) * kPanelRows + 8 * h, columns[s]);
            if (form.has_min) {
                avx2::transpose_8x8(reinterpret_cast<const int32_t*>(panel.row_mins.data() + 8 * h * n_sub_padded + k),
                                    n_sub_padded, columns);
                for (int s = 0; s < 8; ++s) avx2::store256(panel.mins.data() + (k + s) * kPanelRows + 8 * h, columns[s]);
            }
        }
    }
}

// A ymm micro-kernel tile (Micro::tile of the AVX-VNNI and AVX2 kernels) around the kernel's
// integer part: sub_block_sums(k, isum) sets isum[t][h] to the int32 sums of sub-block k for
// token t and rows 8h..8h+7. Around it the float half, the same operations in the same order as
// the AVX-512 kernel's, lane by lane: after each sub-block the sums are converted, scaled by S into
// block accumulators and the minimums subtracted; after each activation block the block
// accumulators are scaled by d_x into the result, stored at out[t * out_stride + r] for the first
// n_rows rows.
template <int NT, int kPerBlock, bool kHasMin, class SubBlockSums>
[[gnu::always_inline]] inline void ymm_tile(const Panel& panel, const TileTokens<NT, kHasMin>& x, float* out,
                                            int64_t out_stride, int n_rows, const SubBlockSums& sub_block_sums) {
    __m256 acc[NT][2], block_acc[NT][2];
    for (int t = 0; t < NT; ++t) {
        for (int h = 0; h < 2; ++h) acc[t][h] = block_acc[t][h] = _mm256_setzero_ps();
    }
    for (int64_t k = 0; k < panel.n_sub; ++k) {
        __m256i isum[NT][2];
        sub_block_sums(k, isum);
        for (int h = 0; h < 2; ++h) {
            const __m256 scale = _mm256_loadu_ps(panel.scales.data() + k * kPanelRows + 8 * h);
            for (int t = 0; t < NT; ++t) {
                block_acc[t][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t][h]), scale, block_acc[t][h]);
            }
            if constexpr (kHasMin) {
                const __m256 mins = _mm256_loadu_ps(panel.mins.data() + k * kPanelRows + 8 * h);
                for (int t = 0; t < NT; ++t) acc[t][h] = _mm256_fnmadd_ps(mins, _mm256_set1_ps(x.sub_sums[t][k]), acc[t][h]);
            }
        }
        if ((k + 1) % kPerBlock == 0) {
            const int64_t block = k / kPerBlock;
            for (int t = 0; t < NT; ++t) {
                const __m256 d = _mm256_set1_ps(x.scales[t][block]);
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

} // namespace
} // namespace latent::cpu::detail::batch

#endif // LATENT_HAVE_X86
