// Internal to engine/cpu: helpers shared by the AVX2 kernel files.
//
// Everything between LATENT_AVX2_BEGIN and LATENT_AVX2_END is compiled for AVX2 + FMA + F16C
// through a target pragma, so the library itself is built for plain x86-64 and these functions
// run only after cpu_has_avx2() said yes. All headers must be included before the BEGIN
// marker: code of a header included inside the region would be compiled for AVX2 and could be
// picked by the linker for callers on any CPU.
#pragma once

#include "cpu/quant_dot_kernels.h"
#include "tensor/block_layouts.h"

#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#define LATENT_HAVE_X86 1
#include <immintrin.h>
#else
#define LATENT_HAVE_X86 0
#endif

#if LATENT_HAVE_X86
#if defined(__clang__)
#define LATENT_AVX2_BEGIN \
    _Pragma("clang attribute push(__attribute__((target(\"avx2,fma,f16c\"))), apply_to = function)")
#define LATENT_AVX2_END _Pragma("clang attribute pop")
#else
#define LATENT_AVX2_BEGIN _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma,f16c\")")
#define LATENT_AVX2_END _Pragma("GCC pop_options")
#endif

LATENT_AVX2_BEGIN

namespace latent::cpu::avx2 {

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m128i load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

// How far ahead of the block being read the kernels prefetch weights. The hardware prefetchers
// stop at 4 KiB pages and keep too few lines in flight while the core is busy decoding, so a
// one-token matmul streaming from memory runs at half the read bandwidth without this.
// Overridable with LATENT_CPU_PREFETCH (bytes, 0 = off) for tuning.
int prefetch_distance();

// Prefetches the lines of a block of kBytes bytes, prefetch_distance() ahead.
template <size_t kBytes>
inline void prefetch_block(const uint8_t* block, int distance) {
    for (size_t offset = 0; offset < kBytes; offset += 64) {
        _mm_prefetch(reinterpret_cast<const char*>(block) + distance + offset, _MM_HINT_T0);
    }
}

inline float f16_at(const uint8_t* p) { return _cvtsh_ss(blocks::load_u16(p)); }

inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// 32 byte products u*s summed into 8 int32 (4 neighbours each). u must be <= 127 where s can be
// -127 and <= 128 otherwise, so that maddubs' int16 pair sums cannot saturate.
inline __m256i dot_u8_s8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// As dot_u8_s8, weighting each 16-bit pair sum by the int16 in `scales` (per-sub-block scales).
inline __m256i dot_u8_s8_scaled(__m256i u, __m256i s, __m256i scales) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), scales);
}

// Low and high nibbles of 16 bytes as 32 bytes: values 0-15, then 16-31 (Q4_0 block order).
inline __m256i nibbles_32(const uint8_t* p) {
    const __m128i q = load128(p);
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// Activation pointers of NT consecutive tokens.
template <int NT>
struct TokenRows {
    const int8_t* quants[NT];
    const float* scales[NT];
    const int16_t* sums[NT];
    const float* values[NT];

    TokenRows(const detail::ActivationView& x, int64_t t0) {
        for (int i = 0; i < NT; ++i) {
            const int64_t t = t0 + i;
            quants[i] = x.quants ? x.quants + t * x.cols : nullptr;
            scales[i] = x.scales ? x.scales + t * x.scales_per_token : nullptr;
            sums[i] = x.sums ? x.sums + t * x.sums_per_token : nullptr;
            values[i] = x.values ? x.values + t * x.cols : nullptr;
        }
    }
};

// Drives a row kernel Row::run<NT>(row, x, cols, out[NT]) over tiles of up to 4 tokens.
template <class Row>
void matmul_rows(const WeightMatrix& w, const detail::ActivationView& x, int64_t row_begin, int64_t row_end,
                 int64_t token_begin, int64_t token_end, float* y, int64_t y_stride) {
    detail::for_each_tile<4>(row_begin, row_end, token_begin, token_end, [&]<int NT>(int64_t r, int64_t t0) {
        float out[NT];
        Row::template run<NT>(w.data + r * static_cast<int64_t>(w.row_bytes), TokenRows<NT>(x, t0), w.cols, out);
        for (int i = 0; i < NT; ++i) y[(t0 + i) * y_stride + r] = out[i];
    });
}

} // namespace latent::cpu::avx2

LATENT_AVX2_END

#endif // LATENT_HAVE_X86
