// Byte layouts of the stored quantized blocks (deepseek2-gguf.md §7), shared by the decoder
// (dequantize.cpp) and the encoder (quantize.cpp). Internal to engine/tensor.
//
// Fields are read and written through memcpy at fixed byte offsets rather than through packed
// structs, so a block may start at any address (rows inside a mapped file, test buffers).
//
//   Q4_0   18 B  d:f16 | qs[16]                         (low nibble = element j, high = j+16)
//   Q4_1   20 B  d:f16 | m:f16 | qs[16]
//   Q5_0   22 B  d:f16 | qh:u32 | qs[16]                (bit j of qh = fifth bit of element j)
//   Q5_1   24 B  d:f16 | m:f16 | qh:u32 | qs[16]
//   Q8_0   34 B  d:f16 | qs:i8[32]
//   IQ4_NL 18 B  d:f16 | qs[16]                         (nibbles index kIq4nlCodebook)
//   Q2_K   84 B  scales[16] | qs[64] | d:f16 | dmin:f16
//   Q3_K  110 B  hmask[32] | qs[64] | scales[12] | d:f16
//   Q4_K  144 B  d:f16 | dmin:f16 | scales[12] | qs[128]
//   Q5_K  176 B  d:f16 | dmin:f16 | scales[12] | qh[32] | qs[128]
//   Q6_K  210 B  ql[128] | qh[64] | scales:i8[16] | d:f16
//   Q8_K  292 B  d:f32 | qs:i8[256] | bsums:i16[16]
//   IQ4_XS 136 B d:f16 | scales_h:u16 | scales_l[4] | qs[128]
#pragma once

#include "tensor/tensor_types.h"

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace latent::blocks {

static_assert(std::endian::native == std::endian::little,
              "block fields are little-endian; a big-endian host needs byte swaps here");

inline constexpr int kBlock32 = 32;   // elements of a Q4_0/Q4_1/Q5_0/Q5_1/Q8_0/IQ4_NL block
inline constexpr int kSuperBlock = 256; // elements of a K-quant / IQ4_XS super-block

// The 16 non-linear levels of IQ4_NL and IQ4_XS.
inline constexpr std::array<int8_t, 16> kIq4nlCodebook = {
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// Byte offsets of the fields of each block and its size.
namespace q4_0 { inline constexpr size_t d = 0, qs = 2, bytes = 18; }
namespace q4_1 { inline constexpr size_t d = 0, m = 2, qs = 4, bytes = 20; }
namespace q5_0 { inline constexpr size_t d = 0, qh = 2, qs = 6, bytes = 22; }
namespace q5_1 { inline constexpr size_t d = 0, m = 2, qh = 4, qs = 8, bytes = 24; }
namespace q8_0 { inline constexpr size_t d = 0, qs = 2, bytes = 34; }
namespace iq4_nl { inline constexpr size_t d = 0, qs = 2, bytes = 18; }
namespace q2_k { inline constexpr size_t scales = 0, qs = 16, d = 80, dmin = 82, bytes = 84; }
namespace q3_k { inline constexpr size_t hmask = 0, qs = 32, scales = 96, d = 108, bytes = 110; }
namespace q4_k { inline constexpr size_t d = 0, dmin = 2, scales = 4, qs = 16, bytes = 144; }
namespace q5_k { inline constexpr size_t d = 0, dmin = 2, scales = 4, qh = 16, qs = 48, bytes = 176; }
namespace q6_k { inline constexpr size_t ql = 0, qh = 128, scales = 192, d = 208, bytes = 210; }
namespace q8_k { inline constexpr size_t d = 0, qs = 4, bsums = 260, bytes = 292; }
namespace iq4_xs { inline constexpr size_t d = 0, scales_h = 2, scales_l = 4, qs = 8, bytes = 136; }

inline uint16_t load_u16(const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline uint32_t load_u32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline float load_f32(const uint8_t* p) {
    float v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline float load_f16(const uint8_t* p) { return fp16_to_fp32(load_u16(p)); }

inline void store_u16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, sizeof v); }

// Q4_K / Q5_K: eight 6-bit scales and eight 6-bit mins in 12 bytes. Bytes 0-3 hold sc0-3 and
// bytes 4-7 hold m0-3 in their low 6 bits; their top 2 bits hold the high bits of sc4-7 and
// m4-7; bytes 8-11 hold the low nibbles of sc4-7 (low) and m4-7 (high).
inline void unpack_scale_min_k4(const uint8_t* packed, int k, uint8_t& scale, uint8_t& min) {
    if (k < 4) {
        scale = static_cast<uint8_t>(packed[k] & 63);
        min = static_cast<uint8_t>(packed[k + 4] & 63);
    } else {
        scale = static_cast<uint8_t>((packed[k + 4] & 0x0F) | ((packed[k - 4] >> 6) << 4));
        min = static_cast<uint8_t>((packed[k + 4] >> 4) | ((packed[k] >> 6) << 4));
    }
}

inline void pack_scale_min_k4(const uint8_t (&scale)[8], const uint8_t (&min)[8], uint8_t* packed) {
    for (int k = 0; k < 4; ++k) {
        packed[k] = static_cast<uint8_t>((scale[k] & 63) | ((scale[k + 4] >> 4) << 6));
        packed[k + 4] = static_cast<uint8_t>((min[k] & 63) | ((min[k + 4] >> 4) << 6));
        packed[k + 8] = static_cast<uint8_t>((scale[k + 4] & 0x0F) | ((min[k + 4] & 0x0F) << 4));
    }
}

} // namespace latent::blocks
