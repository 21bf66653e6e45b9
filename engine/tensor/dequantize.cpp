// Stored blocks -> float32 (deepseek2-gguf.md §7).
//
// Bit-exact with the reference decoder: every value is computed with the same float operations
// in the same order (the library is built with -ffp-contract=off so no multiply-add is fused).
// The order matters where three factors meet, e.g. Q4_K's (d*sc)*q - (dmin*m) and Q6_K's
// (d*sc)*q; integer parts are exact and converted to float once. (An f16 scale times a 6-bit
// code is exact in float, so for most types only the final rounding exists; IQ4_XS's
// (d*ls)*codebook and Q8_K's f32 scale are where the order could show.)
#include "tensor/block_layouts.h"
#include "tensor/tensor_types.h"

#include "core/error.h"

#include <cstring>
#include <string>

namespace latent {
namespace {

using namespace blocks;

float to_float(int v) { return static_cast<float>(v); }

// ---- 32-element blocks ------------------------------------------------------------------------

void decode_q4_0(const uint8_t* block, float* y) {
    const float d = load_f16(block + q4_0::d);
    const uint8_t* qs = block + q4_0::qs;
    for (int j = 0; j < 16; ++j) {
        y[j] = to_float((qs[j] & 0x0F) - 8) * d;
        y[j + 16] = to_float((qs[j] >> 4) - 8) * d;
    }
}

void decode_q4_1(const uint8_t* block, float* y) {
    const float d = load_f16(block + q4_1::d);
    const float m = load_f16(block + q4_1::m);
    const uint8_t* qs = block + q4_1::qs;
    for (int j = 0; j < 16; ++j) {
        y[j] = to_float(qs[j] & 0x0F) * d + m;
        y[j + 16] = to_float(qs[j] >> 4) * d + m;
    }
}

void decode_q5_0(const uint8_t* block, float* y) {
    const float d = load_f16(block + q5_0::d);
    const uint32_t qh = load_u32(block + q5_0::qh);
    const uint8_t* qs = block + q5_0::qs;
    for (int j = 0; j < 16; ++j) {
        const int high_lo = static_cast<int>((qh >> j) & 1u) << 4;
        const int high_hi = static_cast<int>((qh >> (j + 16)) & 1u) << 4;
        y[j] = to_float(((qs[j] & 0x0F) | high_lo) - 16) * d;
        y[j + 16] = to_float(((qs[j] >> 4) | high_hi) - 16) * d;
    }
}

void decode_q5_1(const uint8_t* block, float* y) {
    const float d = load_f16(block + q5_1::d);
    const float m = load_f16(block + q5_1::m);
    const uint32_t qh = load_u32(block + q5_1::qh);
    const uint8_t* qs = block + q5_1::qs;
    for (int j = 0; j < 16; ++j) {
        const int high_lo = static_cast<int>((qh >> j) & 1u) << 4;
        const int high_hi = static_cast<int>((qh >> (j + 16)) & 1u) << 4;
        y[j] = to_float((qs[j] & 0x0F) | high_lo) * d + m;
        y[j + 16] = to_float((qs[j] >> 4) | high_hi) * d + m;
    }
}

void decode_q8_0(const uint8_t* block, float* y) {
    const float d = load_f16(block + q8_0::d);
    const uint8_t* qs = block + q8_0::qs;
    for (int j = 0; j < 32; ++j) y[j] = to_float(static_cast<int8_t>(qs[j])) * d;
}

void decode_iq4_nl(const uint8_t* block, float* y) {
    const float d = load_f16(block + iq4_nl::d);
    const uint8_t* qs = block + iq4_nl::qs;
    for (int j = 0; j < 16; ++j) {
        y[j] = d * to_float(kIq4nlCodebook[qs[j] & 0x0F]);
        y[j + 16] = d * to_float(kIq4nlCodebook[qs[j] >> 4]);
    }
}

// ---- 256-element super-blocks -----------------------------------------------------------------

// Q2_K and Q3_K share the element walk: two halves n of 128, each four 2-bit planes j of the same
// 32 bytes; every plane is two 16-element sub-blocks with their own scale.
void decode_q2_k(const uint8_t* block, float* y) {
    const float d = load_f16(block + q2_k::d);
    const float dmin = load_f16(block + q2_k::dmin);
    const uint8_t* scales = block + q2_k::scales;
    for (int n = 0; n < 2; ++n) {
        const uint8_t* qs = block + q2_k::qs + 32 * n;
        for (int j = 0; j < 4; ++j) {
            for (int half = 0; half < 2; ++half) {
                const uint8_t packed = scales[8 * n + 2 * j + half];
                const float dl = d * to_float(packed & 0x0F);
                const float ml = dmin * to_float(packed >> 4);
                for (int l = 16 * half; l < 16 * half + 16; ++l) {
                    y[128 * n + 32 * j + l] = dl * to_float((qs[l] >> (2 * j)) & 3) - ml;
                }
            }
        }
    }
}

// The 16 six-bit Q3_K scales, unbiased (-32..31).
void unpack_q3_k_scales(const uint8_t* packed, int (&scales)[16]) {
    for (int i = 0; i < 16; ++i) {
        const int low4 = i < 8 ? (packed[i] & 0x0F) : (packed[i - 8] >> 4);
        const int high2 = (packed[8 + i % 4] >> (2 * (i / 4))) & 3;
        scales[i] = (low4 | (high2 << 4)) - 32;
    }
}

void decode_q3_k(const uint8_t* block, float* y) {
    const float d = load_f16(block + q3_k::d);
    const uint8_t* hmask = block + q3_k::hmask;
    int scales[16];
    unpack_q3_k_scales(block + q3_k::scales, scales);
    for (int n = 0; n < 2; ++n) {
        const uint8_t* qs = block + q3_k::qs + 32 * n;
        for (int j = 0; j < 4; ++j) {
            const int high_bit = 4 * n + j; // the hmask byte is indexed by l; the bit selects (n, j)
            for (int half = 0; half < 2; ++half) {
                const float dl = d * to_float(scales[8 * n + 2 * j + half]);
                for (int l = 16 * half; l < 16 * half + 16; ++l) {
                    const int low = (qs[l] >> (2 * j)) & 3;
                    const int offset = ((hmask[l] >> high_bit) & 1) ? 0 : 4;
                    y[128 * n + 32 * j + l] = dl * to_float(low - offset);
                }
            }
        }
    }
}

// Q4_K and Q5_K: four groups g of 64 elements; the low nibbles of 32 bytes are sub-block 2g,
// the high nibbles sub-block 2g+1. Q5_K adds a fifth bit per value: bit 2g (2g+1) of qh[l]
// for the low (high) nibble of byte l. Both use the same d and dmin layout and 6-bit scales.
template <bool kFiveBit>
void decode_qk4(const uint8_t* block, float* y) {
    const float d = load_f16(block + q4_k::d);
    const float dmin = load_f16(block + q4_k::dmin);
    const uint8_t* scales = block + q4_k::scales;
    const uint8_t* qh = block + q5_k::qh; // Q5_K only
    const size_t qs_offset = kFiveBit ? q5_k::qs : q4_k::qs;
    for (int g = 0; g < 4; ++g) {
        const uint8_t* qs = block + qs_offset + 32 * g;
        uint8_t sc = 0, m = 0;
        unpack_scale_min_k4(scales, 2 * g, sc, m);
        const float d1 = d * to_float(sc);
        const float m1 = dmin * to_float(m);
        unpack_scale_min_k4(scales, 2 * g + 1, sc, m);
        const float d2 = d * to_float(sc);
        const float m2 = dmin * to_float(m);
        for (int l = 0; l < 32; ++l) {
            const int high = kFiveBit ? ((qh[l] >> (2 * g)) & 1) << 4 : 0;
            y[64 * g + l] = d1 * to_float((qs[l] & 0x0F) + high) - m1;
        }
        for (int l = 0; l < 32; ++l) {
            const int high = kFiveBit ? ((qh[l] >> (2 * g + 1)) & 1) << 4 : 0;
            y[64 * g + 32 + l] = d2 * to_float((qs[l] >> 4) + high) - m2;
        }
    }
}

// Q6_K: two halves n of 128; within a half, plane t (0..3) of 32 elements takes its low 4 bits
// from ql[32*(t%2) + l] (low nibble for t < 2, high for t >= 2) and its high 2 bits from
// qh[l] >> 2t. Scales are per 16 elements.
void decode_q6_k(const uint8_t* block, float* y) {
    const float d = load_f16(block + q6_k::d);
    for (int n = 0; n < 2; ++n) {
        const uint8_t* ql = block + q6_k::ql + 64 * n;
        const uint8_t* qh = block + q6_k::qh + 32 * n;
        const int8_t* scales = reinterpret_cast<const int8_t*>(block + q6_k::scales) + 8 * n;
        for (int t = 0; t < 4; ++t) {
            for (int l = 0; l < 32; ++l) {
                const uint8_t low_byte = ql[32 * (t % 2) + l];
                const int low = t < 2 ? (low_byte & 0x0F) : (low_byte >> 4);
                const int high = (qh[l] >> (2 * t)) & 3;
                const int q = (low | (high << 4)) - 32;
                y[128 * n + 32 * t + l] = d * to_float(scales[2 * t + l / 16]) * to_float(q);
            }
        }
    }
}

void decode_q8_k(const uint8_t* block, float* y) {
    const float d = load_f32(block + q8_k::d);
    const uint8_t* qs = block + q8_k::qs;
    for (int j = 0; j < 256; ++j) y[j] = d * to_float(static_cast<int8_t>(qs[j]));
}

// IQ4_XS: eight sub-blocks of 32, each a 6-bit scale (4 low bits in scales_l, 2 high bits in
// scales_h, bias 32) over IQ4_NL-style nibbles.
void decode_iq4_xs(const uint8_t* block, float* y) {
    const float d = load_f16(block + iq4_xs::d);
    const uint16_t scales_h = load_u16(block + iq4_xs::scales_h);
    const uint8_t* scales_l = block + iq4_xs::scales_l;
    for (int ib = 0; ib < 8; ++ib) {
        const uint8_t* qs = block + iq4_xs::qs + 16 * ib;
        const int ls = ((scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0F) | (((scales_h >> (2 * ib)) & 3) << 4);
        const float dl = d * to_float(ls - 32);
        for (int j = 0; j < 16; ++j) {
            y[32 * ib + j] = dl * to_float(kIq4nlCodebook[qs[j] & 0x0F]);
            y[32 * ib + j + 16] = dl * to_float(kIq4nlCodebook[qs[j] >> 4]);
        }
    }
}

using BlockDecoder = void (*)(const uint8_t* block, float* y);

BlockDecoder block_decoder(TensorType type) {
    switch (type) {
    case TensorType::Q4_0: return decode_q4_0;
    case TensorType::Q4_1: return decode_q4_1;
    case TensorType::Q5_0: return decode_q5_0;
    case TensorType::Q5_1: return decode_q5_1;
    case TensorType::Q8_0: return decode_q8_0;
    case TensorType::IQ4_NL: return decode_iq4_nl;
    case TensorType::Q2_K: return decode_q2_k;
    case TensorType::Q3_K: return decode_q3_k;
    case TensorType::Q4_K: return decode_qk4<false>;
    case TensorType::Q5_K: return decode_qk4<true>;
    case TensorType::Q6_K: return decode_q6_k;
    case TensorType::Q8_K: return decode_q8_k;
    case TensorType::IQ4_XS: return decode_iq4_xs;
    default: return nullptr;
    }
}

} // namespace

void dequantize_row(TensorType type, const void* src, float* dst, int64_t n) {
    const TensorTypeInfo& info = tensor_type_info(type); // throws for an unknown id
    if (!info.can_decode) {
        throw Error("cannot decode tensor type " + std::string(info.name) + " (id " +
                    std::to_string(static_cast<uint32_t>(type)) + ")");
    }
    if (n < 0 || n % info.block_size != 0) {
        throw Error("dequantize_row: " + std::to_string(n) + " elements is not a whole number of " +
                    std::string(info.name) + " blocks");
    }
    const auto* bytes = static_cast<const uint8_t*>(src);
    switch (type) {
    case TensorType::F32:
        if (n > 0) std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
        return;
    case TensorType::F16:
        for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(load_u16(bytes + 2 * i));
        return;
    case TensorType::BF16:
        for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(load_u16(bytes + 2 * i));
        return;
    default: break;
    }
    const BlockDecoder decode = block_decoder(type);
    if (!decode) throw Error("cannot decode tensor type " + std::string(info.name)); // table/switch mismatch
    const int64_t n_blocks = n / info.block_size;
    for (int64_t b = 0; b < n_blocks; ++b) decode(bytes + b * info.type_size, dst + b * info.block_size);
}

} // namespace latent
