#include "cpu/vector_math.h"

#include "cpu/quant_dot.h"
#include "cpu/vector_exp.h"
#include "tensor/tensor_types.h"

#include <cmath>
#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
// GCC 12's AVX-512 intrinsics (_mm512_undefined_ps inside max/min/roundscale...) trigger
// -Wmaybe-uninitialized (and _mm512_reduce_add_epi64 -Wuninitialized) after inlining, located
// in the header: silence them for this file.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace latent::cpu {
namespace {

#if defined(__x86_64__)
// silu(g) * u = g * u / (1 + e^-g): e^-g from exp16 (clamped to [-104, 88]: for g < -88 the
// quotient is g / 1.65e38, about -0; for g > 104, g). A NaN g stays NaN through g * u.
__attribute__((target("avx512f,avx2,fma,f16c"))) inline __m512 silu_mul16(__m512 g, __m512 u) {
    const __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), g));
    return _mm512_div_ps(_mm512_mul_ps(g, u), _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

__attribute__((target("avx512f,avx2,fma,f16c"))) void silu_mul_avx512(float* gate, const float* up, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(gate + i, silu_mul16(_mm512_loadu_ps(gate + i), _mm512_loadu_ps(up + i)));
    if (i < n) {
        const auto mask = static_cast<__mmask16>((1u << (n - i)) - 1u);
        _mm512_mask_storeu_ps(gate + i, mask, silu_mul16(_mm512_maskz_loadu_ps(mask, gate + i), _mm512_maskz_loadu_ps(mask, up + i)));
    }
}

__attribute__((target("avx2,fma,f16c"))) inline __m256 silu_mul8(__m256 g, __m256 u) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
    return _mm256_div_ps(_mm256_mul_ps(g, u), _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

__attribute__((target("avx2,fma,f16c"))) void silu_mul_avx2(float* gate, const float* up, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(gate + i, silu_mul8(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
    if (i < n) {
        // The tail through the same vector code, so an element's result never depends on n.
        alignas(32) float g[8] = {}, u[8] = {};
        for (size_t k = i; k < n; ++k) g[k - i] = gate[k], u[k - i] = up[k];
        _mm256_store_ps(g, silu_mul8(_mm256_load_ps(g), _mm256_load_ps(u)));
        for (size_t k = i; k < n; ++k) gate[k] = g[k - i];
    }
}

__attribute__((target("avx2,fma,f16c"))) size_t fp32_to_fp16_avx2(const float* src, uint8_t* dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 2 * i), h);
    }
    return i;
}

__attribute__((target("avx2,fma,f16c"))) size_t fp16_to_fp32_avx2(const uint8_t* src, float* dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i))));
    return i;
}

// sum_words' vector paths: the bytes before the returned offset added into sum.
__attribute__((target("avx512f"))) size_t sum_words_avx512(const uint8_t* p, size_t bytes, uint64_t& sum) {
    __m512i a = _mm512_setzero_si512(), b = a, c = a, d = a;
    size_t i = 0;
    for (; i + 256 <= bytes; i += 256) {
        a = _mm512_add_epi64(a, _mm512_loadu_si512(p + i));
        b = _mm512_add_epi64(b, _mm512_loadu_si512(p + i + 64));
        c = _mm512_add_epi64(c, _mm512_loadu_si512(p + i + 128));
        d = _mm512_add_epi64(d, _mm512_loadu_si512(p + i + 192));
    }
    sum += static_cast<uint64_t>(_mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_add_epi64(a, b), _mm512_add_epi64(c, d))));
    return i;
}

__attribute__((target("avx2"))) size_t sum_words_avx2(const uint8_t* p, size_t bytes, uint64_t& sum) {
    __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
    size_t i = 0;
    for (; i + 128 <= bytes; i += 128) {
        a = _mm256_add_epi64(a, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)));
        b = _mm256_add_epi64(b, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
        c = _mm256_add_epi64(c, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 64)));
        d = _mm256_add_epi64(d, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 96)));
    }
    alignas(32) uint64_t lanes[4];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d)));
    sum += lanes[0] + lanes[1] + lanes[2] + lanes[3];
    return i;
}
#endif

uint64_t sum_words_from(const uint8_t* p, size_t begin, size_t bytes, uint64_t sum) {
    for (size_t i = begin; i + 8 <= bytes; i += 8) {
        uint64_t word;
        std::memcpy(&word, p + i, 8);
        sum += word;
    }
    return sum;
}

} // namespace

uint64_t sum_words(const void* data, size_t bytes) {
    const auto* p = static_cast<const uint8_t*>(data);
    uint64_t sum = 0;
    size_t done = 0;
#if defined(__x86_64__)
    const SimdLevel level = simd_level();
    if (level >= SimdLevel::Avx512) done = sum_words_avx512(p, bytes, sum);
    else if (level >= SimdLevel::Avx2) done = sum_words_avx2(p, bytes, sum);
#endif
    return sum_words_from(p, done, bytes, sum);
}

void silu_mul_portable(float* gate, const float* up, size_t n) {
    for (size_t i = 0; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void silu_mul(float* gate, const float* up, size_t n) {
#if defined(__x86_64__)
    const SimdLevel level = simd_level();
    if (level >= SimdLevel::Avx512) return silu_mul_avx512(gate, up, n);
    if (level >= SimdLevel::Avx2) return silu_mul_avx2(gate, up, n);
#endif
    silu_mul_portable(gate, up, n);
}

void fp32_to_fp16_row(const float* src, uint8_t* dst, size_t n) {
    size_t i = 0;
#if defined(__x86_64__)
    if (simd_level() >= SimdLevel::Avx2) i = fp32_to_fp16_avx2(src, dst, n);
#endif
    for (; i < n; ++i) {
        const uint16_t h = fp32_to_fp16(src[i]);
        std::memcpy(dst + 2 * i, &h, 2);
    }
}

void fp16_to_fp32_row(const uint8_t* src, float* dst, size_t n) {
    size_t i = 0;
#if defined(__x86_64__)
    if (simd_level() >= SimdLevel::Avx2) i = fp16_to_fp32_avx2(src, dst, n);
#endif
    for (; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = fp16_to_fp32(h);
    }
}

} // namespace latent::cpu
