// Elementwise float math over arrays, vectorised where the CPU allows (AVX-512, AVX2).
#pragma once

#include <cstddef>
#include <cstdint>

namespace latent::cpu {

// gate[i] = silu(gate[i]) * up[i] for i < n, silu(x) = x / (1 + e^-x). The vector paths use a
// ~1 ulp exp (vector_exp.h), so results may differ from the portable path's std::exp in the last
// bits; each element's result depends only on its inputs and the SIMD level, not on n or on how
// an array is split. A NaN gate or up gives NaN.
void silu_mul(float* gate, const float* up, size_t n);

// The portable path (std::exp), for comparisons.
void silu_mul_portable(float* gate, const float* up, size_t n);

// n floats to IEEE binary16 (little-endian, 2 bytes each; dst need not be aligned) and back:
// the same bits as fp32_to_fp16 / fp16_to_fp32 (tensor_types.h) element by element, round to
// nearest even, by the F16C instructions where the CPU has AVX2. A NaN stays a NaN (its payload
// may differ).
void fp32_to_fp16_row(const float* src, uint8_t* dst, size_t n);
void fp16_to_fp32_row(const uint8_t* src, float* dst, size_t n);

// The sum (mod 2^64) of the bytes / 8 little-endian 64-bit words at data (unaligned allowed; a
// tail under 8 bytes is ignored), read with the widest loads the CPU has (AVX-512, AVX2: four
// independent 64-byte / 32-byte streams): a read-bandwidth probe that the loads' count does not
// limit. Scalar 8-byte loads read a 2-thread VM's memory at 57 GB/s where 64-byte loads read 75.
uint64_t sum_words(const void* data, size_t bytes);

} // namespace latent::cpu
