// Internal to engine/cpu: helpers shared by the AVX2, AVX-VNNI and AVX-512 kernel files.
//
// Everything between LATENT_AVX2_BEGIN and LATENT_AVX2_END is compiled for AVX2 + FMA + F16C
// through a target pragma (LATENT_AVX512_BEGIN / END: plus AVX-512 F, BW, VL, VNNI and BMI2;
// LATENT_AVX512_VBMI_BEGIN / END: plus AVX-512 VBMI and BITALG; LATENT_AVXVNNI_BEGIN / END: plus
// the VEX-encoded 256-bit VNNI of AVX-VNNI), so the library itself is built for plain x86-64 and
// these functions run only after cpu_has_avx2() (cpu_has_avx512(), cpu_has_avx512_vbmi(),
// cpu_has_avxvnni()) said yes. All headers must be included before the
// BEGIN marker: code of a header included inside the region would be compiled for the wider
// target and could be picked by the linker for callers on any CPU.
#pragma once

#include "cpu/quant_dot_kernels.h"
#include "tensor/block_layouts.h"

#include <cstdint>
#include <cstring>

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
#define LATENT_AVX512_BEGIN                                                                                   \
    _Pragma("clang attribute push(__attribute__((target(\"avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c,bmi2\"))), apply_to = function)")
#define LATENT_AVX512_END _Pragma("clang attribute pop")
#define LATENT_AVX512_VBMI_BEGIN                                                                                   \
    _Pragma("clang attribute push(__attribute__((target(\"avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi,avx512bitalg,avx2,fma,f16c,bmi2\"))), apply_to = function)")
#define LATENT_AVX512_VBMI_END _Pragma("clang attribute pop")
#define LATENT_AVXVNNI_BEGIN \
    _Pragma("clang attribute push(__attribute__((target(\"avx2,fma,f16c,avxvnni\"))), apply_to = function)")
#define LATENT_AVXVNNI_END _Pragma("clang attribute pop")
#else
#define LATENT_AVX2_BEGIN _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma,f16c\")")
#define LATENT_AVX2_END _Pragma("GCC pop_options")
#define LATENT_AVX512_BEGIN \
    _Pragma("GCC push_options") _Pragma("GCC target(\"avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c,bmi2\")")
#define LATENT_AVX512_END _Pragma("GCC pop_options")
#define LATENT_AVX512_VBMI_BEGIN \
    _Pragma("GCC push_options") _Pragma("GCC target(\"avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi,avx512bitalg,avx2,fma,f16c,bmi2\")")
#define LATENT_AVX512_VBMI_END _Pragma("GCC pop_options")
#define LATENT_AVXVNNI_BEGIN _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma,f16c,avxvnni\")")
#define LATENT_AVXVNNI_END _Pragma("GCC pop_options")
#endif

LATENT_AVX2_BEGIN

namespace latent::cpu::avx2 {

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m128i load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }
inline void store256(void* p, __m256i v) { _mm256_storeu_si256(static_cast<__m256i*>(p), v); }

inline int32_t load_i32(const uint8_t* p) {
    int32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

using detail::prefetch_distance;

// Prefetches the lines of a block of kBytes bytes, `distance` bytes ahead.
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

// Q5_0 / Q5_1: 0xFF in byte j where bit j of qh is set (byte j takes qh byte j/8, then tests
// bit j%8).
inline __m256i fifth_bits_as_bytes(uint32_t qh) {
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(static_cast<int>(qh)),
        _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
    return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
}

// Q4_K / Q5_K: the 32 quant bytes of sub-block pair g (at `bytes`) split into the values of
// sub-block 2g (low nibbles) and 2g + 1 (high nibbles). For Q5_K the fifth bits come from
// high_bits (bits 2g and 2g + 1 of qh byte l belong to value l of the two sub-blocks), which is
// shifted on by two for the next pair.
template <bool kFiveBit>
inline void unpack_qk4_pair(const uint8_t* bytes, __m256i& high_bits, __m256i& lo, __m256i& hi) {
    const __m256i low_nibble = _mm256_set1_epi8(0x0F);
    const __m256i packed = load256(bytes);
    lo = _mm256_and_si256(packed, low_nibble);
    hi = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low_nibble);
    if constexpr (kFiveBit) {
        const __m256i bit4 = _mm256_set1_epi8(0x10);
        lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(high_bits, 4), bit4));
        high_bits = _mm256_srli_epi16(high_bits, 1);
        hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(high_bits, 4), bit4));
        high_bits = _mm256_srli_epi16(high_bits, 1);
    }
}

// Q4_K / Q5_K: the eight 6-bit scales and mins of a block (get_scale_min_k4) as 16 bytes, scales
// 0-7 then mins 0-7, by vector instructions. Reads 16 bytes at `packed`: the 12 packed bytes and
// the 4 after them, which every block has (qs or qh follow). Scale j < 4 is the low 6 bits of
// byte j, min j < 4 those of byte j + 4; scale j >= 4 is the low nibble of byte j + 4 with the
// top 2 bits of byte j - 4 above it, min j >= 4 the high nibble of byte j + 4 with the top 2
// bits of byte j above it. About 10 vector instructions against k4_scales_and_mins' 20 scalar
// ones and two transfers: the AVX-512 Q4_K kernel, whose VNNI products leave vector ports free,
// went from 34 to 40 GB/s (1 token, hot, Zen 5).
inline __m128i k4_scale_min_bytes(const uint8_t* packed) {
    const __m128i raw = load128(packed);
    // Bytes 0-3, 8-11, 4-7, 8-11: their low 6 bits, low nibbles, low 6 bits, high nibbles.
    const __m128i low = _mm_shuffle_epi8(raw, _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11));
    const __m128i low_parts = _mm_or_si128(
        _mm_and_si128(low, _mm_setr_epi8(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 0, 0, 0, 0)),
        _mm_and_si128(_mm_srli_epi16(low, 4), _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 15, 15, 15)));
    // The top 2 bits of bytes 0-3 (for scales 4-7) and 4-7 (mins 4-7), moved to bits 4-5.
    const __m128i high = _mm_shuffle_epi8(raw, _mm_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7));
    return _mm_or_si128(low_parts, _mm_and_si128(_mm_srli_epi16(high, 2), _mm_set1_epi8(0x30)));
}

// The same as 8 int16 scales and 8 int16 mins, by scalar instructions: the AVX2 kernels are
// bound by their vector ports, where the vector form above was 5-10% slower.
inline void k4_scales_and_mins(const uint8_t* packed, __m128i& scales, __m128i& mins) {
    const uint32_t u0 = blocks::load_u32(packed);
    const uint32_t u1 = blocks::load_u32(packed + 4);
    const uint32_t u2 = blocks::load_u32(packed + 8);
    const uint32_t scales_lo = u0 & 0x3F3F3F3Fu;
    const uint32_t mins_lo = u1 & 0x3F3F3F3Fu;
    const uint32_t scales_hi = (u2 & 0x0F0F0F0Fu) | (((u0 >> 6) & 0x03030303u) << 4);
    const uint32_t mins_hi = ((u2 >> 4) & 0x0F0F0F0Fu) | (((u1 >> 6) & 0x03030303u) << 4);
    scales = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, static_cast<int>(scales_hi), static_cast<int>(scales_lo)));
    mins = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, static_cast<int>(mins_hi), static_cast<int>(mins_lo)));
}

// Each of 8 int16 twice, in a ymm: a Q4_K / Q5_K min per 16-value activation sum.
inline __m256i each_int16_twice(__m128i v) { return _mm256_set_m128i(_mm_unpackhi_epi16(v, v), _mm_unpacklo_epi16(v, v)); }

// Q6_K: the four 32-value planes of half n of a block, values 0..63 (the stored q + 32). Plane
// t takes its low 4 bits from ql (t < 2: low nibbles of ql[32t..], else high nibbles of
// ql[32(t-2)..]) and its high 2 bits from qh >> 2t.
inline void unpack_q6k_half(const uint8_t* block, int n, __m256i planes[4]) {
    const __m256i low_nibble = _mm256_set1_epi8(0x0F);
    const __m256i high_pair = _mm256_set1_epi8(0x30);
    const __m256i ql0 = load256(block + blocks::q6_k::ql + 64 * n);
    const __m256i ql1 = load256(block + blocks::q6_k::ql + 64 * n + 32);
    const __m256i qh = load256(block + blocks::q6_k::qh + 32 * n);
    planes[0] = _mm256_or_si256(_mm256_and_si256(ql0, low_nibble), _mm256_and_si256(_mm256_slli_epi16(qh, 4), high_pair));
    planes[1] = _mm256_or_si256(_mm256_and_si256(ql1, low_nibble), _mm256_and_si256(_mm256_slli_epi16(qh, 2), high_pair));
    planes[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low_nibble), _mm256_and_si256(qh, high_pair));
    planes[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low_nibble), _mm256_and_si256(_mm256_srli_epi16(qh, 2), high_pair));
}

// The 16 Q3_K scales, unbiased (-32..31), as bytes: byte i's low 4 bits are nibble i of bytes
// 0-7 (low nibbles first), its top 2 bits the 2-bit field i/4 of byte 8 + i%4.
inline __m128i q3_k_scale_bytes(const uint8_t* packed) {
    const uint32_t a0 = blocks::load_u32(packed);
    const uint32_t a1 = blocks::load_u32(packed + 4);
    const uint32_t high = blocks::load_u32(packed + 8);
    const uint32_t s0 = (a0 & 0x0F0F0F0Fu) | ((high & 0x03030303u) << 4);
    const uint32_t s1 = (a1 & 0x0F0F0F0Fu) | (((high >> 2) & 0x03030303u) << 4);
    const uint32_t s2 = ((a0 >> 4) & 0x0F0F0F0Fu) | (((high >> 4) & 0x03030303u) << 4);
    const uint32_t s3 = ((a1 >> 4) & 0x0F0F0F0Fu) | (((high >> 6) & 0x03030303u) << 4);
    const __m128i biased = _mm_set_epi32(static_cast<int>(s3), static_cast<int>(s2), static_cast<int>(s1), static_cast<int>(s0));
    return _mm_sub_epi8(biased, _mm_set1_epi8(32));
}

// 8 rows x 8 dwords -> 8 x 8 dwords (out[s] = dword s of rows 0..7), row r at rows[r] (any
// 32-bit elements: the float batch kernel transposes floats with it).
inline void transpose_8x8(const int32_t* const* rows, __m256i (&out)[8]) {
    __m256i u[8];
    for (int h = 0; h < 2; ++h) {
        const __m256i r0 = load256(rows[4 * h]);
        const __m256i r1 = load256(rows[4 * h + 1]);
        const __m256i r2 = load256(rows[4 * h + 2]);
        const __m256i r3 = load256(rows[4 * h + 3]);
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

// The same with row r at src + r * stride.
inline void transpose_8x8(const int32_t* src, int64_t stride, __m256i (&out)[8]) {
    const int32_t* rows[8];
    for (int r = 0; r < 8; ++r) rows[r] = src + r * stride;
    transpose_8x8(rows, out);
}

// The 16 IQ4_NL levels in both lanes, for shuffle_epi8 lookups.
inline __m256i iq4_codebook() { return _mm256_broadcastsi128_si256(load128(blocks::kIq4nlCodebook.data())); }

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
