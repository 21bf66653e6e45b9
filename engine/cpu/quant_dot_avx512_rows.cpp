// AVX-512 per-row kernels, used where they beat the AVX2 ones: the float types against up to 16
// tokens per pass over a row (the attention scores multiply an F16 cache by every head's query,
// 16 "tokens" per row, and converting each row once instead of four times is most of their
// cost), Q5_0, Q4_K / Q5_K and Q6_K for fewer tokens than the batch kernel takes
// (quant_dot_avx512.cpp).

// GCC 12's AVX-512 intrinsics pass an "undefined" register as the unused merge source, which
// -Wmaybe-uninitialized reports after inlining, located in the header: silence it for this file
// (before any header can pull in immintrin.h).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include "cpu/avx2_common.h"

#include <cstdint>
#include <cstring>
#include <vector>

#if LATENT_HAVE_X86 && defined(__x86_64__)

LATENT_AVX512_BEGIN

#include "cpu/q5_0_steps.h"

namespace latent::cpu::avx512 {
namespace {

using namespace blocks;
using detail::ActivationView;
using avx2::f16_at;
using avx2::load256;
using avx2::prefetch_block;

// ---- Q5_0 ---------------------------------------------------------------------------------------

// Q5_0, two blocks (44 bytes, one masked load) per step: 16 values of each of 4 byte groups in
// the order [low nibbles of block A, of block B, high nibbles of A, of B], so that a word
// permutation and one masked shift make the 64 nibbles without lane crossings of bytes. The
// fifth bits are the mask of one masked add, put together from the two qh words by integer
// instructions (a word permutation, a byte shuffle and a test did it on the vector ports, 2-6%
// slower); the weights stay unsigned (0..31) and the "- 16" is folded into the int32 sums
// through the activations' block sums (-16 * sum x, prepared per task).
// The two scales become a 16-float pattern by one more word permutation and a half-to-float
// conversion. About 8 vector instructions per block for one token, against ~15 for the
// block-at-a-time kernel, whose Q5_0 was bound by instructions, not memory.
struct RowQ5_0Pairs : detail::PairSteps<RowQ5_0Pairs> {
    // Per token and pair of blocks: 64 activation bytes in the weights' order, then the two
    // blocks' scales and corrections -16 * (sum of the block's activations): 80 bytes, so that
    // four tokens' activations of a 2,048-wide row stay in L1.
    static constexpr int64_t kStepBytes = 64 + 16;

    static void prepare_pair(const int8_t* xa, const int8_t* xb, float da, float db, int sa, int sb, uint8_t* to) {
        detail::interleave_pair_quants(xa, xb, to);
        const int32_t corr[2] = {-16 * sa, -16 * sb};
        std::memcpy(to + 64, &da, 4);
        std::memcpy(to + 68, &db, 4);
        std::memcpy(to + 72, corr, 8);
    }

    // The fifth bits of the pair's 64 values in the weights' byte order, as a mask: bits 0-15
    // of A's qh word, of B's, bits 16-31 of A's, of B's (two BMI2 bit deposits, which leave the
    // vector ports to the products; shifts and masks instead were 3-5% slower). has_b false:
    // block A alone, nothing past it is read.
    static __mmask64 fifth_bits(const uint8_t* pair, bool has_b) {
        uint32_t qa = 0, qb = 0;
        std::memcpy(&qa, pair + q5_0::qh, 4);
        if (has_b) std::memcpy(&qb, pair + q5_0::bytes + q5_0::qh, 4);
        return _pdep_u64(qa, 0x0000FFFF0000FFFFull) | _pdep_u64(qb, 0xFFFF0000FFFF0000ull);
    }

    template <int NT>
    static void run(const uint8_t* row, const uint8_t* const (&x)[NT], int64_t cols, float* out) {
        // Word indices into the 44 bytes of a pair (A at bytes 0..21, B at 22..43): qs of A are
        // words 3..10, of B words 14..21; d words 0, 11.
        const __m512i qs_index = _mm512_set_epi16(21, 20, 19, 18, 17, 16, 15, 14, 10, 9, 8, 7, 6, 5, 4, 3, //
                                                  21, 20, 19, 18, 17, 16, 15, 14, 10, 9, 8, 7, 6, 5, 4, 3);
        const __m512i d_index = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, //
                                                 11, 11, 11, 11, 0, 0, 0, 0, 11, 11, 11, 11, 0, 0, 0, 0);
        const __m512i low_nibble = _mm512_set1_epi8(0x0F), fifth = _mm512_set1_epi8(0x10);
        // The token's meta (dx A, dx B, correction A, correction B) spread to the lanes' pattern.
        const __m512i scale_index = _mm512_set_epi32(1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0);
        const __m512i corr_index = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 2);
        __m512 acc[NT];
        for (int i = 0; i < NT; ++i) acc[i] = _mm512_setzero_ps();
        const int distance = avx2::prefetch_distance();
        const int64_t n_blocks = cols / 32;
        for (int64_t b = 0; b < n_blocks; b += 2) {
            const uint8_t* pair = row + b * static_cast<int64_t>(q5_0::bytes);
            _mm_prefetch(reinterpret_cast<const char*>(pair) + distance, _MM_HINT_T0);
            const __mmask64 bytes = b + 2 <= n_blocks ? 0xFFFFFFFFFFFull : 0x3FFFFFull;
            const __m512i raw = _mm512_maskz_loadu_epi8(bytes, pair);
            const __m512i qs = _mm512_permutexvar_epi16(qs_index, raw);
            const __m512i nibbles = _mm512_and_si512(_mm512_mask_srli_epi16(qs, 0xFFFF0000u, qs, 4), low_nibble);
            const __m512i weights = _mm512_mask_add_epi8(nibbles, fifth_bits(pair, b + 2 <= n_blocks), nibbles, fifth);
            const __m512 dw = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(d_index, raw)));
            const int64_t pair_offset = (b / 2) * kStepBytes;
            for (int i = 0; i < NT; ++i) {
                const uint8_t* p = x[i] + pair_offset;
                const __m512i meta = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 64)));
                const __m512i corr = _mm512_maskz_permutexvar_epi32(0x0011, corr_index, meta);
                const __m512i dot = _mm512_dpbusd_epi32(corr, weights, _mm512_loadu_si512(p));
                const __m512 scale = _mm512_mul_ps(dw, _mm512_permutexvar_ps(scale_index, _mm512_castsi512_ps(meta)));
                acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), scale, acc[i]);
            }
        }
        for (int i = 0; i < NT; ++i) out[i] = _mm512_reduce_add_ps(acc[i]);
    }
};

// ---- Q4_K / Q5_K ---------------------------------------------------------------------------------

// The generated token's main type (the routed experts' gate and up projections of Q4_K_M files)
// for few tokens. The AVX2 kernel spends 3 instructions per 32 products (maddubs, madd with the
// sub-block's scale, add) and shuffles a scale vector per 32 values; it is bound by instructions
// at about 18 GB/s per core, below what one core can read. Here one vpdpbusd does 64 products
// into 16 int32 sums of 4, two of those are packed to int16 (|sum| <= 4 * 15 * 127 = 7620, and
// 4 * 31 * 127 for Q5_K: no saturation) and one vpdpwssd weights them by their sub-blocks'
// scales: 2.5 instructions per 64 products, the scale vectors made twice per block and shared by
// the tokens.
template <bool kFiveBit>
struct RowQK4 {
    static constexpr size_t kBytes = kFiveBit ? q5_k::bytes : q4_k::bytes;
    static constexpr size_t kQs = kFiveBit ? q5_k::qs : q4_k::qs;

    // The 256 values of a block (0..15, or 0..31 for Q5_K) as four zmm in the order the
    // activations are rearranged to (rearrange_block below): zmm 2h holds the low nibbles of
    // qs bytes 64h..64h+63, values 128h + 0..31 and 128h + 64..95 (sub-blocks 4h and 4h + 2);
    // zmm 2h + 1 the high nibbles, values 128h + 32..63 and 128h + 96..127 (sub-blocks 4h + 1
    // and 4h + 3). No lane shuffles: the activations are put in this order once per task.
    static void unpack(const uint8_t* block, __m512i (&values)[4]) {
        const __m512i low_nibble = _mm512_set1_epi8(0x0F);
        for (int h = 0; h < 2; ++h) {
            const __m512i packed = _mm512_loadu_si512(block + kQs + 64 * h);
            values[2 * h] = _mm512_and_si512(packed, low_nibble);
            values[2 * h + 1] = _mm512_and_si512(_mm512_srli_epi16(packed, 4), low_nibble);
        }
        if constexpr (kFiveBit) {
            // Bit s of qh byte l is the fifth bit of value 32s + l (sub-block s). With qh in the
            // low half and qh >> 2 in the high half, zmm k = 0, 1, 2, 3 (sub-blocks 0 | 2, 1 | 3,
            // 4 | 6, 5 | 7) finds its bits at bit 0, 1, 4, 5 of each byte: moved to bit 4 (16-bit
            // shifts; the bits used never cross a byte).
            const __m256i qh = load256(block + q5_k::qh);
            const __m512i both = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
            const __m512i bit4 = _mm512_set1_epi8(0x10);
            values[0] = _mm512_or_si512(values[0], _mm512_and_si512(_mm512_slli_epi16(both, 4), bit4));
            values[1] = _mm512_or_si512(values[1], _mm512_and_si512(_mm512_slli_epi16(both, 3), bit4));
            values[2] = _mm512_or_si512(values[2], _mm512_and_si512(both, bit4));
            values[3] = _mm512_or_si512(values[3], _mm512_and_si512(_mm512_srli_epi16(both, 1), bit4));
        }
    }

    // One block's 256 activation bytes in unpack's order: in each half of 128, the 32-byte
    // pieces 0, 2, 1, 3.
    static void rearrange_block(const int8_t* from, int8_t* to) {
        for (int h = 0; h < 2; ++h) {
            const int8_t* f = from + 128 * h;
            int8_t* t = to + 128 * h;
            const __m256i a = load256(f), b = load256(f + 32), c = load256(f + 64), d = load256(f + 96);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(t), a);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(t + 32), c);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(t + 64), b);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(t + 96), d);
        }
    }

    template <int NT>
    static void run(const uint8_t* row, const avx2::TokenRows<NT>& x, int64_t cols, float* out) {
        // packs_epi32(p[2h], p[2h + 1]) holds, in 128-bit lanes 0 and 1, four sums of sub-block
        // 4h and then four of 4h + 1, in lanes 2 and 3 four of 4h + 2 and four of 4h + 3;
        // scale_index[h] picks those sub-blocks' scales.
        const __m512i scale_index[2] = {
            _mm512_set_epi16(3, 3, 3, 3, 2, 2, 2, 2, 3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0),
            _mm512_set_epi16(7, 7, 7, 7, 6, 6, 6, 6, 7, 7, 7, 7, 6, 6, 6, 6, 5, 5, 5, 5, 4, 4, 4, 4, 5, 5, 5, 5, 4, 4, 4, 4)};
        // Each min twice (16-value activation sums), from lanes 8..15.
        const __m512i min_index = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 15, 14, 14, 13, 13, 12, 12, 11, 11,
                                                   10, 10, 9, 9, 8, 8);
        __m512 acc[NT];
        __m256 acc_min[NT];
        for (int i = 0; i < NT; ++i) {
            acc[i] = _mm512_setzero_ps();
            acc_min[i] = _mm256_setzero_ps();
        }
        const int64_t n_blocks = cols / 256;
        const int distance = avx2::prefetch_distance();
        for (int64_t b = 0; b < n_blocks; ++b) {
            const uint8_t* block = row + b * static_cast<int64_t>(kBytes);
            prefetch_block<kBytes>(block, distance);
            const float d = f16_at(block + q4_k::d);
            const float dmin = f16_at(block + q4_k::dmin);
            // 8 scales then 8 mins, int16, from the 12 packed bytes (and 4 bytes of qs after them).
            const __m512i scales_all = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(avx2::k4_scale_min_bytes(block + q4_k::scales)));
            const __m512i scales[2] = {_mm512_permutexvar_epi16(scale_index[0], scales_all),
                                       _mm512_permutexvar_epi16(scale_index[1], scales_all)};
            const __m256i mins = _mm512_castsi512_si256(_mm512_permutexvar_epi16(min_index, scales_all));
            __m512i values[4];
            unpack(block, values);
            for (int i = 0; i < NT; ++i) {
                const int8_t* xq = x.quants[i] + 256 * b;
                __m512i p[4];
                for (int k = 0; k < 4; ++k) {
                    p[k] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), values[k], _mm512_loadu_si512(xq + 64 * k));
                }
                __m512i isum = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_packs_epi32(p[0], p[1]), scales[0]);
                isum = _mm512_dpwssd_epi32(isum, _mm512_packs_epi32(p[2], p[3]), scales[1]);
                const float dx = x.scales[i][b];
                acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d * dx), acc[i]);
                const __m256i msum = _mm256_madd_epi16(load256(x.sums[i] + 16 * b), mins);
                acc_min[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_set1_ps(-dmin * dx), acc_min[i]);
            }
        }
        for (int i = 0; i < NT; ++i) out[i] = _mm512_reduce_add_ps(acc[i]) + avx2::hsum(acc_min[i]);
    }
};

// ---- Q6_K -----------------------------------------------------------------------------------------

// Q6_K (the output head of Q4_K_M files, and every matrix of Q6_K files) for few tokens. A
// block's half of 128 values unpacks, in the values' own order, into two zmm without a lane
// shuffle: the 64 ql bytes' low nibbles are values 0-63 and their high nibbles values 64-127; the
// two high bits come from the 32 qh bytes, shifted by 0, 2, 4 and 6 (qh and qh >> 2 side by side,
// then one shift or none and a mask). Values 0..63 (the stored q + 32) times the activation
// bytes by vpdpbusd give sums of 4 products, |sum| <= 4 * 63 * 127: packed to int16 and weighted
// by the 16-value sub-blocks' int8 scales in one vpdpwssd; the + 32 comes off through the
// activations' 16-value sums, in integers. About 5 vector instructions per 64 products for one
// token, against 8 in the AVX2 kernel.
struct RowQ6K {
    template <int NT>
    static void run(const uint8_t* row, const avx2::TokenRows<NT>& x, int64_t cols, float* out) {
        // packs_epi32(p_low, p_high) holds in 128-bit lane L four sums of sub-block L of the half
        // and then four of sub-block 4 + L; scale_index[n] picks those scales for half n.
        const __m512i scale_index[2] = {
            _mm512_set_epi16(7, 7, 7, 7, 3, 3, 3, 3, 6, 6, 6, 6, 2, 2, 2, 2, 5, 5, 5, 5, 1, 1, 1, 1, 4, 4, 4, 4, 0, 0, 0, 0),
            _mm512_set_epi16(15, 15, 15, 15, 11, 11, 11, 11, 14, 14, 14, 14, 10, 10, 10, 10, 13, 13, 13, 13, 9, 9, 9, 9, 12, 12, 12, 12, 8, 8, 8, 8)};
        const __m512i low_nibble = _mm512_set1_epi8(0x0F), high_bits = _mm512_set1_epi8(0x30);
        __m512 acc[NT];
        for (int i = 0; i < NT; ++i) acc[i] = _mm512_setzero_ps();
        const int64_t n_blocks = cols / 256;
        const int distance = avx2::prefetch_distance();
        for (int64_t b = 0; b < n_blocks; ++b) {
            const uint8_t* block = row + b * static_cast<int64_t>(q6_k::bytes);
            prefetch_block<q6_k::bytes>(block, distance);
            const float d = f16_at(block + q6_k::d);
            const __m256i scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + q6_k::scales)));
            const __m512i scales_all = _mm512_castsi256_si512(scales16);
            const __m512i scales[2] = {_mm512_permutexvar_epi16(scale_index[0], scales_all),
                                       _mm512_permutexvar_epi16(scale_index[1], scales_all)};
            __m512i values[4]; // half n: values[2n] = values 0-63, values[2n + 1] = values 64-127
            for (int n = 0; n < 2; ++n) {
                __m512i ql = _mm512_loadu_si512(block + q6_k::ql + 64 * n);
                asm("" : "+v"(ql)); // one load, not one per use (see quant_dot_avx512_vbmi.cpp)
                const __m256i qh = load256(block + q6_k::qh + 32 * n);
                const __m512i qh2 = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
                values[2 * n] = _mm512_or_si512(_mm512_and_si512(ql, low_nibble), _mm512_and_si512(_mm512_slli_epi16(qh2, 4), high_bits));
                values[2 * n + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), low_nibble), _mm512_and_si512(qh2, high_bits));
            }
            for (int i = 0; i < NT; ++i) {
                const int8_t* xq = x.quants[i] + 256 * b;
                __m512i isum = _mm512_setzero_si512();
                for (int n = 0; n < 2; ++n) {
                    const __m512i lo = _mm512_dpbusd_epi32(_mm512_setzero_si512(), values[2 * n], _mm512_loadu_si512(xq + 128 * n));
                    const __m512i hi = _mm512_dpbusd_epi32(_mm512_setzero_si512(), values[2 * n + 1], _mm512_loadu_si512(xq + 128 * n + 64));
                    isum = _mm512_dpwssd_epi32(isum, _mm512_packs_epi32(lo, hi), scales[n]);
                }
                // The stored values are q + 32: subtract 32 * sum(scale * activation sum).
                const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(load256(x.sums[i] + 16 * b), scales16), 5);
                isum = _mm512_sub_epi32(isum, _mm512_zextsi256_si512(offset));
                acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d * x.scales[i][b]), acc[i]);
            }
        }
        for (int i = 0; i < NT; ++i) out[i] = _mm512_reduce_add_ps(acc[i]);
    }
};

// ---- float weights --------------------------------------------------------------------------

// F32 / F16 / BF16 rows against up to 16 tokens at once (32 zmm registers hold 16 accumulators).
struct Load512F32 {
    static __m512 load(const uint8_t* row, int64_t j, __mmask16 mask) {
        return _mm512_maskz_loadu_ps(mask, reinterpret_cast<const float*>(row) + j);
    }
    static constexpr int kBytesPer16 = 64;
};
struct Load512F16 {
    static __m512 load(const uint8_t* row, int64_t j, __mmask16 mask) {
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, row + 2 * j));
    }
    static constexpr int kBytesPer16 = 32;
};
struct Load512Bf16 {
    static __m512 load(const uint8_t* row, int64_t j, __mmask16 mask) {
        const __m512i wide = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask, row + 2 * j));
        return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
    }
    static constexpr int kBytesPer16 = 32;
};

template <class Loader>
struct FloatRow {
    template <int NT>
    static void run(const uint8_t* row, const avx2::TokenRows<NT>& x, int64_t cols, float* out) {
        __m512 acc[NT];
        for (int i = 0; i < NT; ++i) acc[i] = _mm512_setzero_ps();
        const int distance = avx2::prefetch_distance();
        int64_t j = 0;
        for (; j + 16 <= cols; j += 16) {
            _mm_prefetch(reinterpret_cast<const char*>(row) + j * (Loader::kBytesPer16 / 16) + distance, _MM_HINT_T0);
            const __m512 w = Loader::load(row, j, 0xFFFF);
            for (int i = 0; i < NT; ++i) acc[i] = _mm512_fmadd_ps(w, _mm512_loadu_ps(x.values[i] + j), acc[i]);
        }
        if (j < cols) {
            const auto mask = static_cast<__mmask16>((1u << (cols - j)) - 1u);
            const __m512 w = Loader::load(row, j, mask);
            for (int i = 0; i < NT; ++i) acc[i] = _mm512_fmadd_ps(w, _mm512_maskz_loadu_ps(mask, x.values[i] + j), acc[i]);
        }
        for (int i = 0; i < NT; ++i) out[i] = _mm512_reduce_add_ps(acc[i]);
    }
};

// Tiles of 16, 8, 4, 3, 2 and 1 tokens, none above kMaxTokens (token groups outer, rows inner, as
// detail::for_each_tile). Compiled in this file's region, so Row::run inlines into the row loop.
template <class Row, int kMaxTokens = 16>
void matmul_rows_wide(const WeightMatrix& w, const ActivationView& x, int64_t row_begin, int64_t row_end,
                      int64_t token_begin, int64_t token_end, float* y, int64_t y_stride) {
    auto tile = [&]<int NT>(int64_t t0) {
        const avx2::TokenRows<NT> tokens(x, t0);
        for (int64_t r = row_begin; r < row_end; ++r) {
            float out[NT];
            Row::template run<NT>(w.data + r * static_cast<int64_t>(w.row_bytes), tokens, w.cols, out);
            for (int i = 0; i < NT; ++i) y[(t0 + i) * y_stride + r] = out[i];
        }
    };
    for (int64_t t = token_begin; t < token_end;) {
        const int64_t left = token_end - t;
        if constexpr (kMaxTokens >= 16) {
            if (left >= 16) {
                tile.template operator()<16>(t);
                t += 16;
                continue;
            }
        }
        if constexpr (kMaxTokens >= 8) {
            if (left >= 8) {
                tile.template operator()<8>(t);
                t += 8;
                continue;
            }
        }
        if (left >= 4) {
            tile.template operator()<4>(t);
            t += 4;
        } else if (left == 3) {
            tile.template operator()<3>(t);
            t += 3;
        } else if (left == 2) {
            tile.template operator()<2>(t);
            t += 2;
        } else {
            tile.template operator()<1>(t);
            t += 1;
        }
    }
}

// Q4_K / Q5_K: the tokens' activations of [token_begin, token_end) rearranged for RowQK4 once
// (a thread-local copy of the task's tokens × cols bytes, kept for the thread's next tasks), then
// the per-row kernel over the task's rows.
template <bool kFiveBit>
void matmul_rows_qk4(const WeightMatrix& w, const ActivationView& x, int64_t row_begin, int64_t row_end,
                     int64_t token_begin, int64_t token_end, float* y, int64_t y_stride) {
    using Row = RowQK4<kFiveBit>;
    thread_local AlignedArray<int8_t> rearranged; // 64-byte aligned: the kernel loads it 64 bytes at a time
    const int64_t n = token_end - token_begin, blocks = w.cols / 256;
    if (n <= 0) return;
    const size_t need = static_cast<size_t>(n * x.cols);
    if (rearranged.size() < need) rearranged.resize(need);
    for (int64_t t = 0; t < n; ++t) {
        const int8_t* from = x.quants + (token_begin + t) * x.cols;
        int8_t* to = rearranged.data() + t * x.cols;
        for (int64_t b = 0; b < blocks; ++b) Row::rearrange_block(from + 256 * b, to + 256 * b);
    }
    ActivationView view = x;
    view.n_tokens = n;
    view.quants = rearranged.data();
    view.scales = x.scales + token_begin * x.scales_per_token;
    view.sums = x.sums + token_begin * x.sums_per_token;
    matmul_rows_wide<Row, 4>(w, view, row_begin, row_end, 0, n, y + token_begin * y_stride, y_stride);
}

} // namespace
} // namespace latent::cpu::avx512

LATENT_AVX512_END

namespace latent::cpu::detail {

MatmulKernel avx512_kernel(TensorType type) {
    using namespace avx512;
    switch (type) {
    case TensorType::F32: return matmul_rows_wide<FloatRow<Load512F32>>;
    case TensorType::F16: return matmul_rows_wide<FloatRow<Load512F16>>;
    case TensorType::BF16: return matmul_rows_wide<FloatRow<Load512Bf16>>;
    case TensorType::Q5_0: return matmul_rows_q5_0_steps<RowQ5_0Pairs>;
    case TensorType::Q4_K: return matmul_rows_qk4<false>;
    case TensorType::Q5_K: return matmul_rows_qk4<true>;
    case TensorType::Q6_K: return matmul_rows_wide<RowQ6K, 4>;
    default: return nullptr;
    }
}

} // namespace latent::cpu::detail

#else

namespace latent::cpu::detail {
MatmulKernel avx512_kernel(TensorType) { return nullptr; }
} // namespace latent::cpu::detail

#endif
