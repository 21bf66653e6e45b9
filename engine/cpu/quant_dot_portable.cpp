// Portable matmul kernels for every decodable weight type, and the activation quantizer.
//
// Each weight block is first decoded into a small integer form (int8 values, integer scales and
// mins per 16 values, float block scales); one generic integer dot then serves all types of a
// family. Per block the float work is (d_w * d_x) * integer_sum, like the SIMD kernels, so the
// two differ only in float summation order.
#include "cpu/quant_dot_kernels.h"

#include "tensor/block_layouts.h"

#include <array>
#include <cfloat>
#include <cmath>
#include <limits>

namespace latent::cpu::detail {
namespace {

using namespace blocks;

// ---- activation quantization ------------------------------------------------------------------

// Nearest integer, ties to even, for |v| well below 2^22: adding 1.5 * 2^23 leaves the rounded
// value in the low mantissa bits. Matches _mm256_round_ps / cvtps in the SIMD quantizer.
float round_to_even(float v) {
    constexpr float kMagic = 12582912.0f;
    return (v + kMagic) - kMagic;
}

} // namespace

void quantize_activations_portable(const float* x, int64_t cols, int64_t n_tokens, int64_t block, int8_t* quants,
                                   float* scales, int16_t* sums) {
    const int64_t n_blocks = cols / block;
    const int64_t group = block == 32 ? 32 : 16;
    for (int64_t t = 0; t < n_tokens; ++t) {
        for (int64_t b = 0; b < n_blocks; ++b) {
            const float* v = x + t * cols + b * block;
            int8_t* q = quants + t * cols + b * block;
            float amax = 0.0f;
            bool finite = true;
            for (int64_t j = 0; j < block; ++j) {
                const float a = std::fabs(v[j]);
                finite = finite && a <= FLT_MAX;
                amax = a > amax ? a : amax;
            }
            float d = 0.0f;
            if (!finite) {
                d = std::numeric_limits<float>::quiet_NaN();
                for (int64_t j = 0; j < block; ++j) q[j] = 0;
            } else if (amax < 1e-30f) {
                for (int64_t j = 0; j < block; ++j) q[j] = 0; // (also keeps 127 / amax finite)
            } else {
                d = amax / 127.0f;
                const float inverse = 127.0f / amax;
                for (int64_t j = 0; j < block; ++j) {
                    const float r = std::fmin(std::fmax(round_to_even(v[j] * inverse), -127.0f), 127.0f);
                    q[j] = static_cast<int8_t>(r);
                }
            }
            scales[t * n_blocks + b] = d;
            for (int64_t g = 0; g < block / group; ++g) {
                int sum = 0;
                for (int64_t j = 0; j < group; ++j) sum += q[g * group + j];
                sums[t * (cols / group) + b * (block / group) + g] = static_cast<int16_t>(sum);
            }
        }
    }
}

namespace {

// ---- 32-value blocks ------------------------------------------------------------------------

// A decoded 32-value block: x_j = d * q_j + m.
struct Block32 {
    float d = 0.0f;
    float m = 0.0f;
    int8_t q[32];
};

// Low nibbles are values 0-15, high nibbles 16-31.
void split_nibbles(const uint8_t* qs, int8_t* q, int offset) {
    for (int j = 0; j < 16; ++j) {
        q[j] = static_cast<int8_t>((qs[j] & 0x0F) - offset);
        q[j + 16] = static_cast<int8_t>((qs[j] >> 4) - offset);
    }
}

void add_fifth_bits(uint32_t qh, int8_t* q) {
    for (int j = 0; j < 32; ++j) q[j] = static_cast<int8_t>(q[j] + static_cast<int>(((qh >> j) & 1u) << 4));
}

struct DecodeQ4_0 {
    static constexpr size_t kBytes = q4_0::bytes;
    static constexpr bool kHasMin = false;
    static void decode(const uint8_t* b, Block32& out) {
        out.d = load_f16(b + q4_0::d);
        split_nibbles(b + q4_0::qs, out.q, 8);
    }
};
struct DecodeQ4_1 {
    static constexpr size_t kBytes = q4_1::bytes;
    static constexpr bool kHasMin = true;
    static void decode(const uint8_t* b, Block32& out) {
        out.d = load_f16(b + q4_1::d);
        out.m = load_f16(b + q4_1::m);
        split_nibbles(b + q4_1::qs, out.q, 0);
    }
};
struct DecodeQ5_0 {
    static constexpr size_t kBytes = q5_0::bytes;
    static constexpr bool kHasMin = false;
    static void decode(const uint8_t* b, Block32& out) {
        out.d = load_f16(b + q5_0::d);
        split_nibbles(b + q5_0::qs, out.q, 0);
        add_fifth_bits(load_u32(b + q5_0::qh), out.q);
        for (int8_t& q : out.q) q = static_cast<int8_t>(q - 16);
    }
};
struct DecodeQ5_1 {
    static constexpr size_t kBytes = q5_1::bytes;
    static constexpr bool kHasMin = true;
    static void decode(const uint8_t* b, Block32& out) {
        out.d = load_f16(b + q5_1::d);
        out.m = load_f16(b + q5_1::m);
        split_nibbles(b + q5_1::qs, out.q, 0);
        add_fifth_bits(load_u32(b + q5_1::qh), out.q);
    }
};
struct DecodeQ8_0 {
    static constexpr size_t kBytes = q8_0::bytes;
    static constexpr bool kHasMin = false;
    static void decode(const uint8_t* b, Block32& out) {
        out.d = load_f16(b + q8_0::d);
        for (int j = 0; j < 32; ++j) out.q[j] = static_cast<int8_t>(b[q8_0::qs + j]);
    }
};
struct DecodeIq4Nl {
    static constexpr size_t kBytes = iq4_nl::bytes;
    static constexpr bool kHasMin = false;
    static void decode(const uint8_t* b, Block32& out) {
        out.d = load_f16(b + iq4_nl::d);
        const uint8_t* qs = b + iq4_nl::qs;
        for (int j = 0; j < 16; ++j) {
            out.q[j] = kIq4nlCodebook[qs[j] & 0x0F];
            out.q[j + 16] = kIq4nlCodebook[qs[j] >> 4];
        }
    }
};

int dot32(const int8_t* a, const int8_t* b) {
    int sum = 0;
    for (int j = 0; j < 32; ++j) sum += a[j] * b[j];
    return sum;
}

template <class Decoder>
void matmul_block32(const WeightMatrix& w, const ActivationView& x, int64_t row_begin, int64_t row_end,
                    int64_t token_begin, int64_t token_end, float* y, int64_t y_stride) {
    const int64_t n_blocks = w.cols / 32;
    for_each_tile<4>(row_begin, row_end, token_begin, token_end, [&]<int NT>(int64_t r, int64_t t0) {
        const uint8_t* row = w.data + r * static_cast<int64_t>(w.row_bytes);
        float acc[NT] = {};
        Block32 block;
        for (int64_t b = 0; b < n_blocks; ++b) {
            Decoder::decode(row + b * static_cast<int64_t>(Decoder::kBytes), block);
            for (int i = 0; i < NT; ++i) {
                const int64_t t = t0 + i;
                const float dx = x.scales[t * x.scales_per_token + b];
                const int isum = dot32(block.q, x.quants + t * x.cols + b * 32);
                acc[i] += (block.d * dx) * static_cast<float>(isum);
                if constexpr (Decoder::kHasMin) {
                    acc[i] += block.m * (dx * static_cast<float>(x.sums[t * x.sums_per_token + b]));
                }
            }
        }
        for (int i = 0; i < NT; ++i) y[(t0 + i) * y_stride + r] = acc[i];
    });
}

// ---- 256-value super-blocks -------------------------------------------------------------------

// A decoded super-block: x_e = d * scale[e/16] * q_e - dmin * min[e/16].
struct SuperBlock {
    float d = 0.0f;
    float dmin = 0.0f;
    int scale[16];
    int min[16];
    int8_t q[256];
};

struct DecodeQ2_K {
    static constexpr size_t kBytes = q2_k::bytes;
    static constexpr bool kHasMin = true;
    static void decode(const uint8_t* b, SuperBlock& out) {
        out.d = load_f16(b + q2_k::d);
        out.dmin = load_f16(b + q2_k::dmin);
        for (int g = 0; g < 16; ++g) {
            out.scale[g] = b[q2_k::scales + g] & 0x0F;
            out.min[g] = b[q2_k::scales + g] >> 4;
        }
        for (int n = 0; n < 2; ++n) {
            for (int j = 0; j < 4; ++j) {
                for (int l = 0; l < 32; ++l) {
                    out.q[128 * n + 32 * j + l] = static_cast<int8_t>((b[q2_k::qs + 32 * n + l] >> (2 * j)) & 3);
                }
            }
        }
    }
};

struct DecodeQ3_K {
    static constexpr size_t kBytes = q3_k::bytes;
    static constexpr bool kHasMin = false;
    static void decode(const uint8_t* b, SuperBlock& out) {
        out.d = load_f16(b + q3_k::d);
        const uint8_t* packed = b + q3_k::scales;
        for (int i = 0; i < 16; ++i) {
            const int low4 = i < 8 ? (packed[i] & 0x0F) : (packed[i - 8] >> 4);
            const int high2 = (packed[8 + i % 4] >> (2 * (i / 4))) & 3;
            out.scale[i] = (low4 | (high2 << 4)) - 32;
        }
        for (int n = 0; n < 2; ++n) {
            for (int j = 0; j < 4; ++j) {
                for (int l = 0; l < 32; ++l) {
                    const int low = (b[q3_k::qs + 32 * n + l] >> (2 * j)) & 3;
                    const int high = (b[q3_k::hmask + l] >> (4 * n + j)) & 1;
                    out.q[128 * n + 32 * j + l] = static_cast<int8_t>(low - (high ? 0 : 4));
                }
            }
        }
    }
};

// Q4_K / Q5_K: eight 32-value sub-blocks with 6-bit scale and min each.
void decode_k4_scales(const uint8_t* packed, SuperBlock& out) {
    for (int k = 0; k < 8; ++k) {
        uint8_t sc = 0, m = 0;
        unpack_scale_min_k4(packed, k, sc, m);
        out.scale[2 * k] = out.scale[2 * k + 1] = sc;
        out.min[2 * k] = out.min[2 * k + 1] = m;
    }
}

struct DecodeQ4_K {
    static constexpr size_t kBytes = q4_k::bytes;
    static constexpr bool kHasMin = true;
    static void decode(const uint8_t* b, SuperBlock& out) {
        out.d = load_f16(b + q4_k::d);
        out.dmin = load_f16(b + q4_k::dmin);
        decode_k4_scales(b + q4_k::scales, out);
        for (int g = 0; g < 4; ++g) {
            for (int l = 0; l < 32; ++l) {
                const uint8_t byte = b[q4_k::qs + 32 * g + l];
                out.q[64 * g + l] = static_cast<int8_t>(byte & 0x0F);
                out.q[64 * g + 32 + l] = static_cast<int8_t>(byte >> 4);
            }
        }
    }
};

struct DecodeQ5_K {
    static constexpr size_t kBytes = q5_k::bytes;
    static constexpr bool kHasMin = true;
    static void decode(const uint8_t* b, SuperBlock& out) {
        out.d = load_f16(b + q5_k::d);
        out.dmin = load_f16(b + q5_k::dmin);
        decode_k4_scales(b + q5_k::scales, out);
        const uint8_t* qh = b + q5_k::qh;
        for (int g = 0; g < 4; ++g) {
            for (int l = 0; l < 32; ++l) {
                const uint8_t byte = b[q5_k::qs + 32 * g + l];
                out.q[64 * g + l] = static_cast<int8_t>((byte & 0x0F) | (((qh[l] >> (2 * g)) & 1) << 4));
                out.q[64 * g + 32 + l] = static_cast<int8_t>((byte >> 4) | (((qh[l] >> (2 * g + 1)) & 1) << 4));
            }
        }
    }
};

struct DecodeQ6_K {
    static constexpr size_t kBytes = q6_k::bytes;
    static constexpr bool kHasMin = false;
    static void decode(const uint8_t* b, SuperBlock& out) {
        out.d = load_f16(b + q6_k::d);
        for (int g = 0; g < 16; ++g) out.scale[g] = static_cast<int8_t>(b[q6_k::scales + g]);
        for (int n = 0; n < 2; ++n) {
            const uint8_t* ql = b + q6_k::ql + 64 * n;
            const uint8_t* qh = b + q6_k::qh + 32 * n;
            for (int t = 0; t < 4; ++t) {
                for (int l = 0; l < 32; ++l) {
                    const uint8_t low_byte = ql[32 * (t % 2) + l];
                    const int low = t < 2 ? (low_byte & 0x0F) : (low_byte >> 4);
                    const int high = (qh[l] >> (2 * t)) & 3;
                    out.q[128 * n + 32 * t + l] = static_cast<int8_t>((low | (high << 4)) - 32);
                }
            }
        }
    }
};

struct DecodeQ8_K {
    static constexpr size_t kBytes = q8_k::bytes;
    static constexpr bool kHasMin = false;
    static void decode(const uint8_t* b, SuperBlock& out) {
        out.d = load_f32(b + q8_k::d);
        for (int g = 0; g < 16; ++g) out.scale[g] = 1;
        for (int e = 0; e < 256; ++e) out.q[e] = static_cast<int8_t>(b[q8_k::qs + e]);
    }
};

struct DecodeIq4Xs {
    static constexpr size_t kBytes = iq4_xs::bytes;
    static constexpr bool kHasMin = false;
    static void decode(const uint8_t* b, SuperBlock& out) {
        out.d = load_f16(b + iq4_xs::d);
        const uint16_t scales_h = load_u16(b + iq4_xs::scales_h);
        const uint8_t* scales_l = b + iq4_xs::scales_l;
        for (int ib = 0; ib < 8; ++ib) {
            const int ls = ((scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0F) | (((scales_h >> (2 * ib)) & 3) << 4);
            out.scale[2 * ib] = out.scale[2 * ib + 1] = ls - 32;
            const uint8_t* qs = b + iq4_xs::qs + 16 * ib;
            for (int j = 0; j < 16; ++j) {
                out.q[32 * ib + j] = kIq4nlCodebook[qs[j] & 0x0F];
                out.q[32 * ib + j + 16] = kIq4nlCodebook[qs[j] >> 4];
            }
        }
    }
};

template <class Decoder>
void matmul_superblock(const WeightMatrix& w, const ActivationView& x, int64_t row_begin, int64_t row_end,
                       int64_t token_begin, int64_t token_end, float* y, int64_t y_stride) {
    const int64_t n_blocks = w.cols / 256;
    for_each_tile<4>(row_begin, row_end, token_begin, token_end, [&]<int NT>(int64_t r, int64_t t0) {
        const uint8_t* row = w.data + r * static_cast<int64_t>(w.row_bytes);
        float acc[NT] = {};
        SuperBlock block;
        for (int64_t b = 0; b < n_blocks; ++b) {
            Decoder::decode(row + b * static_cast<int64_t>(Decoder::kBytes), block);
            for (int i = 0; i < NT; ++i) {
                const int64_t t = t0 + i;
                const int8_t* xq = x.quants + t * x.cols + b * 256;
                const int16_t* bsums = x.sums + t * x.sums_per_token + b * 16;
                int isum = 0;
                for (int g = 0; g < 16; ++g) {
                    int group_sum = 0;
                    for (int j = 0; j < 16; ++j) group_sum += block.q[16 * g + j] * xq[16 * g + j];
                    isum += block.scale[g] * group_sum;
                }
                const float dx = x.scales[t * x.scales_per_token + b];
                acc[i] += (block.d * dx) * static_cast<float>(isum);
                if constexpr (Decoder::kHasMin) {
                    int min_sum = 0;
                    for (int g = 0; g < 16; ++g) min_sum += block.min[g] * bsums[g];
                    acc[i] -= (block.dmin * dx) * static_cast<float>(min_sum);
                }
            }
        }
        for (int i = 0; i < NT; ++i) y[(t0 + i) * y_stride + r] = acc[i];
    });
}

// ---- float weights ------------------------------------------------------------------------------

const float* f16_table() {
    static const auto* table = [] {
        auto* values = new std::array<float, 65536>;
        for (uint32_t h = 0; h < 65536; ++h) (*values)[h] = fp16_to_fp32(static_cast<uint16_t>(h));
        return values;
    }();
    return table->data();
}

struct LoadF32 {
    static void load(const uint8_t* row, int64_t i, int n, float* out) {
        for (int j = 0; j < n; ++j) out[j] = load_f32(row + 4 * (i + j));
    }
};
struct LoadF16 {
    static void load(const uint8_t* row, int64_t i, int n, float* out) {
        const float* table = f16_table();
        for (int j = 0; j < n; ++j) out[j] = table[load_u16(row + 2 * (i + j))];
    }
};
struct LoadBf16 {
    static void load(const uint8_t* row, int64_t i, int n, float* out) {
        for (int j = 0; j < n; ++j) out[j] = bf16_to_fp32(load_u16(row + 2 * (i + j)));
    }
};

template <class Loader>
void matmul_float(const WeightMatrix& w, const ActivationView& x, int64_t row_begin, int64_t row_end,
                  int64_t token_begin, int64_t token_end, float* y, int64_t y_stride) {
    constexpr int kChunk = 64;
    constexpr int kLanes = 8;
    for_each_tile<4>(row_begin, row_end, token_begin, token_end, [&]<int NT>(int64_t r, int64_t t0) {
        const uint8_t* row = w.data + r * static_cast<int64_t>(w.row_bytes);
        float acc[NT][kLanes] = {};
        float wv[kChunk];
        for (int64_t i = 0; i < w.cols; i += kChunk) {
            const int n = static_cast<int>(std::min<int64_t>(kChunk, w.cols - i));
            Loader::load(row, i, n, wv);
            for (int k = 0; k < NT; ++k) {
                const float* xv = x.values + (t0 + k) * x.cols + i;
                for (int j = 0; j < n; ++j) acc[k][j % kLanes] += wv[j] * xv[j];
            }
        }
        for (int k = 0; k < NT; ++k) {
            float sum = 0.0f;
            for (int lane = 0; lane < kLanes; ++lane) sum += acc[k][lane];
            y[(t0 + k) * y_stride + r] = sum;
        }
    });
}

} // namespace

MatmulKernel portable_kernel(TensorType type) {
    switch (type) {
    case TensorType::F32: return matmul_float<LoadF32>;
    case TensorType::F16: return matmul_float<LoadF16>;
    case TensorType::BF16: return matmul_float<LoadBf16>;
    case TensorType::Q4_0: return matmul_block32<DecodeQ4_0>;
    case TensorType::Q4_1: return matmul_block32<DecodeQ4_1>;
    case TensorType::Q5_0: return matmul_block32<DecodeQ5_0>;
    case TensorType::Q5_1: return matmul_block32<DecodeQ5_1>;
    case TensorType::Q8_0: return matmul_block32<DecodeQ8_0>;
    case TensorType::IQ4_NL: return matmul_block32<DecodeIq4Nl>;
    case TensorType::Q2_K: return matmul_superblock<DecodeQ2_K>;
    case TensorType::Q3_K: return matmul_superblock<DecodeQ3_K>;
    case TensorType::Q4_K: return matmul_superblock<DecodeQ4_K>;
    case TensorType::Q5_K: return matmul_superblock<DecodeQ5_K>;
    case TensorType::Q6_K: return matmul_superblock<DecodeQ6_K>;
    case TensorType::Q8_K: return matmul_superblock<DecodeQ8_K>;
    case TensorType::IQ4_XS: return matmul_superblock<DecodeIq4Xs>;
    default: return nullptr;
    }
}

} // namespace latent::cpu::detail
