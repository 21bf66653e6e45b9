// Block decoding and quantised dot products for every weight type the GPU kernels take
// (deepseek2-gguf.md §7; byte layouts as engine/tensor/block_layouts.h), as __host__ __device__
// helpers: the kernels call them on the GPU, the emulator build and the native tests call the
// very same code on the CPU.
//
// The unit of work is a 32-element SLICE: a 32-element block is one slice, a 256-element
// super-block is eight (part 0..7 = elements 32*part .. 32*part+31). Every type decodes a slice
// into one common form (SliceQ8):
//
//     W[j] = scale[j / 16] * q[j] - min[j / 16]      q: signed 8-bit, j = 0..31
//
// (types with one scale per 32 values repeat it in both halves; types without a minimum have
// min = 0). One generic integer dot (dp4a) then serves all types against activations quantised
// per 32 values (Q8_1-style: int8 q[32] and a float scale d; the per-16 sums the "min" term needs
// are taken with dp4a on the fly rather than stored). Decoding a slice to floats evaluates
// scale*q - min with one rounding per operation, so it is bit-exact with dequantize_row (the
// engine's decoder computes the same products in the same order; see each type below).
//
// Byte reads go through load_u16/load_u32, which take any alignment: blocks of 18, 22, 34, 84,
// 110 and 210 bytes put most fields at odd or 2-mod-4 addresses.
#pragma once

#include "common/cuda_compat.cuh"

#include "quant_types.h"

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define LATENT_QB __host__ __device__ __forceinline__
#else
#define LATENT_QB inline
#endif

namespace latent::kernels::quant {

// ---- type facts ---------------------------------------------------------------------------------

inline constexpr int kSlice = 32; // elements per slice

// Elements per stored block (1 for float types, treated as 32-element slices by the kernels).
LATENT_QB constexpr int block_elements(QuantType t) {
    switch (t) {
    case QuantType::F32:
    case QuantType::F16:
    case QuantType::BF16: return 1;
    case QuantType::Q4_0:
    case QuantType::Q4_1:
    case QuantType::Q5_0:
    case QuantType::Q5_1:
    case QuantType::Q8_0:
    case QuantType::IQ4_NL: return 32;
    default: return 256;
    }
}

// Bytes per stored block.
LATENT_QB constexpr int block_bytes(QuantType t) {
    switch (t) {
    case QuantType::F32: return 4;
    case QuantType::F16:
    case QuantType::BF16: return 2;
    case QuantType::Q4_0: return 18;
    case QuantType::Q4_1: return 20;
    case QuantType::Q5_0: return 22;
    case QuantType::Q5_1: return 24;
    case QuantType::Q8_0: return 34;
    case QuantType::IQ4_NL: return 18;
    case QuantType::Q2_K: return 84;
    case QuantType::Q3_K: return 110;
    case QuantType::Q4_K: return 144;
    case QuantType::Q5_K: return 176;
    case QuantType::Q6_K: return 210;
    case QuantType::IQ4_XS: return 136;
    }
    return 0;
}

LATENT_QB constexpr bool is_float_type(QuantType t) {
    return t == QuantType::F32 || t == QuantType::F16 || t == QuantType::BF16;
}

// Slices per stored block (1 or 8), and bytes of one slice's worth of a float type.
LATENT_QB constexpr int slices_per_block(QuantType t) {
    return block_elements(t) == 256 ? 8 : 1;
}
LATENT_QB constexpr int float_slice_bytes(QuantType t) { return kSlice * block_bytes(t); }

// Whether the common form has a minimum term, and whether its scales change every 16 values.
LATENT_QB constexpr bool has_min(QuantType t) {
    return t == QuantType::Q4_1 || t == QuantType::Q5_1 || t == QuantType::Q2_K || t == QuantType::Q4_K ||
           t == QuantType::Q5_K;
}
LATENT_QB constexpr bool scale_per_16(QuantType t) {
    return t == QuantType::Q2_K || t == QuantType::Q3_K || t == QuantType::Q6_K;
}

// Bytes of a packed row of `cols` elements (cols a multiple of the block size).
LATENT_QB constexpr int64_t row_bytes(QuantType t, int64_t cols) {
    return cols / block_elements(t) * block_bytes(t);
}

// ---- scalar helpers -----------------------------------------------------------------------------

LATENT_QB uint32_t load_u16(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8);
}

// A little-endian 32-bit word at any address. On the GPU: one load when aligned, else the two
// aligned words that hold it joined by a funnel shift (both words hold at least one wanted byte,
// so nothing outside the wanted bytes' own words is read).
LATENT_QB uint32_t load_u32(const uint8_t* p) {
#if defined(__CUDA_ARCH__)
    const unsigned misalignment = static_cast<unsigned>(reinterpret_cast<uintptr_t>(p) & 3u);
    const auto* word = reinterpret_cast<const uint32_t*>(p - misalignment);
    if (misalignment == 0) return word[0];
    return __funnelshift_r(word[0], word[1], 8 * misalignment);
#else
    uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
#endif
}

LATENT_QB float bits_to_float(uint32_t bits) {
#if defined(__CUDA_ARCH__)
    return __uint_as_float(bits);
#else
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
#endif
}

LATENT_QB uint32_t float_to_bits(float f) {
#if defined(__CUDA_ARCH__)
    return __float_as_uint(f);
#else
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    return bits;
#endif
}

// IEEE binary16 bits -> float (exact).
LATENT_QB float half_to_float(uint32_t h) {
#if defined(__CUDA_ARCH__)
    return __half2float(__ushort_as_half(static_cast<unsigned short>(h)));
#else
    const uint32_t sign = (h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1Fu;
    uint32_t mantissa = h & 0x3FFu;
    if (exponent == 0x1F) return bits_to_float(sign | 0x7F800000u | (mantissa << 13)); // inf / nan
    if (exponent == 0) {
        if (mantissa == 0) return bits_to_float(sign);
        // Subnormal: value = mantissa * 2^-24, exact in float.
        const float v = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    return bits_to_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
#endif
}

LATENT_QB float bf16_to_float(uint32_t h) { return bits_to_float(h << 16); }

// Products and differences with exactly one rounding each (no fused multiply-add on the GPU),
// so decoded values are bit-exact with the engine's decoder (built with -ffp-contract=off).
LATENT_QB float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}
LATENT_QB float sub_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fsub_rn(a, b);
#else
    return a - b;
#endif
}

// Sum of the four signed byte products of a and b, plus c (the GPU's dp4a).
LATENT_QB int dot4_i8(int a, int b, int c) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 610
    return __dp4a(a, b, c);
#else
    for (int k = 0; k < 4; ++k) {
        c += static_cast<int>(static_cast<int8_t>(static_cast<uint32_t>(a) >> (8 * k))) *
             static_cast<int>(static_cast<int8_t>(static_cast<uint32_t>(b) >> (8 * k)));
    }
    return c;
#endif
}

// Byte-wise v - k for bytes with v + 128 - k < 256 and k <= 128 (no borrow between bytes).
LATENT_QB uint32_t bytes_minus(uint32_t v, uint32_t k) {
    const uint32_t add = (0x80u - k) * 0x01010101u;
    return (v + add) ^ 0x80808080u;
}

// Bits 0..3 of `nibble_bits` moved to bit 4 of bytes 0..3.
LATENT_QB uint32_t spread_bits_to_bit4(uint32_t nibble_bits) {
    return ((nibble_bits & 1u) << 4) | ((nibble_bits & 2u) << 11) | ((nibble_bits & 4u) << 18) |
           ((nibble_bits & 8u) << 25);
}

// The 16 IQ4_NL levels {-127,-104,-83,-65,-49,-35,-22,-10,1,13,25,38,53,69,89,113} as bytes of two
// 64-bit constants, looked up arithmetically so device code needs no table in memory.
LATENT_QB uint32_t iq4nl_level_byte(uint32_t nibble) {
    constexpr uint64_t kLow = 0xF6EADDCFBFAD9881ull;  // levels 0..7, level k in byte k
    constexpr uint64_t kHigh = 0x7159453526190D01ull; // levels 8..15
    const uint64_t word = nibble < 8 ? kLow : kHigh;
    return static_cast<uint32_t>(word >> (8 * (nibble & 7u))) & 0xFFu;
}

// Four nibbles (bytes of `nibbles`, each 0..15) replaced by their IQ4_NL levels.
LATENT_QB uint32_t iq4nl_levels(uint32_t nibbles) {
    return iq4nl_level_byte(nibbles & 0xFu) | (iq4nl_level_byte((nibbles >> 8) & 0xFu) << 8) |
           (iq4nl_level_byte((nibbles >> 16) & 0xFu) << 16) | (iq4nl_level_byte(nibbles >> 24) << 24);
}

// Q4_K / Q5_K six-bit scale and minimum k (0..7) from the 12 packed bytes.
LATENT_QB void scale_min_k4(const uint8_t* packed, int k, int& scale, int& min) {
    if (k < 4) {
        scale = packed[k] & 63;
        min = packed[k + 4] & 63;
    } else {
        scale = (packed[k + 4] & 0x0F) | ((packed[k - 4] >> 6) << 4);
        min = (packed[k + 4] >> 4) | ((packed[k] >> 6) << 4);
    }
}

// Q3_K signed six-bit scale i (0..15).
LATENT_QB int scale_q3_k(const uint8_t* packed, int i) {
    const int low4 = i < 8 ? (packed[i] & 0x0F) : (packed[i - 8] >> 4);
    const int high2 = (packed[8 + (i & 3)] >> (2 * (i >> 2))) & 3;
    return (low4 | (high2 << 4)) - 32;
}

// ---- the common form ----------------------------------------------------------------------------

struct SliceQ8 {
    uint32_t q[8];  // 32 signed bytes: element 4w+b is byte b of q[w]
    float scale[2]; // per 16 elements
    float min[2];   // per 16 elements (0 for types without a minimum)
};

namespace detail {

LATENT_QB void set_scales(SliceQ8& s, float scale, float min) {
    s.scale[0] = s.scale[1] = scale;
    s.min[0] = s.min[1] = min;
}

// Low nibbles of 16 bytes -> elements 0..15, high nibbles -> 16..31 (Q4_0, Q4_1, IQ4_NL, IQ4_XS).
LATENT_QB void split_nibbles(const uint8_t* qs, uint32_t* out) {
    for (int w = 0; w < 4; ++w) {
        const uint32_t v = load_u32(qs + 4 * w);
        out[w] = v & 0x0F0F0F0Fu;
        out[4 + w] = (v >> 4) & 0x0F0F0F0Fu;
    }
}

// Q5_0 / Q5_1: nibbles plus the fifth bit of element j at bit j of qh.
LATENT_QB void five_bit_values(const uint8_t* qs, uint32_t qh, uint32_t* out) {
    split_nibbles(qs, out);
    for (int w = 0; w < 4; ++w) {
        out[w] |= spread_bits_to_bit4((qh >> (4 * w)) & 0xFu);
        out[4 + w] |= spread_bits_to_bit4((qh >> (16 + 4 * w)) & 0xFu);
    }
}

} // namespace detail

// Decodes slice `part` of the block at `block` into the common form. T is a block type.
template <QuantType T>
LATENT_QB void decode_slice(const uint8_t* block, int part, SliceQ8& s) {
    if constexpr (T == QuantType::Q4_0) { // x = (n - 8) * d
        detail::split_nibbles(block + 2, s.q);
        for (int w = 0; w < 8; ++w) s.q[w] = bytes_minus(s.q[w], 8);
        detail::set_scales(s, half_to_float(load_u16(block)), 0.0f);
    } else if constexpr (T == QuantType::Q4_1) { // x = n * d + m
        detail::split_nibbles(block + 4, s.q);
        detail::set_scales(s, half_to_float(load_u16(block)), -half_to_float(load_u16(block + 2)));
    } else if constexpr (T == QuantType::Q5_0) { // x = (n5 - 16) * d
        detail::five_bit_values(block + 6, load_u32(block + 2), s.q);
        for (int w = 0; w < 8; ++w) s.q[w] = bytes_minus(s.q[w], 16);
        detail::set_scales(s, half_to_float(load_u16(block)), 0.0f);
    } else if constexpr (T == QuantType::Q5_1) { // x = n5 * d + m
        detail::five_bit_values(block + 8, load_u32(block + 4), s.q);
        detail::set_scales(s, half_to_float(load_u16(block)), -half_to_float(load_u16(block + 2)));
    } else if constexpr (T == QuantType::Q8_0) { // x = q * d
        for (int w = 0; w < 8; ++w) s.q[w] = load_u32(block + 2 + 4 * w);
        detail::set_scales(s, half_to_float(load_u16(block)), 0.0f);
    } else if constexpr (T == QuantType::IQ4_NL) { // x = d * level[n]
        detail::split_nibbles(block + 2, s.q);
        for (int w = 0; w < 8; ++w) s.q[w] = iq4nl_levels(s.q[w]);
        detail::set_scales(s, half_to_float(load_u16(block)), 0.0f);
    } else if constexpr (T == QuantType::Q2_K) {
        // Part p = (n, j) = (p / 4, p % 4): q = (qs[32n + l] >> 2j) & 3, x = (d*sc)*q - dmin*m with
        // the scale byte of sub-block 8n + 2j + (l >= 16).
        const int n = part >> 2, j = part & 3;
        for (int w = 0; w < 8; ++w) s.q[w] = (load_u32(block + 16 + 32 * n + 4 * w) >> (2 * j)) & 0x03030303u;
        const float d = half_to_float(load_u16(block + 80));
        const float dmin = half_to_float(load_u16(block + 82));
        for (int h = 0; h < 2; ++h) {
            const uint32_t packed = block[8 * n + 2 * j + h];
            s.scale[h] = mul_rn(d, static_cast<float>(packed & 0xFu));
            s.min[h] = mul_rn(dmin, static_cast<float>(packed >> 4));
        }
    } else if constexpr (T == QuantType::Q3_K) {
        // Same walk as Q2_K; the high bit (4n + j) of hmask[l] clear means "minus 4".
        const int n = part >> 2, j = part & 3;
        for (int w = 0; w < 8; ++w) {
            const uint32_t low = (load_u32(block + 32 + 32 * n + 4 * w) >> (2 * j)) & 0x03030303u;
            const uint32_t high = (load_u32(block + 4 * w) >> (4 * n + j)) & 0x01010101u;
            s.q[w] = bytes_minus(low | (high << 2), 4);
        }
        const float d = half_to_float(load_u16(block + 108));
        for (int h = 0; h < 2; ++h) {
            s.scale[h] = mul_rn(d, static_cast<float>(scale_q3_k(block + 96, 8 * n + 2 * j + h)));
            s.min[h] = 0.0f;
        }
    } else if constexpr (T == QuantType::Q4_K || T == QuantType::Q5_K) {
        // Part p = sub-block k: group g = p / 2 of 32 bytes, low nibbles for even p, high for odd;
        // Q5_K's fifth bit is bit p of qh[l]. x = (d*sc)*q - dmin*m.
        const int g = part >> 1, shift = 4 * (part & 1);
        const uint8_t* qs = block + (T == QuantType::Q5_K ? 48 : 16) + 32 * g;
        for (int w = 0; w < 8; ++w) {
            uint32_t v = (load_u32(qs + 4 * w) >> shift) & 0x0F0F0F0Fu;
            if constexpr (T == QuantType::Q5_K) v |= ((load_u32(block + 16 + 4 * w) >> part) & 0x01010101u) << 4;
            s.q[w] = v;
        }
        int sc = 0, m = 0;
        scale_min_k4(block + 4, part, sc, m);
        detail::set_scales(s, mul_rn(half_to_float(load_u16(block)), static_cast<float>(sc)),
                           mul_rn(half_to_float(load_u16(block + 2)), static_cast<float>(m)));
    } else if constexpr (T == QuantType::Q6_K) {
        // Part p = (n, t) = (p / 4, p % 4): low 4 bits from ql[64n + 32(t%2) + l] (low nibble for
        // t < 2), high 2 bits from qh[32n + l] >> 2t; q - 32; x = (d*sc)*q, int8 scale per 16.
        const int n = part >> 2, t = part & 3;
        for (int w = 0; w < 8; ++w) {
            const uint32_t low = (load_u32(block + 64 * n + 32 * (t & 1) + 4 * w) >> (4 * (t >> 1))) & 0x0F0F0F0Fu;
            const uint32_t high = (load_u32(block + 128 + 32 * n + 4 * w) >> (2 * t)) & 0x03030303u;
            s.q[w] = bytes_minus(low | (high << 4), 32);
        }
        const float d = half_to_float(load_u16(block + 208));
        for (int h = 0; h < 2; ++h) {
            s.scale[h] = mul_rn(d, static_cast<float>(static_cast<int8_t>(block[192 + 8 * n + 2 * t + h])));
            s.min[h] = 0.0f;
        }
    } else if constexpr (T == QuantType::IQ4_XS) {
        // Part p = sub-block ib: 6-bit scale (low 4 bits in scales_l, high 2 in scales_h) - 32
        // over IQ4_NL levels. x = (d*ls)*level.
        detail::split_nibbles(block + 8 + 16 * part, s.q);
        for (int w = 0; w < 8; ++w) s.q[w] = iq4nl_levels(s.q[w]);
        const int low = (block[4 + part / 2] >> (4 * (part & 1))) & 0x0F;
        const int high = static_cast<int>((load_u16(block + 2) >> (2 * part)) & 3u);
        detail::set_scales(s, mul_rn(half_to_float(load_u16(block)), static_cast<float>((low | (high << 4)) - 32)),
                           0.0f);
    } else {
        static_assert(T == QuantType::Q4_0, "decode_slice: not a block type");
    }
}

// Element j (0..31) of a decoded slice as the engine's decoder computes it.
LATENT_QB float slice_value(const SliceQ8& s, int j) {
    const int h = j >> 4;
    const float q = static_cast<float>(static_cast<int8_t>(s.q[j >> 2] >> (8 * (j & 3))));
    return sub_rn(mul_rn(s.scale[h], q), s.min[h]);
}

// Element i of a row of a float type.
template <QuantType T>
LATENT_QB float float_element(const uint8_t* row, int64_t i) {
    if constexpr (T == QuantType::F32) {
        return bits_to_float(load_u32(row + 4 * i));
    } else if constexpr (T == QuantType::F16) {
        return half_to_float(load_u16(row + 2 * i));
    } else {
        static_assert(T == QuantType::BF16, "float_element: not a float type");
        return bf16_to_float(load_u16(row + 2 * i));
    }
}

// ---- activations quantised per 32 values --------------------------------------------------------

// A quantised activation slice: x[j] ~ d * q[j]. d = max|x| / 127 and q = round(x * 127 / max|x|)
// (ties to even), as the CPU backend's Q8_32 format (engine/cpu/quant_dot.h), so for 32-element
// weight types the GPU sees exactly the activations the CPU kernels see. A slice holding a NaN
// or an infinity gets d = NaN (its products come out NaN, not quietly wrong); an all-zero slice
// d = 0.
struct ActivationSliceQ8 {
    uint32_t q[8];
    float d;
};

// Nearest integer, ties to even, for |v| < 2^22 (the CPU quantiser's rounding).
LATENT_QB float round_to_even(float v) {
    constexpr float kMagic = 12582912.0f;
    return sub_rn(v + kMagic, kMagic);
}

// The scale of a slice from its largest magnitude (NaN for a non-finite slice).
LATENT_QB float activation_scale(float amax, bool finite) {
    if (!finite) return bits_to_float(0x7FC00000u);
    return amax < 1e-30f ? 0.0f : amax / 127.0f;
}

// One quantised value given the slice's largest magnitude (0 for a zero or non-finite slice).
LATENT_QB int8_t quantize_activation(float v, float amax, bool finite) {
    if (!finite || amax < 1e-30f) return 0;
    float r = round_to_even(mul_rn(v, 127.0f / amax));
    r = r < -127.0f ? -127.0f : (r > 127.0f ? 127.0f : r);
    return static_cast<int8_t>(r);
}

// Quantises 32 values (host side and tests; the GPU spreads a slice over a warp).
LATENT_QB void quantize_slice(const float* x, ActivationSliceQ8& out) {
    float amax = 0.0f;
    bool finite = true;
    for (int j = 0; j < kSlice; ++j) {
        const float a = x[j] < 0.0f ? -x[j] : x[j];
        finite = finite && a <= 3.402823466e38f;
        amax = a > amax ? a : amax;
    }
    out.d = activation_scale(amax, finite);
    for (int w = 0; w < 8; ++w) {
        uint32_t word = 0;
        for (int b = 0; b < 4; ++b) {
            word |= static_cast<uint32_t>(static_cast<uint8_t>(quantize_activation(x[4 * w + b], amax, finite)))
                    << (8 * b);
        }
        out.q[w] = word;
    }
}

// ---- dot products -------------------------------------------------------------------------------

// sum_j W[j] * d_x * q_x[j] for a weight slice in common form and a quantised activation slice:
// two integer dots (one per 16), one float multiply per scale, and for types with a minimum the
// activation sums of each 16 (dp4a against ones).
template <QuantType T>
LATENT_QB float dot_slice_q8(const SliceQ8& w, const uint32_t* xq, float dx) {
    int dot0 = 0, dot1 = 0;
    for (int k = 0; k < 4; ++k) {
        dot0 = dot4_i8(static_cast<int>(w.q[k]), static_cast<int>(xq[k]), dot0);
        dot1 = dot4_i8(static_cast<int>(w.q[4 + k]), static_cast<int>(xq[4 + k]), dot1);
    }
    float acc = 0.0f;
    if constexpr (scale_per_16(T)) {
        acc = w.scale[0] * static_cast<float>(dot0) + w.scale[1] * static_cast<float>(dot1);
    } else {
        acc = w.scale[0] * static_cast<float>(dot0 + dot1);
    }
    if constexpr (has_min(T)) {
        int sum0 = 0, sum1 = 0;
        for (int k = 0; k < 4; ++k) {
            sum0 = dot4_i8(0x01010101, static_cast<int>(xq[k]), sum0);
            sum1 = dot4_i8(0x01010101, static_cast<int>(xq[4 + k]), sum1);
        }
        if constexpr (scale_per_16(T)) {
            acc -= w.min[0] * static_cast<float>(sum0) + w.min[1] * static_cast<float>(sum1);
        } else {
            acc -= w.min[0] * static_cast<float>(sum0 + sum1);
        }
    }
    return dx * acc;
}

// sum_j W[j] * x[j] over one decoded slice and 32 float activations (reference and float path).
LATENT_QB float dot_slice_f32(const SliceQ8& w, const float* x) {
    float acc = 0.0f;
    for (int j = 0; j < kSlice; ++j) acc += slice_value(w, j) * x[j];
    return acc;
}

} // namespace latent::kernels::quant
