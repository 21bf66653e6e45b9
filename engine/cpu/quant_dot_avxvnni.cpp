// AVX-VNNI matmul for batches of tokens, for CPUs that have the VEX-encoded 256-bit vpdpbusd but
// no AVX-512 (Intel Alder Lake and later desktop and laptop cores). The same GEMM-style kernel
// as quant_dot_avx512.cpp, on ymm registers: the panel (16 decoded rows, interleaved 4 values
// at a time, see quant_dot_batch.h) is shared, and one 64-byte step of it is two ymm registers,
// rows 0-7 and rows 8-15. The micro-kernel takes up to 3 tokens at once (6 int32 sums in
// registers; 16 ymm registers in all against the 32 zmm of AVX-512; on a 2-vCPU Sapphire Rapids
// VM 3 tokens ran 4-14% faster than 4) and does, lane by lane, the same integer and float
// operations in the same order as the AVX-512 kernel, so both give bit-identical results.
#include "cpu/avx2_common.h"
#include "cpu/quant_dot_batch.h"

#include <cstdint>
#include <cstring>

#if LATENT_HAVE_X86
#include <cpuid.h>
#endif

namespace latent::cpu::detail {

bool cpu_has_avxvnni() {
#if LATENT_HAVE_X86
    static const bool supported = [] {
        if (!cpu_has_avx2()) return false;
        unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
        if (!__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) return false;
        return ((eax >> 4) & 1u) != 0; // CPUID.(EAX=7, ECX=1):EAX[4] AVX-VNNI
    }();
    return supported;
#else
    return false;
#endif
}

} // namespace latent::cpu::detail

#if LATENT_HAVE_X86

LATENT_AVXVNNI_BEGIN

namespace latent::cpu::avxvnni {
namespace {

using avx2::load256;
using detail::batch::kPanelRows;
using detail::batch::Panel;
using detail::batch::PanelTokens;
using detail::batch::PreparedActivations;
using detail::batch::RowForm;

constexpr int kMaxTileTokens = 3; // tokens per micro-kernel call: 3 x 2 int32 sums in registers

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
        u[4 * h + 0] = _mm256_unpacklo_epi64(t0, t2); // dwords 0 and 4 of rows 4h..4h+3
        u[4 * h + 1] = _mm256_unpackhi_epi64(t0, t2); // dwords 1 and 5
        u[4 * h + 2] = _mm256_unpacklo_epi64(t1, t3); // dwords 2 and 6
        u[4 * h + 3] = _mm256_unpackhi_epi64(t1, t3); // dwords 3 and 7
    }
    for (int s = 0; s < 4; ++s) {
        out[s] = _mm256_permute2x128_si256(u[s], u[4 + s], 0x20);
        out[s + 4] = _mm256_permute2x128_si256(u[s], u[4 + s], 0x31);
    }
}

// -128 * sum, the start of a sub-block's accumulators.
inline __m256i start_of(__m256i sum) { return _mm256_slli_epi32(_mm256_sub_epi32(_mm256_setzero_si256(), sum), 7); }

// Interleaves the panel's decoded rows (see quant_dot_batch.h), 8 rows at a time.
void interleave_panel(Panel& panel, const RowForm& form) {
    const int64_t cols = panel.cols;
    const int64_t n_sub_padded = panel.n_sub_padded;
    // Values: 32 at a time (8 dwords of 4) per row. The same pass sums each row's values per
    // sub-block (vpdpbusd with all-ones bytes) for the accumulators' start.
    const __m256i ones = _mm256_set1_epi8(1);
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
                first_half = _mm256_dpbusd_avx_epi32(first_half, ones, steps[s]);
                second_half = _mm256_dpbusd_avx_epi32(second_half, ones, steps[s + 4]);
            }
            if (form.sub == 32) {
                store256(panel.start.data() + (c / 32) * kPanelRows + 8 * h, start_of(_mm256_add_epi32(first_half, second_half)));
            } else {
                store256(panel.start.data() + (c / 16) * kPanelRows + 8 * h, start_of(first_half));
                store256(panel.start.data() + (c / 16 + 1) * kPanelRows + 8 * h, start_of(second_half));
            }
        }
    }
    // Scales and minimums: 8 sub-blocks of 8 rows at a time.
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
// sub-block; kPerBlock: sub-blocks per activation scale (1 for Q8_32, 256 / kSub for Q8_K).
template <int NT, int kSub, int kPerBlock, bool kHasMin>
void panel_tile(const Panel& panel, const PreparedActivations& x, int64_t t0, float* out, int64_t out_stride, int n_rows) {
    constexpr int kSteps = kSub / 4;
    const uint8_t* xq[NT];
    const float* dx[NT];
    const float* xs[NT];
    for (int t = 0; t < NT; ++t) {
        xq[t] = x.unsigned_quants + (t0 + t) * x.cols;
        dx[t] = x.scales + (t0 + t) * x.scales_per_token;
        xs[t] = kHasMin ? x.sub_sums + (t0 + t) * x.n_sub : nullptr;
    }
    __m256 acc[NT][2], block_acc[NT][2];
    for (int t = 0; t < NT; ++t) {
        for (int h = 0; h < 2; ++h) acc[t][h] = block_acc[t][h] = _mm256_setzero_ps();
    }
    const int8_t* quants = panel.quants.data();
    for (int64_t k = 0; k < panel.n_sub; ++k) {
        const __m256i start_lo = load256(panel.start.data() + k * kPanelRows);
        const __m256i start_hi = load256(panel.start.data() + k * kPanelRows + 8);
        __m256i isum[NT][2];
        for (int t = 0; t < NT; ++t) {
            isum[t][0] = start_lo;
            isum[t][1] = start_hi;
        }
        for (int s = 0; s < kSteps; ++s) {
            const int8_t* step = quants + (k * kSteps + s) * 64;
            const __m256i w_lo = load256(step);
            const __m256i w_hi = load256(step + 32);
            const int64_t offset = k * kSub + 4 * s;
            for (int t = 0; t < NT; ++t) {
                const __m256i xb = _mm256_set1_epi32(load_i32(xq[t] + offset));
                isum[t][0] = _mm256_dpbusd_avx_epi32(isum[t][0], xb, w_lo);
                isum[t][1] = _mm256_dpbusd_avx_epi32(isum[t][1], xb, w_hi);
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

template <int kSub, int kPerBlock, bool kHasMin>
void panel_tokens(const Panel& panel, const PreparedActivations& x, int64_t t0, int64_t t1, float* y, int64_t y_stride,
                  int64_t row0, int n_rows) {
    int64_t t = t0;
    for (; t + kMaxTileTokens <= t1; t += kMaxTileTokens) {
        panel_tile<kMaxTileTokens, kSub, kPerBlock, kHasMin>(panel, x, t, y + t * y_stride + row0, y_stride, n_rows);
    }
    if (t + 2 <= t1) {
        panel_tile<2, kSub, kPerBlock, kHasMin>(panel, x, t, y + t * y_stride + row0, y_stride, n_rows);
        t += 2;
    }
    if (t < t1) panel_tile<1, kSub, kPerBlock, kHasMin>(panel, x, t, y + t * y_stride + row0, y_stride, n_rows);
}

PanelTokens panel_tokens_for(const RowForm& form, ActivationFormat format) {
    if (format == ActivationFormat::Q8_32) {
        return form.has_min ? panel_tokens<32, 1, true> : panel_tokens<32, 1, false>;
    }
    if (form.sub == 16) return form.has_min ? panel_tokens<16, 16, true> : panel_tokens<16, 16, false>;
    return form.has_min ? panel_tokens<32, 8, true> : panel_tokens<32, 8, false>;
}

} // namespace
} // namespace latent::cpu::avxvnni

LATENT_AVXVNNI_END

namespace latent::cpu::detail {

bool avxvnni_batch_matmul(const WeightMatrix& w, const ActivationView& x, float* y, int64_t y_stride,
                          int64_t row_begin, int64_t row_end, ThreadPool* pool) {
    static constexpr batch::BatchKernel kKernel{avxvnni::interleave_panel, avxvnni::panel_tokens_for};
    return batch::batch_matmul(kKernel, w, x, y, y_stride, row_begin, row_end, pool);
}

} // namespace latent::cpu::detail

#else // !LATENT_HAVE_X86

namespace latent::cpu::detail {
bool avxvnni_batch_matmul(const WeightMatrix&, const ActivationView&, float*, int64_t, int64_t, int64_t, ThreadPool*) {
    return false;
}
} // namespace latent::cpu::detail

#endif
