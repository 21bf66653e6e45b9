// AVX-512 VNNI matmul for batches of tokens (prompt processing); the AVX-512 per-row kernels
// are in quant_dot_avx512_rows.cpp.
//
// One-token decode streams every weight once and is bound by memory; a batch reuses each weight
// for every token and is bound by arithmetic, so it gets a GEMM-style kernel:
//
//  1. Panel: 16 weight rows are decoded into a common form, W[r][i] = S[r][k] * q[r][i] - M[r][k]
//     for sub-block k = i / sub (sub = 16 or 32 values, the type's scale granularity), with q a
//     signed byte, S and M floats (M only for the types with a minimum). The bytes are stored
//     interleaved: for every 4 consecutive values, 64 bytes holding those 4 values of each of the
//     16 rows, so one zmm register carries 16 rows.
//  2. Micro-kernel: for up to 8 tokens at once, vpdpbusd multiplies the panel register by the
//     token's 4 activation bytes broadcast to all lanes and accumulates one int32 per row. After
//     each sub-block the int32 sums are converted and scaled (S, and the activation scale d_x)
//     into float accumulators. 8 multiply-accumulates of 64 bytes then cost about 3 more vector
//     operations, instead of 3 per 32 bytes in the per-row AVX2 kernels.
//
// vpdpbusd multiplies unsigned by signed bytes; the activations are made unsigned by adding 128
// (x ^ 0x80), and the excess 128 * sum(q) of each row and sub-block is subtracted exactly, in
// integers, by starting the sub-block's accumulator at -128 * sum(q).

// GCC 12's AVX-512 intrinsics pass an "undefined" register as the unused merge source, which
// -Wmaybe-uninitialized reports after inlining, located in the header: silence it for this file
// (before any header can pull in immintrin.h).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "cpu/avx2_common.h"
#include "cpu/thread_pool.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__)
#define LATENT_HAVE_AVX512 1
#else
#define LATENT_HAVE_AVX512 0
#endif

namespace latent::cpu::detail {

bool cpu_has_avx512() {
#if LATENT_HAVE_AVX512
    static const bool supported = cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
                                  __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                                  __builtin_cpu_supports("avx512vnni");
    return supported;
#else
    return false;
#endif
}

} // namespace latent::cpu::detail

#if LATENT_HAVE_AVX512

namespace latent::cpu::avx512 {
namespace {

using namespace blocks;
using detail::ActivationView;

constexpr int kPanelRows = 16;     // rows per panel: one zmm of int32 sums
constexpr int kMaxTileTokens = 8;  // tokens per micro-kernel call: 8 sums + 16 float accumulators in registers

// Decodes one row into signed bytes q (cols) and the scale S and minimum M of each sub-block
// (cols / sub each; M only for the types with a minimum). Weights are prefetched `prefetch`
// bytes ahead.
using RowDecoder = void (*)(const uint8_t* row, int64_t cols, int8_t* q, float* scales, float* mins, int prefetch);

// The common form of one type: sub-block size, whether it has a minimum, and its decoder.
struct RowForm {
    int sub = 32;
    bool has_min = false;
    RowDecoder decode = nullptr;
};

} // namespace
} // namespace latent::cpu::avx512

LATENT_AVX512_BEGIN

namespace latent::cpu::avx512 {
namespace {

using avx2::f16_at;
using avx2::fifth_bits_as_bytes;
using avx2::iq4_codebook;
using avx2::load128;
using avx2::load256;
using avx2::nibbles_32;
using avx2::prefetch_block;

inline void store256(void* p, __m256i v) { _mm256_storeu_si256(static_cast<__m256i*>(p), v); }

// ---- row decoders into the common form ------------------------------------------------------

// Eight integer scales (int32 lanes) times a float factor, stored as 8 floats.
inline void store_scaled(float* out, __m256i ints, float factor) {
    _mm256_storeu_ps(out, _mm256_mul_ps(_mm256_cvtepi32_ps(ints), _mm256_set1_ps(factor)));
}

// Decoders of the 32-value types: Block::values(block) gives the 32 signed bytes; S = d, and
// M = -m for the types with a minimum (x = d q + m).
template <class Block>
void decode_block32(const uint8_t* row, int64_t cols, int8_t* q, float* scales, float* mins, int prefetch) {
    for (int64_t b = 0; b < cols / 32; ++b) {
        const uint8_t* block = row + b * static_cast<int64_t>(Block::kBytes);
        prefetch_block<Block::kBytes>(block, prefetch);
        store256(q + 32 * b, Block::values(block));
        scales[b] = f16_at(block);
        if constexpr (Block::kHasMin) mins[b] = -f16_at(block + 2);
    }
}

struct Q4_0 {
    static constexpr size_t kBytes = q4_0::bytes;
    static constexpr bool kHasMin = false;
    static __m256i values(const uint8_t* b) { return _mm256_sub_epi8(nibbles_32(b + q4_0::qs), _mm256_set1_epi8(8)); }
};
struct Q4_1 {
    static constexpr size_t kBytes = q4_1::bytes;
    static constexpr bool kHasMin = true;
    static __m256i values(const uint8_t* b) { return nibbles_32(b + q4_1::qs); }
};
struct Q5_0 {
    static constexpr size_t kBytes = q5_0::bytes;
    static constexpr bool kHasMin = false;
    // q - 16: the low nibble with 0xF0 or-ed in where the fifth bit is clear.
    static __m256i values(const uint8_t* b) {
        const __m256i high = fifth_bits_as_bytes(load_u32(b + q5_0::qh));
        return _mm256_or_si256(nibbles_32(b + q5_0::qs), _mm256_andnot_si256(high, _mm256_set1_epi8(static_cast<char>(0xF0))));
    }
};
struct Q5_1 {
    static constexpr size_t kBytes = q5_1::bytes;
    static constexpr bool kHasMin = true;
    static __m256i values(const uint8_t* b) {
        const __m256i high = fifth_bits_as_bytes(load_u32(b + q5_1::qh));
        return _mm256_or_si256(nibbles_32(b + q5_1::qs), _mm256_and_si256(high, _mm256_set1_epi8(0x10)));
    }
};
struct Q8_0 {
    static constexpr size_t kBytes = q8_0::bytes;
    static constexpr bool kHasMin = false;
    static __m256i values(const uint8_t* b) { return load256(b + q8_0::qs); }
};
struct Iq4Nl {
    static constexpr size_t kBytes = iq4_nl::bytes;
    static constexpr bool kHasMin = false;
    static __m256i values(const uint8_t* b) { return _mm256_shuffle_epi8(iq4_codebook(), nibbles_32(b + iq4_nl::qs)); }
};

// Q4_K / Q5_K: the eight 6-bit scales and mins four per 32-bit word (see get_scale_min_k4):
// scales/mins 0-3 are the low 6 bits of bytes 0-3 / 4-7; 4-7 take their low nibbles from bytes
// 8-11 and their top 2 bits from the top of bytes 0-3 / 4-7.
template <bool kFiveBit>
void decode_qk4(const uint8_t* row, int64_t cols, int8_t* q, float* scales, float* mins, int prefetch) {
    constexpr size_t kBytes = kFiveBit ? q5_k::bytes : q4_k::bytes;
    constexpr size_t kQs = kFiveBit ? q5_k::qs : q4_k::qs;
    for (int64_t b = 0; b < cols / 256; ++b) {
        const uint8_t* block = row + b * static_cast<int64_t>(kBytes);
        prefetch_block<kBytes>(block, prefetch);
        const uint32_t u0 = load_u32(block + 4);
        const uint32_t u1 = load_u32(block + 8);
        const uint32_t u2 = load_u32(block + 12);
        const uint32_t scales_lo = u0 & 0x3F3F3F3Fu;
        const uint32_t mins_lo = u1 & 0x3F3F3F3Fu;
        const uint32_t scales_hi = (u2 & 0x0F0F0F0Fu) | (((u0 >> 6) & 0x03030303u) << 4);
        const uint32_t mins_hi = ((u2 >> 4) & 0x0F0F0F0Fu) | (((u1 >> 6) & 0x03030303u) << 4);
        store_scaled(scales + 8 * b, _mm256_cvtepu8_epi32(_mm_set_epi32(0, 0, static_cast<int>(scales_hi), static_cast<int>(scales_lo))),
                     f16_at(block + 0));
        store_scaled(mins + 8 * b, _mm256_cvtepu8_epi32(_mm_set_epi32(0, 0, static_cast<int>(mins_hi), static_cast<int>(mins_lo))),
                     f16_at(block + 2));
        [[maybe_unused]] __m256i high_bits;
        if constexpr (kFiveBit) high_bits = load256(block + q5_k::qh);
        for (int g = 0; g < 4; ++g) {
            __m256i lo, hi;
            avx2::unpack_qk4_pair<kFiveBit>(block + kQs + 32 * g, high_bits, lo, hi);
            store256(q + 256 * b + 64 * g, lo);
            store256(q + 256 * b + 64 * g + 32, hi);
        }
    }
}

void decode_q6_k(const uint8_t* row, int64_t cols, int8_t* q, float* scales, float*, int prefetch) {
    const __m256i offset = _mm256_set1_epi8(32);
    for (int64_t b = 0; b < cols / 256; ++b) {
        const uint8_t* block = row + b * static_cast<int64_t>(q6_k::bytes);
        prefetch_block<q6_k::bytes>(block, prefetch);
        const float d = f16_at(block + q6_k::d);
        const __m128i packed_scales = load128(block + q6_k::scales);
        store_scaled(scales + 16 * b, _mm256_cvtepi8_epi32(packed_scales), d);
        store_scaled(scales + 16 * b + 8, _mm256_cvtepi8_epi32(_mm_srli_si128(packed_scales, 8)), d);
        for (int n = 0; n < 2; ++n) {
            __m256i planes[4];
            avx2::unpack_q6k_half(block, n, planes);
            for (int t = 0; t < 4; ++t) store256(q + 256 * b + 128 * n + 32 * t, _mm256_sub_epi8(planes[t], offset));
        }
    }
}

// The 16 Q3_K scales, unbiased (-32..31), as bytes: byte i's low 4 bits are nibble i of bytes
// 0-7 (low nibbles first), its top 2 bits the 2-bit field i/4 of byte 8 + i%4.
inline __m128i q3_k_scales(const uint8_t* packed) {
    const uint32_t a0 = load_u32(packed);
    const uint32_t a1 = load_u32(packed + 4);
    const uint32_t high = load_u32(packed + 8);
    const uint32_t s0 = (a0 & 0x0F0F0F0Fu) | ((high & 0x03030303u) << 4);
    const uint32_t s1 = (a1 & 0x0F0F0F0Fu) | (((high >> 2) & 0x03030303u) << 4);
    const uint32_t s2 = ((a0 >> 4) & 0x0F0F0F0Fu) | (((high >> 4) & 0x03030303u) << 4);
    const uint32_t s3 = ((a1 >> 4) & 0x0F0F0F0Fu) | (((high >> 6) & 0x03030303u) << 4);
    const __m128i biased = _mm_set_epi32(static_cast<int>(s3), static_cast<int>(s2), static_cast<int>(s1), static_cast<int>(s0));
    return _mm_sub_epi8(biased, _mm_set1_epi8(32));
}

template <bool kThreeBit>
void decode_q23_k(const uint8_t* row, int64_t cols, int8_t* q, float* scales, float* mins, int prefetch) {
    constexpr size_t kBytes = kThreeBit ? q3_k::bytes : q2_k::bytes;
    constexpr size_t kQs = kThreeBit ? q3_k::qs : q2_k::qs;
    const __m256i two_bits = _mm256_set1_epi8(0x03);
    for (int64_t b = 0; b < cols / 256; ++b) {
        const uint8_t* block = row + b * static_cast<int64_t>(kBytes);
        prefetch_block<kBytes>(block, prefetch);
        [[maybe_unused]] __m256i high_bits;
        if constexpr (kThreeBit) {
            const float d = f16_at(block + q3_k::d);
            const __m128i packed_scales = q3_k_scales(block + q3_k::scales);
            store_scaled(scales + 16 * b, _mm256_cvtepi8_epi32(packed_scales), d);
            store_scaled(scales + 16 * b + 8, _mm256_cvtepi8_epi32(_mm_srli_si128(packed_scales, 8)), d);
            high_bits = load256(block + q3_k::hmask);
        } else {
            const float d = f16_at(block + q2_k::d);
            const float dmin = f16_at(block + q2_k::dmin);
            const __m128i packed = load128(block + q2_k::scales);
            const __m128i low = _mm_and_si128(packed, _mm_set1_epi8(0x0F));
            const __m128i high = _mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0x0F));
            store_scaled(scales + 16 * b, _mm256_cvtepu8_epi32(low), d);
            store_scaled(scales + 16 * b + 8, _mm256_cvtepu8_epi32(_mm_srli_si128(low, 8)), d);
            store_scaled(mins + 16 * b, _mm256_cvtepu8_epi32(high), dmin);
            store_scaled(mins + 16 * b + 8, _mm256_cvtepu8_epi32(_mm_srli_si128(high, 8)), dmin);
        }
        for (int n = 0; n < 2; ++n) {
            const __m256i packed = load256(block + kQs + 32 * n);
            for (int j = 0; j < 4; ++j) {
                __m256i v = _mm256_and_si256(_mm256_srli_epi16(packed, 2 * j), two_bits);
                if constexpr (kThreeBit) {
                    // (q2 | h << 2) - 4: a set high bit means no -4.
                    v = _mm256_or_si256(v, _mm256_and_si256(_mm256_slli_epi16(high_bits, 2), _mm256_set1_epi8(0x04)));
                    high_bits = _mm256_srli_epi16(high_bits, 1);
                    v = _mm256_sub_epi8(v, _mm256_set1_epi8(4));
                }
                store256(q + 256 * b + 128 * n + 32 * j, v);
            }
        }
    }
}

void decode_iq4_xs(const uint8_t* row, int64_t cols, int8_t* q, float* scales, float*, int prefetch) {
    const __m256i codebook = iq4_codebook();
    for (int64_t b = 0; b < cols / 256; ++b) {
        const uint8_t* block = row + b * static_cast<int64_t>(iq4_xs::bytes);
        prefetch_block<iq4_xs::bytes>(block, prefetch);
        const float d = f16_at(block + iq4_xs::d);
        const uint32_t scales_h = load_u16(block + iq4_xs::scales_h);
        const uint32_t scales_l = load_u32(block + iq4_xs::scales_l);
        for (int k = 0; k < 8; ++k) {
            const int ls = static_cast<int>(((scales_l >> (4 * k)) & 0x0F) | (((scales_h >> (2 * k)) & 3) << 4));
            scales[8 * b + k] = d * static_cast<float>(ls - 32);
            store256(q + 256 * b + 32 * k, _mm256_shuffle_epi8(codebook, nibbles_32(block + iq4_xs::qs + 16 * k)));
        }
    }
}

void decode_q8_k(const uint8_t* row, int64_t cols, int8_t* q, float* scales, float*, int prefetch) {
    for (int64_t b = 0; b < cols / 256; ++b) {
        const uint8_t* block = row + b * static_cast<int64_t>(q8_k::bytes);
        prefetch_block<q8_k::bytes>(block, prefetch);
        std::memcpy(q + 256 * b, block + q8_k::qs, 256);
        _mm256_storeu_ps(scales + 8 * b, _mm256_set1_ps(load_f32(block + q8_k::d)));
    }
}

RowForm row_form(TensorType type) {
    switch (type) {
    case TensorType::Q4_0: return {32, false, decode_block32<Q4_0>};
    case TensorType::Q4_1: return {32, true, decode_block32<Q4_1>};
    case TensorType::Q5_0: return {32, false, decode_block32<Q5_0>};
    case TensorType::Q5_1: return {32, true, decode_block32<Q5_1>};
    case TensorType::Q8_0: return {32, false, decode_block32<Q8_0>};
    case TensorType::IQ4_NL: return {32, false, decode_block32<Iq4Nl>};
    case TensorType::Q2_K: return {16, true, decode_q23_k<false>};
    case TensorType::Q3_K: return {16, false, decode_q23_k<true>};
    case TensorType::Q4_K: return {32, true, decode_qk4<false>};
    case TensorType::Q5_K: return {32, true, decode_qk4<true>};
    case TensorType::Q6_K: return {16, false, decode_q6_k};
    case TensorType::IQ4_XS: return {32, false, decode_iq4_xs};
    case TensorType::Q8_K: return {32, false, decode_q8_k};
    default: return {};
    }
}

// ---- the panel ----------------------------------------------------------------------------------

// 16 rows in the micro-kernel's layout, plus the row-major scratch it is built from. One per
// thread, grown on demand and reused.
struct Panel {
    int64_t cols = 0;
    int64_t n_sub = 0;
    int64_t n_sub_padded = 0;       // n_sub rounded up to 8 for the transposes
    AlignedArray<int8_t> rows;      // (16, cols) decoded values, row-major
    AlignedArray<float> row_scales; // (16, n_sub_padded)
    AlignedArray<float> row_mins;   // (16, n_sub_padded)
    AlignedArray<int8_t> quants;    // (cols / 4, 16, 4): 4 values of each of the 16 rows
    AlignedArray<float> scales;     // (n_sub_padded, 16) S
    AlignedArray<float> mins;       // (n_sub_padded, 16) M
    AlignedArray<int32_t> start;    // (n_sub, 16) -128 * sum of the sub-block's q

    void resize(int64_t n_cols, int sub) {
        cols = n_cols;
        n_sub = n_cols / sub;
        n_sub_padded = (n_sub + 7) / 8 * 8;
        const auto sub_floats = static_cast<size_t>(kPanelRows * n_sub_padded);
        rows.resize(static_cast<size_t>(kPanelRows * n_cols));
        row_scales.resize(sub_floats);
        row_mins.resize(sub_floats);
        quants.resize(static_cast<size_t>(kPanelRows * n_cols));
        scales.resize(sub_floats);
        mins.resize(sub_floats);
        start.resize(sub_floats);
    }
};

// 16 rows x 8 dwords -> 8 x 16 dwords (out[s] = dword s of rows 0..15): two 8 x 8 transposes
// side by side in the zmm halves. Rows are paired (r, r + 4) for r < 4 and (r + 4, r + 8) for
// r >= 4, the order in which the final lane shuffle leaves them natural.
inline void transpose_16x8(const int32_t* src, int64_t stride, __m512i (&out)[8]) {
    __m512i z[8];
    for (int i = 0; i < 8; ++i) {
        const int first = i < 4 ? i : i + 4;
        const __m256i a = load256(src + first * stride);
        const __m256i b = load256(src + (first + 4) * stride);
        z[i] = _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
    }
    __m512i u[8];
    for (int h = 0; h < 2; ++h) {
        const __m512i* zh = z + 4 * h;
        const __m512i t0 = _mm512_unpacklo_epi32(zh[0], zh[1]);
        const __m512i t1 = _mm512_unpackhi_epi32(zh[0], zh[1]);
        const __m512i t2 = _mm512_unpacklo_epi32(zh[2], zh[3]);
        const __m512i t3 = _mm512_unpackhi_epi32(zh[2], zh[3]);
        u[4 * h + 0] = _mm512_unpacklo_epi64(t0, t2); // dwords 0 and 4
        u[4 * h + 1] = _mm512_unpackhi_epi64(t0, t2); // dwords 1 and 5
        u[4 * h + 2] = _mm512_unpacklo_epi64(t1, t3); // dwords 2 and 6
        u[4 * h + 3] = _mm512_unpackhi_epi64(t1, t3); // dwords 3 and 7
    }
    for (int s = 0; s < 4; ++s) {
        out[s] = _mm512_shuffle_i32x4(u[s], u[4 + s], 0x88);
        out[s + 4] = _mm512_shuffle_i32x4(u[s], u[4 + s], 0xDD);
    }
}

// Builds the panel of rows [row0, row0 + n_rows) of w (n_rows <= 16; missing rows are zero).
void build_panel(const WeightMatrix& w, const RowForm& form, int64_t row0, int n_rows, Panel& panel) {
    const int64_t cols = w.cols;
    panel.resize(cols, form.sub);
    const int64_t n_sub = panel.n_sub;
    const int64_t n_sub_padded = panel.n_sub_padded;
    const int prefetch = avx2::prefetch_distance();
    for (int r = 0; r < kPanelRows; ++r) {
        int8_t* q = panel.rows.data() + r * cols;
        float* scales = panel.row_scales.data() + r * n_sub_padded;
        float* mins = panel.row_mins.data() + r * n_sub_padded;
        if (r < n_rows) {
            form.decode(w.data + (row0 + r) * static_cast<int64_t>(w.row_bytes), cols, q, scales, mins, prefetch);
            std::fill(scales + n_sub, scales + n_sub_padded, 0.0f);
        } else {
            std::memset(q, 0, static_cast<size_t>(cols));
            std::fill(scales, scales + n_sub_padded, 0.0f);
        }
        if (!form.has_min || r >= n_rows) std::fill(mins, mins + n_sub_padded, 0.0f);
        else std::fill(mins + n_sub, mins + n_sub_padded, 0.0f);
    }
    // Values: 32 at a time (8 dwords of 4) per row. The same pass sums each row's values per
    // sub-block (vpdpbusd with all-ones bytes) for the accumulators' start, -128 * sum (the
    // activations come in as x + 128).
    const __m512i ones = _mm512_set1_epi8(1);
    for (int64_t c = 0; c < cols; c += 32) {
        __m512i steps[8];
        transpose_16x8(reinterpret_cast<const int32_t*>(panel.rows.data() + c), cols / 4, steps);
        auto* out = reinterpret_cast<__m512i*>(panel.quants.data() + 16 * c);
        __m512i first_half = _mm512_setzero_si512();  // steps 0-3
        __m512i second_half = _mm512_setzero_si512(); // steps 4-7
        for (int s = 0; s < 4; ++s) {
            _mm512_store_si512(out + s, steps[s]);
            _mm512_store_si512(out + s + 4, steps[s + 4]);
            first_half = _mm512_dpbusd_epi32(first_half, ones, steps[s]);
            second_half = _mm512_dpbusd_epi32(second_half, ones, steps[s + 4]);
        }
        const __m512i zero = _mm512_setzero_si512();
        if (form.sub == 32) {
            _mm512_store_si512(panel.start.data() + (c / 32) * kPanelRows,
                               _mm512_slli_epi32(_mm512_sub_epi32(zero, _mm512_add_epi32(first_half, second_half)), 7));
        } else {
            _mm512_store_si512(panel.start.data() + (c / 16) * kPanelRows, _mm512_slli_epi32(_mm512_sub_epi32(zero, first_half), 7));
            _mm512_store_si512(panel.start.data() + (c / 16 + 1) * kPanelRows,
                               _mm512_slli_epi32(_mm512_sub_epi32(zero, second_half), 7));
        }
    }
    // Scales and minimums: 8 sub-blocks at a time.
    for (int64_t k = 0; k < n_sub_padded; k += 8) {
        __m512i columns[8];
        transpose_16x8(reinterpret_cast<const int32_t*>(panel.row_scales.data() + k), n_sub_padded, columns);
        for (int s = 0; s < 8; ++s) _mm512_store_si512(panel.scales.data() + (k + s) * kPanelRows, columns[s]);
        if (form.has_min) {
            transpose_16x8(reinterpret_cast<const int32_t*>(panel.row_mins.data() + k), n_sub_padded, columns);
            for (int s = 0; s < 8; ++s) _mm512_store_si512(panel.mins.data() + (k + s) * kPanelRows, columns[s]);
        }
    }
}

// ---- the micro-kernel ---------------------------------------------------------------------------

// Activations prepared once per call: unsigned bytes x + 128, and for the types with a minimum,
// d_x * (sum of the sub-block's quants) per sub-block.
struct PreparedActivations {
    const uint8_t* unsigned_quants = nullptr; // (n_tokens, cols)
    const float* sub_sums = nullptr;          // (n_tokens, n_sub)
    const float* scales = nullptr;            // (n_tokens, scales_per_token): d_x per block
    int64_t cols = 0;
    int64_t n_sub = 0;
    int64_t scales_per_token = 0;
};

inline int32_t load_i32(const uint8_t* p) {
    int32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

// out[t * out_stride + r] for the panel's 16 rows and NT tokens from t0. kSub: values per
// sub-block; kPerBlock: sub-blocks per activation scale (1 for Q8_32, 256 / kSub for Q8_K).
template <int NT, int kSub, int kPerBlock, bool kHasMin>
void panel_tile(const Panel& panel, const PreparedActivations& x, int64_t t0, float* out, int64_t out_stride, int n_rows) {
    constexpr int kSteps = kSub / 4;
    const uint8_t* xq[NT];
    const float* dx[NT];
    const float* xs[NT];
    for (int t = 0; t < NT; ++t) {
        xq[t] = x.unsigned_quants + (t0 + t) * x.cols;
        dx[t] = x.scales + (t0 + t) * x.scales_per_token;
        xs[t] = kHasMin ? x.sub_sums + (t0 + t) * x.n_sub : nullptr;
    }
    __m512 acc[NT], block_acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = block_acc[t] = _mm512_setzero_ps();
    const int8_t* quants = panel.quants.data();
    for (int64_t k = 0; k < panel.n_sub; ++k) {
        const __m512i start = _mm512_load_si512(panel.start.data() + k * kPanelRows);
        __m512i isum[NT];
        for (int t = 0; t < NT; ++t) isum[t] = start;
        for (int s = 0; s < kSteps; ++s) {
            const __m512i w = _mm512_load_si512(quants + (k * kSteps + s) * 64);
            const int64_t offset = k * kSub + 4 * s;
            for (int t = 0; t < NT; ++t) isum[t] = _mm512_dpbusd_epi32(isum[t], _mm512_set1_epi32(load_i32(xq[t] + offset)), w);
        }
        const __m512 scale = _mm512_load_ps(panel.scales.data() + k * kPanelRows);
        for (int t = 0; t < NT; ++t) {
            block_acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), scale, block_acc[t]);
        }
        if constexpr (kHasMin) {
            const __m512 mins = _mm512_load_ps(panel.mins.data() + k * kPanelRows);
            for (int t = 0; t < NT; ++t) acc[t] = _mm512_fnmadd_ps(mins, _mm512_set1_ps(xs[t][k]), acc[t]);
        }
        if ((k + 1) % kPerBlock == 0) {
            const int64_t block = k / kPerBlock;
            for (int t = 0; t < NT; ++t) {
                acc[t] = _mm512_fmadd_ps(block_acc[t], _mm512_set1_ps(dx[t][block]), acc[t]);
                block_acc[t] = _mm512_setzero_ps();
            }
        }
    }
    const __mmask16 valid = static_cast<__mmask16>((1u << n_rows) - 1u);
    for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(out + t * out_stride, valid, acc[t]);
}

template <int kSub, int kPerBlock, bool kHasMin>
void panel_tokens(const Panel& panel, const PreparedActivations& x, int64_t t0, int64_t t1, float* y, int64_t y_stride,
                  int64_t row0, int n_rows) {
    int64_t t = t0;
    for (; t + kMaxTileTokens <= t1; t += kMaxTileTokens) {
        panel_tile<kMaxTileTokens, kSub, kPerBlock, kHasMin>(panel, x, t, y + t * y_stride + row0, y_stride, n_rows);
    }
    if (t + 4 <= t1) {
        panel_tile<4, kSub, kPerBlock, kHasMin>(panel, x, t, y + t * y_stride + row0, y_stride, n_rows);
        t += 4;
    }
    if (t + 2 <= t1) {
        panel_tile<2, kSub, kPerBlock, kHasMin>(panel, x, t, y + t * y_stride + row0, y_stride, n_rows);
        t += 2;
    }
    if (t < t1) panel_tile<1, kSub, kPerBlock, kHasMin>(panel, x, t, y + t * y_stride + row0, y_stride, n_rows);
}

using PanelTokens = void (*)(const Panel&, const PreparedActivations&, int64_t, int64_t, float*, int64_t, int64_t, int);

PanelTokens panel_tokens_for(const RowForm& form, ActivationFormat format) {
    if (format == ActivationFormat::Q8_32) {
        return form.has_min ? panel_tokens<32, 1, true> : panel_tokens<32, 1, false>;
    }
    if (form.sub == 16) return form.has_min ? panel_tokens<16, 16, true> : panel_tokens<16, 16, false>;
    return form.has_min ? panel_tokens<32, 8, true> : panel_tokens<32, 8, false>;
}

// x + 128 as unsigned bytes (n is a multiple of 32).
void make_unsigned(const int8_t* q, int64_t n, uint8_t* out) {
    const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80));
    for (int64_t i = 0; i < n; i += 32) store256(out + i, _mm256_xor_si256(load256(q + i), bias));
}

} // namespace
} // namespace latent::cpu::avx512

LATENT_AVX512_END

namespace latent::cpu::detail {

bool avx512_batch_matmul(const WeightMatrix& w, const ActivationView& x, float* y, int64_t y_stride,
                         int64_t row_begin, int64_t row_end, ThreadPool* pool) {
    using namespace avx512;
    const RowForm form = row_form(w.type);
    if (!form.decode || (x.format != ActivationFormat::Q8_32 && x.format != ActivationFormat::Q8_K)) return false;
    if (row_end <= row_begin || x.n_tokens == 0) return true;

    // Activations in the micro-kernel's form, computed once by the calling thread.
    thread_local AlignedArray<uint8_t> unsigned_quants;
    thread_local AlignedArray<float> sub_sums;
    const int64_t n_sub = w.cols / form.sub;
    unsigned_quants.resize(static_cast<size_t>(x.n_tokens * x.cols));
    make_unsigned(x.quants, x.n_tokens * x.cols, unsigned_quants.data());
    PreparedActivations prepared;
    prepared.unsigned_quants = unsigned_quants.data();
    prepared.scales = x.scales;
    prepared.cols = x.cols;
    prepared.n_sub = n_sub;
    prepared.scales_per_token = x.scales_per_token;
    if (form.has_min) {
        sub_sums.resize(static_cast<size_t>(x.n_tokens * n_sub));
        const int64_t block = x.format == ActivationFormat::Q8_32 ? 32 : 256;
        const int64_t group = x.format == ActivationFormat::Q8_32 ? 32 : 16;
        const int64_t groups_per_sub = form.sub / group;
        for (int64_t t = 0; t < x.n_tokens; ++t) {
            const int16_t* sums = x.sums + t * x.sums_per_token;
            const float* dx = x.scales + t * x.scales_per_token;
            for (int64_t k = 0; k < n_sub; ++k) {
                int sum = 0;
                for (int64_t g = 0; g < groups_per_sub; ++g) sum += sums[k * groups_per_sub + g];
                sub_sums.data()[t * n_sub + k] = dx[k * form.sub / block] * static_cast<float>(sum);
            }
        }
        prepared.sub_sums = sub_sums.data();
    }
    const PanelTokens run_tokens = panel_tokens_for(form, x.format);

    // Tasks: panels of 16 rows, times token chunks when there are too few panels to go round.
    const int64_t n_panels = (row_end - row_begin + kPanelRows - 1) / kPanelRows;
    const unsigned n_threads = pool ? pool->size() : 1;
    int64_t token_chunks = 1;
    if (static_cast<int64_t>(n_threads) * 4 > n_panels) {
        token_chunks = std::min<int64_t>((static_cast<int64_t>(n_threads) * 4 + n_panels - 1) / n_panels,
                                         std::max<int64_t>(1, x.n_tokens / 16));
    }
    const int64_t tokens_per_chunk = (x.n_tokens + token_chunks - 1) / token_chunks;
    const int64_t n_tasks = n_panels * token_chunks;
    auto run_task = [&](size_t task, unsigned) {
        thread_local Panel panel;
        const int64_t p = static_cast<int64_t>(task) % n_panels;
        const int64_t chunk = static_cast<int64_t>(task) / n_panels;
        const int64_t row0 = row_begin + p * kPanelRows;
        const int n_rows = static_cast<int>(std::min<int64_t>(kPanelRows, row_end - row0));
        const int64_t t0 = chunk * tokens_per_chunk;
        const int64_t t1 = std::min(x.n_tokens, t0 + tokens_per_chunk);
        if (t0 >= t1) return;
        build_panel(w, form, row0, n_rows, panel);
        run_tokens(panel, prepared, t0, t1, y, y_stride, row0, n_rows);
    };
    if (pool && n_tasks > 1) {
        pool->parallel_for(static_cast<size_t>(n_tasks), [&run_task](size_t task, unsigned thread) { run_task(task, thread); });
    } else {
        for (int64_t task = 0; task < n_tasks; ++task) run_task(static_cast<size_t>(task), 0);
    }
    return true;
}

} // namespace latent::cpu::detail

#else // !LATENT_HAVE_AVX512

namespace latent::cpu::detail {
bool avx512_batch_matmul(const WeightMatrix&, const ActivationView&, float*, int64_t, int64_t, int64_t, ThreadPool*) {
    return false;
}
} // namespace latent::cpu::detail

#endif
