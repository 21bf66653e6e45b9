// CUDA device intrinsics as host C++ for the emulator: fast-math functions (computed at full
// float precision here: the device's approximations stay within the tolerances the kernel tests
// allow), integer intrinsics, __dp4a, __ldg and atomics. Atomics use std::atomic_ref, so they
// are correct when blocks run on several worker threads at once.
#pragma once

#include "emu/emu_half.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

using std::isfinite;
using std::isinf;
using std::isnan;

// ---- float intrinsics ----------------------------------------------------------------------
inline float __expf(float x) { return std::exp(x); }
inline float __exp10f(float x) { return std::pow(10.0f, x); }
inline float __logf(float x) { return std::log(x); }
inline float __log2f(float x) { return std::log2(x); }
inline float __log10f(float x) { return std::log10(x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __tanf(float x) { return std::tan(x); }
inline void __sincosf(float x, float* s, float* c) { *s = std::sin(x); *c = std::cos(x); }
inline void sincosf(float x, float* s, float* c) { *s = std::sin(x); *c = std::cos(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return std::sqrt(x); }
inline float __frsqrt_rn(float x) { return 1.0f / std::sqrt(x); }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline float __saturatef(float x) { return std::isnan(x) ? 0.0f : std::clamp(x, 0.0f, 1.0f); }
inline int __float2int_rn(float x) { return static_cast<int>(std::nearbyint(x)); }
inline int __float2int_rz(float x) { return static_cast<int>(x); }
inline int __float2int_rd(float x) { return static_cast<int>(std::floor(x)); }
inline int __float2int_ru(float x) { return static_cast<int>(std::ceil(x)); }
inline unsigned __float2uint_rn(float x) { return static_cast<unsigned>(std::nearbyint(x)); }
inline float __int2float_rn(int x) { return static_cast<float>(x); }
inline float __uint2float_rn(unsigned x) { return static_cast<float>(x); }
inline int __float_as_int(float x) { return std::bit_cast<int>(x); }
inline unsigned __float_as_uint(float x) { return std::bit_cast<unsigned>(x); }
inline float __int_as_float(int x) { return std::bit_cast<float>(x); }
inline float __uint_as_float(unsigned x) { return std::bit_cast<float>(x); }
inline long long __double_as_longlong(double x) { return std::bit_cast<long long>(x); }
inline double __longlong_as_double(long long x) { return std::bit_cast<double>(x); }

// CUDA's global min/max overloads (fminf/fmaxf semantics for floats).
#define LATENT_EMU_MIN_MAX(T)                                                                    \
    inline T min(T a, T b) { return b < a ? b : a; }                                              \
    inline T max(T a, T b) { return a < b ? b : a; }
LATENT_EMU_MIN_MAX(int)
LATENT_EMU_MIN_MAX(unsigned)
LATENT_EMU_MIN_MAX(long long)
LATENT_EMU_MIN_MAX(unsigned long long)
#undef LATENT_EMU_MIN_MAX
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }
inline double min(double a, double b) { return std::fmin(a, b); }
inline double max(double a, double b) { return std::fmax(a, b); }

// ---- integer intrinsics --------------------------------------------------------------------
inline int __popc(unsigned x) { return std::popcount(x); }
inline int __popcll(unsigned long long x) { return std::popcount(x); }
inline int __clz(int x) { return std::countl_zero(static_cast<unsigned>(x)); }
inline int __clzll(long long x) { return std::countl_zero(static_cast<unsigned long long>(x)); }
inline int __ffs(int x) { return x == 0 ? 0 : std::countr_zero(static_cast<unsigned>(x)) + 1; }
inline int __ffsll(long long x) { return x == 0 ? 0 : std::countr_zero(static_cast<unsigned long long>(x)) + 1; }
inline unsigned __brev(unsigned x) {
    unsigned r = 0;
    for (int i = 0; i < 32; ++i) r |= ((x >> i) & 1u) << (31 - i);
    return r;
}
inline unsigned __umulhi(unsigned a, unsigned b) { return static_cast<unsigned>((uint64_t(a) * b) >> 32); }
inline int __mulhi(int a, int b) { return static_cast<int>((int64_t(a) * b) >> 32); }
inline int __mul24(int a, int b) { return (a << 8 >> 8) * (b << 8 >> 8); }
inline unsigned __umul24(unsigned a, unsigned b) { return (a & 0xFFFFFFu) * (b & 0xFFFFFFu); }
// Byte permute: result byte i = byte selector[i*4..] of the 8-byte value {b, a}.
inline unsigned __byte_perm(unsigned a, unsigned b, unsigned selector) {
    const uint64_t both = (uint64_t(b) << 32) | a;
    unsigned r = 0;
    for (int i = 0; i < 4; ++i) {
        const unsigned which = (selector >> (4 * i)) & 7u;
        r |= static_cast<unsigned>((both >> (8 * which)) & 0xFFu) << (8 * i);
    }
    return r;
}

// Four-way byte dot product with 32-bit accumulate (signed and unsigned forms).
inline int __dp4a(int a, int b, int c) {
    int sum = c;
    for (int i = 0; i < 4; ++i) {
        sum += static_cast<int>(static_cast<int8_t>(a >> (8 * i))) * static_cast<int>(static_cast<int8_t>(b >> (8 * i)));
    }
    return sum;
}
inline unsigned __dp4a(unsigned a, unsigned b, unsigned c) {
    unsigned sum = c;
    for (int i = 0; i < 4; ++i) sum += ((a >> (8 * i)) & 0xFFu) * ((b >> (8 * i)) & 0xFFu);
    return sum;
}
inline int __dp4a(char4 a, char4 b, int c) {
    int sa, sb;
    std::memcpy(&sa, &a, 4);
    std::memcpy(&sb, &b, 4);
    return __dp4a(sa, sb, c);
}

// Read-only cache load: a plain load here.
template <class T> inline T __ldg(const T* p) { return *p; }
template <class T> inline T __ldcs(const T* p) { return *p; }
template <class T> inline T __ldcg(const T* p) { return *p; }
template <class T> inline void __stcs(T* p, T v) { *p = v; }
template <class T> inline void __stcg(T* p, T v) { *p = v; }

// ---- atomics (return the old value, as CUDA's) ---------------------------------------------
template <class T> inline T atomicAdd(T* p, std::type_identity_t<T> v) { return std::atomic_ref<T>(*p).fetch_add(v); }
template <class T> inline T atomicSub(T* p, std::type_identity_t<T> v) { return std::atomic_ref<T>(*p).fetch_sub(v); }
template <class T> inline T atomicExch(T* p, std::type_identity_t<T> v) { return std::atomic_ref<T>(*p).exchange(v); }
template <class T> inline T atomicAnd(T* p, std::type_identity_t<T> v) { return std::atomic_ref<T>(*p).fetch_and(v); }
template <class T> inline T atomicOr(T* p, std::type_identity_t<T> v) { return std::atomic_ref<T>(*p).fetch_or(v); }
template <class T> inline T atomicXor(T* p, std::type_identity_t<T> v) { return std::atomic_ref<T>(*p).fetch_xor(v); }
template <class T> inline T atomicCAS(T* p, std::type_identity_t<T> expected, std::type_identity_t<T> desired) {
    std::atomic_ref<T>(*p).compare_exchange_strong(expected, desired);
    return expected;
}
template <class T, class Pick> inline T latent_emu_atomic_update(T* p, T v, Pick pick) {
    std::atomic_ref<T> ref(*p);
    T old = ref.load();
    while (!ref.compare_exchange_weak(old, pick(old, v))) {}
    return old;
}
template <class T> inline T atomicMax(T* p, std::type_identity_t<T> v) { return latent_emu_atomic_update(p, v, [](T a, T b) { return std::max(a, b); }); }
template <class T> inline T atomicMin(T* p, std::type_identity_t<T> v) { return latent_emu_atomic_update(p, v, [](T a, T b) { return std::min(a, b); }); }
// ((old >= limit) ? 0 : old + 1) and ((old == 0 || old > limit) ? limit : old - 1).
inline unsigned atomicInc(unsigned* p, unsigned limit) {
    return latent_emu_atomic_update(p, limit, [](unsigned old, unsigned l) { return old >= l ? 0u : old + 1u; });
}
inline unsigned atomicDec(unsigned* p, unsigned limit) {
    return latent_emu_atomic_update(p, limit, [](unsigned old, unsigned l) { return (old == 0 || old > l) ? l : old - 1u; });
}
// 16-bit float atomics work on the containing bits (a CAS loop, as the device's fallback).
template <class F> inline latent::emu::Float16<F> atomicAdd(latent::emu::Float16<F>* p, latent::emu::Float16<F> v) {
    std::atomic_ref<uint16_t> ref(p->bits_);
    uint16_t old = ref.load();
    while (!ref.compare_exchange_weak(old, (latent::emu::Float16<F>::from_bits(old) + v).bits_)) {}
    return latent::emu::Float16<F>::from_bits(old);
}

inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_system() { std::atomic_thread_fence(std::memory_order_seq_cst); }
