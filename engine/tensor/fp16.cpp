// IEEE binary16 and bfloat16 <-> float32, done on the bit patterns so the result never depends
// on the host's float16 support or rounding mode.
//
// binary16: 1 sign | 5 exponent (bias 15) | 10 mantissa. Exponent 0 is zero/subnormal
// (mantissa * 2^-24), exponent 31 is inf/NaN. float32: 1 | 8 (bias 127) | 23.
// bfloat16: the top 16 bits of a float32.
#include "tensor/tensor_types.h"

#include <bit>

namespace latent {
namespace {

// Rounds value >> shift to nearest, ties to even (shift >= 1).
uint32_t shift_right_nearest_even(uint32_t value, uint32_t shift) {
    const uint32_t kept = value >> shift;
    const uint32_t rest = value & ((1u << shift) - 1u);
    const uint32_t half = 1u << (shift - 1u);
    return kept + ((rest > half || (rest == half && (kept & 1u))) ? 1u : 0u);
}

} // namespace

float fp16_to_fp32(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint32_t exponent = (h >> 10) & 0x1Fu;
    uint32_t mantissa = h & 0x3FFu;
    if (exponent == 0x1F) return std::bit_cast<float>(sign | 0x7F800000u | (mantissa << 13)); // inf, NaN
    if (exponent != 0) return std::bit_cast<float>(sign | ((exponent + 112u) << 23) | (mantissa << 13));
    if (mantissa == 0) return std::bit_cast<float>(sign);
    // Subnormal: normalise. mantissa * 2^-24 with its leading 1 moved to bit 10.
    uint32_t float_exponent = 113; // 2^-14 biased by 127
    while ((mantissa & 0x400u) == 0) {
        mantissa <<= 1;
        --float_exponent;
    }
    return std::bit_cast<float>(sign | (float_exponent << 23) | ((mantissa & 0x3FFu) << 13));
}

uint16_t fp32_to_fp16(float f) {
    const uint32_t bits = std::bit_cast<uint32_t>(f);
    const uint32_t sign = (bits >> 16) & 0x8000u;
    const uint32_t magnitude = bits & 0x7FFFFFFFu;
    if (magnitude > 0x7F800000u) {
        // NaN: keep the top payload bits and force the quiet bit, so it stays a NaN.
        return static_cast<uint16_t>(sign | 0x7E00u | ((magnitude >> 13) & 0x3FFu));
    }
    // 65520 is halfway between the largest half (65504, odd mantissa) and 2^16: ties go up to inf.
    if (magnitude >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);
    const uint32_t exponent = magnitude >> 23;
    if (exponent >= 113) {
        // Normal half: rebias the exponent and round 23 mantissa bits to 10. A carry out of the
        // mantissa correctly bumps the exponent.
        const uint32_t rebased = ((exponent - 112u) << 23) | (magnitude & 0x7FFFFFu);
        return static_cast<uint16_t>(sign | shift_right_nearest_even(rebased, 13));
    }
    // Subnormal half (or zero): value / 2^-24 = (1.m * 2^23) >> (126 - exponent).
    const uint32_t shift = 126u - exponent;
    if (shift > 24) return static_cast<uint16_t>(sign); // below 2^-25: rounds to zero
    const uint32_t full_mantissa = (magnitude & 0x7FFFFFu) | 0x800000u;
    return static_cast<uint16_t>(sign | shift_right_nearest_even(full_mantissa, shift));
}

float bf16_to_fp32(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

uint16_t fp32_to_bf16(float f) {
    const uint32_t bits = std::bit_cast<uint32_t>(f);
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((bits >> 16) | 0x0040u); // quiet NaN
    return static_cast<uint16_t>((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

} // namespace latent
