// __half and __nv_bfloat16 for the emulator build, written here rather than taken from the CUDA
// toolkit's cuda_fp16.h / cuda_bf16.h: the emulator must build on machines without CUDA, and one
// implementation everywhere means one set of results. Conversions round to nearest, ties to
// even, on the bit patterns (as the device does and as the engine's fp16.cpp does; a test
// compares all 65,536 patterns). Arithmetic goes through float and rounds once.
#pragma once

#include "emu/emu_types.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>

namespace latent::emu {

// binary16: 1 sign | 5 exponent (bias 15) | 10 mantissa.
constexpr uint16_t float_to_half_bits(float f) {
    const uint32_t bits = std::bit_cast<uint32_t>(f);
    const uint32_t sign = (bits >> 16) & 0x8000u;
    const uint32_t magnitude = bits & 0x7FFFFFFFu;
    if (magnitude > 0x7F800000u) return static_cast<uint16_t>(sign | 0x7E00u | ((magnitude >> 13) & 0x3FFu));
    if (magnitude >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u); // rounds to inf
    const uint32_t exponent = magnitude >> 23;
    uint32_t value = 0;
    uint32_t shift = 13;
    if (exponent >= 113) {
        value = ((exponent - 112u) << 23) | (magnitude & 0x7FFFFFu); // normal: a carry bumps the exponent
    } else {
        shift = 126u - exponent; // subnormal: (1.m * 2^23) >> shift counts units of 2^-24
        if (shift > 24) return static_cast<uint16_t>(sign);
        value = (magnitude & 0x7FFFFFu) | 0x800000u;
    }
    const uint32_t kept = value >> shift;
    const uint32_t rest = value & ((1u << shift) - 1u);
    const uint32_t half = 1u << (shift - 1u);
    return static_cast<uint16_t>(sign | (kept + ((rest > half || (rest == half && (kept & 1u))) ? 1u : 0u)));
}

constexpr float half_bits_to_float(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint32_t exponent = (h >> 10) & 0x1Fu;
    const uint32_t mantissa = h & 0x3FFu;
    if (exponent == 0x1F) return std::bit_cast<float>(sign | 0x7F800000u | (mantissa << 13));
    if (exponent != 0) return std::bit_cast<float>(sign | ((exponent + 112u) << 23) | (mantissa << 13));
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f; // exact
    return sign ? -magnitude : magnitude;
}

// bfloat16: the top 16 bits of a float32.
constexpr uint16_t float_to_bfloat16_bits(float f) {
    const uint32_t bits = std::bit_cast<uint32_t>(f);
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((bits >> 16) | 0x0040u);
    return static_cast<uint16_t>((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

constexpr float bfloat16_bits_to_float(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

struct Binary16Format {
    static constexpr uint16_t encode(float f) { return float_to_half_bits(f); }
    static constexpr float decode(uint16_t h) { return half_bits_to_float(h); }
};
struct Bfloat16Format {
    static constexpr uint16_t encode(float f) { return float_to_bfloat16_bits(f); }
    static constexpr float decode(uint16_t h) { return bfloat16_bits_to_float(h); }
};

// A 16-bit float: implicit conversions from and to float (as CUDA's host paths without
// __CUDA_NO_HALF_CONVERSIONS__), arithmetic between two of them through float.
template <class Format>
struct alignas(2) Float16 {
    uint16_t bits_;
    Float16() = default;
    constexpr Float16(float f) : bits_(Format::encode(f)) {}
    constexpr Float16(double d) : bits_(Format::encode(static_cast<float>(d))) {}
    template <class Integer, std::enable_if_t<std::is_integral_v<Integer>, int> = 0>
    constexpr Float16(Integer i) : bits_(Format::encode(static_cast<float>(i))) {}
    constexpr operator float() const { return Format::decode(bits_); }
    static constexpr Float16 from_bits(uint16_t b) {
        Float16 h;
        h.bits_ = b;
        return h;
    }
    friend constexpr Float16 operator+(Float16 a, Float16 b) { return Float16(float(a) + float(b)); }
    friend constexpr Float16 operator-(Float16 a, Float16 b) { return Float16(float(a) - float(b)); }
    friend constexpr Float16 operator*(Float16 a, Float16 b) { return Float16(float(a) * float(b)); }
    friend constexpr Float16 operator/(Float16 a, Float16 b) { return Float16(float(a) / float(b)); }
    friend constexpr Float16 operator-(Float16 a) { return from_bits(static_cast<uint16_t>(a.bits_ ^ 0x8000u)); }
    Float16& operator+=(Float16 b) { return *this = *this + b; }
    Float16& operator-=(Float16 b) { return *this = *this - b; }
    Float16& operator*=(Float16 b) { return *this = *this * b; }
    Float16& operator/=(Float16 b) { return *this = *this / b; }
};

template <class Scalar>
struct alignas(4) Float16Pair {
    Scalar x, y;
};

} // namespace latent::emu

using __half = latent::emu::Float16<latent::emu::Binary16Format>;
using __nv_bfloat16 = latent::emu::Float16<latent::emu::Bfloat16Format>;
using __half2 = latent::emu::Float16Pair<__half>;
using __nv_bfloat162 = latent::emu::Float16Pair<__nv_bfloat16>;
using half = __half;
using half2 = __half2;
using nv_bfloat16 = __nv_bfloat16;
using nv_bfloat162 = __nv_bfloat162;

// Conversions and bit casts.
inline __half __float2half(float f) { return __half(f); }
inline __half __float2half_rn(float f) { return __half(f); }
inline float __half2float(__half h) { return float(h); }
inline __nv_bfloat16 __float2bfloat16(float f) { return __nv_bfloat16(f); }
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __nv_bfloat16(f); }
inline float __bfloat162float(__nv_bfloat16 h) { return float(h); }
inline unsigned short __half_as_ushort(__half h) { return h.bits_; }
inline short __half_as_short(__half h) { return static_cast<short>(h.bits_); }
inline __half __ushort_as_half(unsigned short b) { return __half::from_bits(b); }
inline __half __short_as_half(short b) { return __half::from_bits(static_cast<uint16_t>(b)); }
inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return h.bits_; }
inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short b) { return __nv_bfloat16::from_bits(b); }

// Pairs.
inline __half2 __halves2half2(__half a, __half b) { return {a, b}; }
inline __half2 __floats2half2_rn(float a, float b) { return {__half(a), __half(b)}; }
inline __half2 __float2half2_rn(float a) { return {__half(a), __half(a)}; }
inline __half2 __float22half2_rn(float2 v) { return {__half(v.x), __half(v.y)}; }
inline __nv_bfloat162 __halves2bfloat162(__nv_bfloat16 a, __nv_bfloat16 b) { return {a, b}; }
inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) { return {__nv_bfloat16(a), __nv_bfloat16(b)}; }
inline __nv_bfloat162 __float22bfloat162_rn(float2 v) { return {__nv_bfloat16(v.x), __nv_bfloat16(v.y)}; }
template <class S> inline float2 __half22float2(latent::emu::Float16Pair<S> v) { return {float(v.x), float(v.y)}; }
inline float2 __bfloat1622float2(__nv_bfloat162 v) { return {float(v.x), float(v.y)}; }
template <class S> inline S __low2half(latent::emu::Float16Pair<S> v) { return v.x; }
template <class S> inline S __high2half(latent::emu::Float16Pair<S> v) { return v.y; }
inline __nv_bfloat16 __low2bfloat16(__nv_bfloat162 v) { return v.x; }
inline __nv_bfloat16 __high2bfloat16(__nv_bfloat162 v) { return v.y; }
template <class S> inline float __low2float(latent::emu::Float16Pair<S> v) { return float(v.x); }
template <class S> inline float __high2float(latent::emu::Float16Pair<S> v) { return float(v.y); }

// Scalar arithmetic and comparisons (both formats).
template <class F> inline latent::emu::Float16<F> __hadd(latent::emu::Float16<F> a, latent::emu::Float16<F> b) { return a + b; }
template <class F> inline latent::emu::Float16<F> __hsub(latent::emu::Float16<F> a, latent::emu::Float16<F> b) { return a - b; }
template <class F> inline latent::emu::Float16<F> __hmul(latent::emu::Float16<F> a, latent::emu::Float16<F> b) { return a * b; }
template <class F> inline latent::emu::Float16<F> __hdiv(latent::emu::Float16<F> a, latent::emu::Float16<F> b) { return a / b; }
template <class F> inline latent::emu::Float16<F> __hneg(latent::emu::Float16<F> a) { return -a; }
template <class F> inline latent::emu::Float16<F> __habs(latent::emu::Float16<F> a) { return latent::emu::Float16<F>::from_bits(static_cast<uint16_t>(a.bits_ & 0x7FFFu)); }
template <class F> inline latent::emu::Float16<F> __hfma(latent::emu::Float16<F> a, latent::emu::Float16<F> b, latent::emu::Float16<F> c) {
    return latent::emu::Float16<F>(std::fma(float(a), float(b), float(c)));
}
template <class F> inline latent::emu::Float16<F> __hmax(latent::emu::Float16<F> a, latent::emu::Float16<F> b) { return std::fmax(float(a), float(b)); }
template <class F> inline latent::emu::Float16<F> __hmin(latent::emu::Float16<F> a, latent::emu::Float16<F> b) { return std::fmin(float(a), float(b)); }
template <class F> inline bool __heq(latent::emu::Float16<F> a, latent::emu::Float16<F> b) { return float(a) == float(b); }
template <class F> inline bool __hlt(latent::emu::Float16<F> a, latent::emu::Float16<F> b) { return float(a) < float(b); }
template <class F> inline bool __hgt(latent::emu::Float16<F> a, latent::emu::Float16<F> b) { return float(a) > float(b); }
template <class F> inline bool __hisnan(latent::emu::Float16<F> a) { return std::isnan(float(a)); }

// Pair arithmetic, lane by lane.
template <class S> inline latent::emu::Float16Pair<S> __hadd2(latent::emu::Float16Pair<S> a, latent::emu::Float16Pair<S> b) { return {a.x + b.x, a.y + b.y}; }
template <class S> inline latent::emu::Float16Pair<S> __hsub2(latent::emu::Float16Pair<S> a, latent::emu::Float16Pair<S> b) { return {a.x - b.x, a.y - b.y}; }
template <class S> inline latent::emu::Float16Pair<S> __hmul2(latent::emu::Float16Pair<S> a, latent::emu::Float16Pair<S> b) { return {a.x * b.x, a.y * b.y}; }
template <class S> inline latent::emu::Float16Pair<S> __hfma2(latent::emu::Float16Pair<S> a, latent::emu::Float16Pair<S> b, latent::emu::Float16Pair<S> c) {
    return {__hfma(a.x, b.x, c.x), __hfma(a.y, b.y, c.y)};
}
