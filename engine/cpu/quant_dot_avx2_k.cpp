// AVX2 kernels for the 256-value super-block types (Q2_K .. Q6_K, IQ4_XS) against Q8_K
// activations.
//
// Per super-block and token the integer part is accumulated in 8 int32 lanes: maddubs multiplies
// 32 weight bytes (unsigned, 0..63) by 32 activation bytes into 16 pair sums, and madd weights
// each pair by its sub-block's scale (a 16-value sub-block fills one 128-bit lane, a 32-value
// one the whole register). Offsets (Q3_K's -4, Q6_K's -32) and mins (Q2_K, Q4_K, Q5_K) are
// applied through the activations' 16-value sums, never per weight. One float multiply-add per
// super-block and token turns the integers into the result.
#include "cpu/avx2_common.h"

#if LATENT_HAVE_X86

LATENT_AVX2_BEGIN

namespace latent::cpu::avx2 {
namespace {

using namespace blocks;

// shuffle_epi8 masks that copy int16 number k (0..7) of a 128-bit lane to all 8 positions: in
// both lanes (broadcast), or k in the low lane and k + 1 in the high one (pair). Kept in memory
// and used as the shuffles' memory operands: built in registers (as _mm_set1_epi16 constants)
// GCC rematerialised several of them on every block (4 instructions each) for want of registers.
struct Int16Pickers {
    alignas(32) uint8_t broadcast[8][32];
    alignas(32) uint8_t pair[7][32];
};
constexpr Int16Pickers make_int16_pickers() {
    Int16Pickers p{};
    for (int k = 0; k < 8; ++k) {
        for (int i = 0; i < 32; ++i) {
            p.broadcast[k][i] = static_cast<uint8_t>(2 * k + (i & 1));                 // byte i & 1 of int16 k
            if (k < 7) p.pair[k][i] = static_cast<uint8_t>(2 * (k + i / 16) + (i & 1)); // k + 1 in the high lane
        }
    }
    return p;
}
alignas(32) constexpr Int16Pickers kInt16Pickers = make_int16_pickers();

// From 8 int16 held in both lanes: int16 k everywhere (32-value sub-blocks).
inline __m256i broadcast_int16(__m256i both_lanes, int k) {
    return _mm256_shuffle_epi8(both_lanes, load256(kInt16Pickers.broadcast[k]));
}

// From 8 int16 held in both lanes: int16 k in the low lane and k + 1 in the high lane (two
// 16-value sub-blocks that share 32 bytes).
inline __m256i pair_int16(__m256i both_lanes, int k) { return _mm256_shuffle_epi8(both_lanes, load256(kInt16Pickers.pair[k])); }

// The final float step shared by all types: acc += d_w * d_x * isum (- dmin_w * d_x * msum).
inline __m256 scale_and_add(__m256 acc, __m256i isum, float d_scale) {
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(d_scale), acc);
}

// ---- Q4_K / Q5_K ------------------------------------------------------------------------------

inline void unpack_k4_scales(const uint8_t* packed, __m256i& scales_both_lanes, __m256i& mins_per_16) {
    __m128i scales, mins;
    k4_scales_and_mins(packed, scales, mins);
    scales_both_lanes = _mm256_broadcastsi128_si256(scales);
    mins_per_16 = each_int16_twice(mins); // each min covers two 16-value activation sums
}

template <bool kFiveBit>
struct QK4Row {
    static constexpr size_t kBytes = kFiveBit ? q5_k::bytes : q4_k::bytes;
    static constexpr size_t kQs = kFiveBit ? q5_k::qs : q4_k::qs;

    template <int NT>
    static void run(const uint8_t* row, const TokenRows<NT>& x, int64_t cols, float* out) {
        __m256 acc[NT];
        for (int i = 0; i < NT; ++i) acc[i] = _mm256_setzero_ps();
        const int64_t n_blocks = cols / 256;
        const int distance = prefetch_distance();
        for (int64_t b = 0; b < n_blocks; ++b) {
            const uint8_t* block = row + b * static_cast<int64_t>(kBytes);
            prefetch_block<kBytes>(block, distance);
            const float d = f16_at(block + 0);
            const float dmin = f16_at(block + 2);
            __m256i scales, mins;
            unpack_k4_scales(block + 4, scales, mins);
            __m256i isum[NT];
            for (int i = 0; i < NT; ++i) isum[i] = _mm256_setzero_si256();
            [[maybe_unused]] __m256i high_bits;
            if constexpr (kFiveBit) high_bits = load256(block + q5_k::qh);
            for (int g = 0; g < 4; ++g) {
                __m256i lo, hi;
                unpack_qk4_pair<kFiveBit>(block + kQs + 32 * g, high_bits, lo, hi);
                const __m256i scale_lo = broadcast_int16(scales, 2 * g);
                const __m256i scale_hi = broadcast_int16(scales, 2 * g + 1);
                for (int i = 0; i < NT; ++i) {
                    const int8_t* xq = x.quants[i] + 256 * b + 64 * g;
                    const __m256i p_lo = dot_u8_s8_scaled(lo, load256(xq), scale_lo);
                    const __m256i p_hi = dot_u8_s8_scaled(hi, load256(xq + 32), scale_hi);
                    isum[i] = _mm256_add_epi32(isum[i], _mm256_add_epi32(p_lo, p_hi));
                }
            }
            for (int i = 0; i < NT; ++i) {
                const float dx = x.scales[i][b];
                const __m256i msum = _mm256_madd_epi16(load256(x.sums[i] + 16 * b), mins);
                acc[i] = scale_and_add(acc[i], isum[i], d * dx);
                acc[i] = scale_and_add(acc[i], msum, -dmin * dx);
            }
        }
        for (int i = 0; i < NT; ++i) out[i] = hsum(acc[i]);
    }
};

// ---- Q6_K ---------------------------------------------------------------------------------------

struct Q6KRow {
    template <int NT>
    static void run(const uint8_t* row, const TokenRows<NT>& x, int64_t cols, float* out) {
        __m256 acc[NT];
        for (int i = 0; i < NT; ++i) acc[i] = _mm256_setzero_ps();
        const int64_t n_blocks = cols / 256;
        const int distance = prefetch_distance();
        for (int64_t b = 0; b < n_blocks; ++b) {
            const uint8_t* block = row + b * static_cast<int64_t>(q6_k::bytes);
            prefetch_block<q6_k::bytes>(block, distance);
            const float d = f16_at(block + q6_k::d);
            const __m256i scales = _mm256_cvtepi8_epi16(load128(block + q6_k::scales));
            __m256i isum[NT];
            for (int i = 0; i < NT; ++i) isum[i] = _mm256_setzero_si256();
            for (int n = 0; n < 2; ++n) {
                // The 8 scales of this half in both lanes.
                const __m256i half_scales = n == 0 ? _mm256_permute2x128_si256(scales, scales, 0x00)
                                                   : _mm256_permute2x128_si256(scales, scales, 0x11);
                __m256i q[4];
                unpack_q6k_half(block, n, q);
                for (int t = 0; t < 4; ++t) {
                    const __m256i plane_scales = pair_int16(half_scales, 2 * t);
                    for (int i = 0; i < NT; ++i) {
                        const __m256i xq = load256(x.quants[i] + 256 * b + 128 * n + 32 * t);
                        isum[i] = _mm256_add_epi32(isum[i], dot_u8_s8_scaled(q[t], xq, plane_scales));
                    }
                }
            }
            for (int i = 0; i < NT; ++i) {
                // The stored values are q + 32: subtract 32 * sum(scale * activation sum).
                const __m256i offset = _mm256_madd_epi16(load256(x.sums[i] + 16 * b), scales);
                isum[i] = _mm256_sub_epi32(isum[i], _mm256_slli_epi32(offset, 5));
                acc[i] = scale_and_add(acc[i], isum[i], d * x.scales[i][b]);
            }
        }
        for (int i = 0; i < NT; ++i) out[i] = hsum(acc[i]);
    }
};

// ---- Q2_K / Q3_K --------------------------------------------------------------------------------

// Both types: two halves of 128 values, each four 2-bit planes of the same 32 bytes; a plane's
// 32 values are two 16-value sub-blocks with their own scales.
template <bool kThreeBit>
struct Q23KRow {
    static constexpr size_t kBytes = kThreeBit ? q3_k::bytes : q2_k::bytes;
    static constexpr size_t kQs = kThreeBit ? q3_k::qs : q2_k::qs;

    template <int NT>
    static void run(const uint8_t* row, const TokenRows<NT>& x, int64_t cols, float* out) {
        __m256 acc[NT];
        for (int i = 0; i < NT; ++i) acc[i] = _mm256_setzero_ps();
        const __m256i two_bits = _mm256_set1_epi8(0x03);
        const int64_t n_blocks = cols / 256;
        const int distance = prefetch_distance();
        for (int64_t b = 0; b < n_blocks; ++b) {
            const uint8_t* block = row + b * static_cast<int64_t>(kBytes);
            prefetch_block<kBytes>(block, distance);
            float d = 0.0f;
            float dmin = 0.0f;
            __m256i scales, mins = _mm256_setzero_si256();
            [[maybe_unused]] __m256i high_bits;
            if constexpr (kThreeBit) {
                d = f16_at(block + q3_k::d);
                scales = _mm256_cvtepi8_epi16(q3_k_scale_bytes(block + q3_k::scales));
                high_bits = load256(block + q3_k::hmask);
            } else {
                d = f16_at(block + q2_k::d);
                dmin = f16_at(block + q2_k::dmin);
                const __m128i packed = load128(block + q2_k::scales);
                scales = _mm256_cvtepu8_epi16(_mm_and_si128(packed, _mm_set1_epi8(0x0F)));
                mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0x0F)));
            }
            __m256i isum[NT];
            for (int i = 0; i < NT; ++i) isum[i] = _mm256_setzero_si256();
            for (int n = 0; n < 2; ++n) {
                const __m256i half_scales = n == 0 ? _mm256_permute2x128_si256(scales, scales, 0x00)
                                                   : _mm256_permute2x128_si256(scales, scales, 0x11);
                const __m256i packed = load256(block + kQs + 32 * n);
                for (int j = 0; j < 4; ++j) {
                    __m256i q = _mm256_and_si256(_mm256_srli_epi16(packed, 2 * j), two_bits);
                    if constexpr (kThreeBit) {
                        // hmask bit 4n + j of byte l is the third bit (value + 4) of value l.
                        q = _mm256_or_si256(q, _mm256_and_si256(_mm256_slli_epi16(high_bits, 2), _mm256_set1_epi8(0x04)));
                        high_bits = _mm256_srli_epi16(high_bits, 1);
                    }
                    const __m256i plane_scales = pair_int16(half_scales, 2 * j);
                    for (int i = 0; i < NT; ++i) {
                        const __m256i xq = load256(x.quants[i] + 256 * b + 128 * n + 32 * j);
                        isum[i] = _mm256_add_epi32(isum[i], dot_u8_s8_scaled(q, xq, plane_scales));
                    }
                }
            }
            for (int i = 0; i < NT; ++i) {
                const float dx = x.scales[i][b];
                const __m256i bsums = load256(x.sums[i] + 16 * b);
                if constexpr (kThreeBit) {
                    // The values above are q + 4: subtract 4 * sum(scale * activation sum).
                    isum[i] = _mm256_sub_epi32(isum[i], _mm256_slli_epi32(_mm256_madd_epi16(bsums, scales), 2));
                    acc[i] = scale_and_add(acc[i], isum[i], d * dx);
                } else {
                    acc[i] = scale_and_add(acc[i], isum[i], d * dx);
                    acc[i] = scale_and_add(acc[i], _mm256_madd_epi16(bsums, mins), -dmin * dx);
                }
            }
        }
        for (int i = 0; i < NT; ++i) out[i] = hsum(acc[i]);
    }
};

// ---- IQ4_XS -------------------------------------------------------------------------------------

struct Iq4XsRow {
    template <int NT>
    static void run(const uint8_t* row, const TokenRows<NT>& x, int64_t cols, float* out) {
        __m256 acc[NT];
        for (int i = 0; i < NT; ++i) acc[i] = _mm256_setzero_ps();
        const __m256i codebook = iq4_codebook();
        const int64_t n_blocks = cols / 256;
        const int distance = prefetch_distance();
        for (int64_t b = 0; b < n_blocks; ++b) {
            const uint8_t* block = row + b * static_cast<int64_t>(iq4_xs::bytes);
            prefetch_block<iq4_xs::bytes>(block, distance);
            const float d = f16_at(block + iq4_xs::d);
            const uint32_t scales_h = load_u16(block + iq4_xs::scales_h);
            const uint32_t scales_l = load_u32(block + iq4_xs::scales_l);
            __m256i isum[NT];
            for (int i = 0; i < NT; ++i) isum[i] = _mm256_setzero_si256();
            for (int k = 0; k < 8; ++k) {
                const int ls = static_cast<int>(((scales_l >> (4 * k)) & 0x0F) | (((scales_h >> (2 * k)) & 3) << 4));
                const __m256i scale = _mm256_set1_epi16(static_cast<short>(ls - 32));
                const __m256i w = _mm256_shuffle_epi8(codebook, nibbles_32(block + iq4_xs::qs + 16 * k));
                const __m256i w_abs = _mm256_sign_epi8(w, w);
                for (int i = 0; i < NT; ++i) {
                    const __m256i xs = _mm256_sign_epi8(load256(x.quants[i] + 256 * b + 32 * k), w);
                    isum[i] = _mm256_add_epi32(isum[i], dot_u8_s8_scaled(w_abs, xs, scale));
                }
            }
            for (int i = 0; i < NT; ++i) acc[i] = scale_and_add(acc[i], isum[i], d * x.scales[i][b]);
        }
        for (int i = 0; i < NT; ++i) out[i] = hsum(acc[i]);
    }
};

} // namespace
} // namespace latent::cpu::avx2

LATENT_AVX2_END

namespace latent::cpu::detail {

MatmulKernel avx2_k_kernel(TensorType type) {
    using namespace avx2;
    switch (type) {
    case TensorType::Q2_K: return matmul_rows<Q23KRow<false>>;
    case TensorType::Q3_K: return matmul_rows<Q23KRow<true>>;
    case TensorType::Q4_K: return matmul_rows<QK4Row<false>>;
    case TensorType::Q5_K: return matmul_rows<QK4Row<true>>;
    case TensorType::Q6_K: return matmul_rows<Q6KRow>;
    case TensorType::IQ4_XS: return matmul_rows<Iq4XsRow>;
    default: return nullptr;
    }
}

} // namespace latent::cpu::detail

#endif // LATENT_HAVE_X86
