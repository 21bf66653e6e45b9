// AVX2 kernels for float weights and the 32-value block types, the AVX2 activation quantizer,
// and the AVX2 kernel table (the K-quant kernels are in quant_dot_avx2_k.cpp).
//
// 32-value blocks: the weights of a block are expanded once into 32 bytes and dotted against up
// to 4 tokens (Q5_0: two blocks per step, see RowQ5_0Pairs). Signed weights (Q4_0, Q8_0,
// IQ4_NL) use the sign trick: |w| (unsigned) times x carrying w's sign, so one maddubs
// multiplies signed by signed.
#include "cpu/avx2_common.h"

#if LATENT_HAVE_X86
#include <cpuid.h>
#endif

#include <cfloat>
#include <cmath>
#include <limits>
#include <vector>

namespace latent::cpu::detail {

bool cpu_has_avx2() {
#if LATENT_HAVE_X86
    // F16C through CPUID (leaf 1, ECX): clang 14's __builtin_cpu_supports does not know "f16c".
    const auto has_f16c = [] {
        unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
        return __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_F16C) != 0;
    };
    static const bool supported = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c();
    return supported;
#else
    return false;
#endif
}

} // namespace latent::cpu::detail

#if LATENT_HAVE_X86

namespace latent::cpu::avx2 {
namespace {
using namespace blocks;
constexpr float kQuietNaN = std::numeric_limits<float>::quiet_NaN();
} // namespace
} // namespace latent::cpu::avx2

LATENT_AVX2_BEGIN

#include "cpu/q5_0_steps.h"

namespace latent::cpu::avx2 {
namespace {

// ---- 32-value blocks ------------------------------------------------------------------------

// Signed weights of one block, expanded to 32 bytes; shared by the signed-block kernels.
struct SignedQ4_0 {
    static constexpr size_t kBytes = q4_0::bytes;
    static __m256i weights(const uint8_t* b) { return _mm256_sub_epi8(nibbles_32(b + q4_0::qs), _mm256_set1_epi8(8)); }
    static float scale(const uint8_t* b) { return f16_at(b + q4_0::d); }
};

struct SignedQ8_0 {
    static constexpr size_t kBytes = q8_0::bytes;
    static __m256i weights(const uint8_t* b) { return load256(b + q8_0::qs); }
    static float scale(const uint8_t* b) { return f16_at(b + q8_0::d); }
};

struct SignedIq4Nl {
    static constexpr size_t kBytes = iq4_nl::bytes;
    static __m256i weights(const uint8_t* b) {
        return _mm256_shuffle_epi8(iq4_codebook(), nibbles_32(b + iq4_nl::qs));
    }
    static float scale(const uint8_t* b) { return f16_at(b + iq4_nl::d); }
};

// A block is only ~5 cycles of work, less than the latency of the multiply-add that accumulates
// it, so even/odd blocks go to separate accumulators (per token: the result is the same for
// any tile size).
template <class Block>
struct SignedBlockRow {
    template <int NT>
    static void run(const uint8_t* row, const TokenRows<NT>& x, int64_t cols, float* out) {
        __m256 acc[2][NT];
        for (int i = 0; i < NT; ++i) acc[0][i] = acc[1][i] = _mm256_setzero_ps();
        const int64_t n_blocks = cols / 32;
        const int distance = prefetch_distance();
        auto accumulate = [&](int64_t b, __m256 (&sums)[NT]) {
            const uint8_t* block = row + b * static_cast<int64_t>(Block::kBytes);
            prefetch_block<Block::kBytes>(block, distance);
            const __m256i w = Block::weights(block);
            const __m256i w_abs = _mm256_sign_epi8(w, w);
            const float dw = Block::scale(block);
            for (int i = 0; i < NT; ++i) {
                const __m256i xs = _mm256_sign_epi8(load256(x.quants[i] + 32 * b), w);
                const __m256 dot = _mm256_cvtepi32_ps(dot_u8_s8(w_abs, xs));
                sums[i] = _mm256_fmadd_ps(dot, _mm256_set1_ps(dw * x.scales[i][b]), sums[i]);
            }
        };
        int64_t b = 0;
        for (; b + 2 <= n_blocks; b += 2) {
            accumulate(b, acc[0]);
            accumulate(b + 1, acc[1]);
        }
        if (b < n_blocks) accumulate(b, acc[0]);
        for (int i = 0; i < NT; ++i) out[i] = hsum(_mm256_add_ps(acc[0][i], acc[1][i]));
    }
};

// Q5_0, two blocks (44 bytes) per step: block A's 16 quant bytes in the low 128-bit lane and B's
// in the high one, so that the low nibbles are values 0-15 of A and of B and the high nibbles
// values 16-31; the fifth bits come from one byte shuffle per half (the blocks' qh words sit at
// the same place in the two lanes) and a test against the bit's mask. The weights stay unsigned
// (0..31) and the "- 16" is folded into the int32 sums through the activations' block sums, so no
// sign tricks are needed; the two scales become [d_A x4, d_B x4] by one shuffle, one permute and a
// half-to-float conversion. About 15 instructions per block for one token, against ~22 for the
// block-at-a-time signed form (SignedBlockRow with the sign trick), which was bound by
// instructions (10 GB/s on one Zen 3 core, a third below Q4_K).
struct RowQ5_0Pairs : detail::PairSteps<RowQ5_0Pairs> {
    // Per token and pair: 64 activation bytes [A 0-15, B 0-15, A 16-31, B 16-31], then 8 int32
    // [-16 sum A, 0, 0, 0, -16 sum B, 0, 0, 0] and 8 floats [d_x A x4, d_x B x4].
    static constexpr int64_t kStepBytes = 128;

    static void prepare_pair(const int8_t* xa, const int8_t* xb, float da, float db, int sa, int sb, uint8_t* to) {
        detail::interleave_pair_quants(xa, xb, to);
        const int32_t corr[8] = {-16 * sa, 0, 0, 0, -16 * sb, 0, 0, 0};
        const float scales[8] = {da, da, da, da, db, db, db, db};
        std::memcpy(to + 64, corr, 32);
        std::memcpy(to + 96, scales, 32);
    }

    // The unsigned weights (lo: values 0-15 of each block, hi: 16-31) and [d_A x4, d_B x4] of the
    // pair at p; kPair false: block A alone (the row's last, odd block; nothing past it is read).
    template <bool kPair>
    static void weights(const uint8_t* p, __m256i& lo, __m256i& hi, __m256& dw) {
        __m256i qs, head; // head: each block's first 16 bytes (d at 0-1, qh at 2-5) in its lane
        if constexpr (kPair) {
            qs = _mm256_inserti128_si256(_mm256_castsi128_si256(load128(p + q5_0::qs)), load128(p + q5_0::bytes + q5_0::qs), 1);
            head = _mm256_inserti128_si256(_mm256_castsi128_si256(load128(p)), load128(p + q5_0::bytes), 1);
        } else {
            qs = _mm256_zextsi128_si256(load128(p + q5_0::qs));
            head = _mm256_zextsi128_si256(load128(p));
        }
        static_assert(q5_0::d == 0 && q5_0::qh == 2 && q5_0::qs == 6);
        const __m256i low_nibble = _mm256_set1_epi8(0x0F), fifth = _mm256_set1_epi8(0x10);
        const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
        // Value j of a half takes qh byte j / 8 (of the half's two) and tests bit j % 8.
        const __m256i qh_lo = _mm256_shuffle_epi8(head, _mm256_setr_epi8(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, //
                                                                          2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
        const __m256i qh_hi = _mm256_shuffle_epi8(head, _mm256_setr_epi8(4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, //
                                                                          4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5));
        const __m256i set_lo = _mm256_cmpeq_epi8(_mm256_and_si256(qh_lo, bit), bit);
        const __m256i set_hi = _mm256_cmpeq_epi8(_mm256_and_si256(qh_hi, bit), bit);
        lo = _mm256_or_si256(_mm256_and_si256(qs, low_nibble), _mm256_and_si256(set_lo, fifth));
        hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qs, 4), low_nibble), _mm256_and_si256(set_hi, fifth));
        // d_A four times in quadword 0, d_B in quadword 2; then both into the low 128 bits.
        const __m256i d4 = _mm256_shuffle_epi8(head, _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, -1, -1, -1, -1, -1, -1, -1, -1, //
                                                                      0, 1, 0, 1, 0, 1, 0, 1, -1, -1, -1, -1, -1, -1, -1, -1));
        dw = _mm256_cvtph_ps(_mm256_castsi256_si128(_mm256_permute4x64_epi64(d4, 0x08)));
    }

    template <int NT>
    static void run(const uint8_t* row, const uint8_t* const (&x)[NT], int64_t cols, float* out) {
        __m256 acc[NT];
        for (int i = 0; i < NT; ++i) acc[i] = _mm256_setzero_ps();
        const int distance = prefetch_distance();
        const int64_t n_blocks = cols / 32;
        const __m256i ones16 = _mm256_set1_epi16(1);
        auto step = [&]<bool kPair>(int64_t b) {
            const uint8_t* pair = row + b * static_cast<int64_t>(q5_0::bytes);
            _mm_prefetch(reinterpret_cast<const char*>(pair) + distance, _MM_HINT_T0);
            __m256i lo, hi;
            __m256 dw;
            weights<kPair>(pair, lo, hi, dw);
            const int64_t pair_offset = (b / 2) * kStepBytes;
            for (int i = 0; i < NT; ++i) {
                const uint8_t* p = x[i] + pair_offset;
                // Pair sums of at most 2 * 31 * 128 each, two of them added: no int16 overflow.
                const __m256i pairs = _mm256_add_epi16(_mm256_maddubs_epi16(lo, load256(p)), _mm256_maddubs_epi16(hi, load256(p + 32)));
                const __m256i dot = _mm256_add_epi32(_mm256_madd_epi16(pairs, ones16), load256(p + 64));
                const __m256 scale = _mm256_mul_ps(dw, _mm256_loadu_ps(reinterpret_cast<const float*>(p + 96)));
                acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), scale, acc[i]);
            }
        };
        int64_t b = 0;
        for (; b + 2 <= n_blocks; b += 2) step.template operator()<true>(b);
        if (b < n_blocks) step.template operator()<false>(b);
        for (int i = 0; i < NT; ++i) out[i] = hsum(acc[i]);
    }
};

// Q4_1 / Q5_1: unsigned values and a per-block minimum m; m * (d_x * sum of the x quants) is
// accumulated separately as a scalar. Even/odd accumulators as above.
template <bool kFiveBit>
struct UnsignedBlockRow {
    static constexpr size_t kBytes = kFiveBit ? q5_1::bytes : q4_1::bytes;
    static constexpr size_t kQs = kFiveBit ? q5_1::qs : q4_1::qs;

    template <int NT>
    static void run(const uint8_t* row, const TokenRows<NT>& x, int64_t cols, float* out) {
        __m256 acc[2][NT];
        float min_acc[2][NT];
        for (int i = 0; i < NT; ++i) {
            acc[0][i] = acc[1][i] = _mm256_setzero_ps();
            min_acc[0][i] = min_acc[1][i] = 0.0f;
        }
        const int64_t n_blocks = cols / 32;
        const int distance = prefetch_distance();
        auto accumulate = [&](int64_t b, __m256 (&sums)[NT], float (&min_sums)[NT]) {
            const uint8_t* block = row + b * static_cast<int64_t>(kBytes);
            prefetch_block<kBytes>(block, distance);
            __m256i w = nibbles_32(block + kQs);
            if constexpr (kFiveBit) {
                const __m256i high = fifth_bits_as_bytes(load_u32(block + q5_1::qh));
                w = _mm256_or_si256(w, _mm256_and_si256(high, _mm256_set1_epi8(0x10)));
            }
            const float dw = f16_at(block);
            const float mw = f16_at(block + 2);
            for (int i = 0; i < NT; ++i) {
                const float dx = x.scales[i][b];
                const __m256 dot = _mm256_cvtepi32_ps(dot_u8_s8(w, load256(x.quants[i] + 32 * b)));
                sums[i] = _mm256_fmadd_ps(dot, _mm256_set1_ps(dw * dx), sums[i]);
                min_sums[i] += mw * (dx * static_cast<float>(x.sums[i][b]));
            }
        };
        int64_t b = 0;
        for (; b + 2 <= n_blocks; b += 2) {
            accumulate(b, acc[0], min_acc[0]);
            accumulate(b + 1, acc[1], min_acc[1]);
        }
        if (b < n_blocks) accumulate(b, acc[0], min_acc[0]);
        for (int i = 0; i < NT; ++i) {
            out[i] = hsum(_mm256_add_ps(acc[0][i], acc[1][i])) + (min_acc[0][i] + min_acc[1][i]);
        }
    }
};

// ---- float weights ------------------------------------------------------------------------------

struct LoadF32 {
    static constexpr size_t kBytesPer16 = 64;
    static __m256 load8(const uint8_t* row, int64_t i) { return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + i); }
    static float load1(const uint8_t* row, int64_t i) { return load_f32(row + 4 * i); }
};
struct LoadF16 {
    static constexpr size_t kBytesPer16 = 32;
    static __m256 load8(const uint8_t* row, int64_t i) { return _mm256_cvtph_ps(load128(row + 2 * i)); }
    static float load1(const uint8_t* row, int64_t i) { return f16_at(row + 2 * i); }
};
struct LoadBf16 {
    static constexpr size_t kBytesPer16 = 32;
    static __m256 load8(const uint8_t* row, int64_t i) {
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(load128(row + 2 * i)), 16));
    }
    static float load1(const uint8_t* row, int64_t i) { return bf16_to_fp32(load_u16(row + 2 * i)); }
};

// Two accumulators per token hide the FMA latency when one token streams the row.
template <class Loader>
struct FloatRow {
    template <int NT>
    static void run(const uint8_t* row, const TokenRows<NT>& x, int64_t cols, float* out) {
        __m256 acc0[NT], acc1[NT];
        for (int i = 0; i < NT; ++i) acc0[i] = acc1[i] = _mm256_setzero_ps();
        const int distance = prefetch_distance();
        int64_t j = 0;
        for (; j + 16 <= cols; j += 16) {
            prefetch_block<Loader::kBytesPer16>(row + j * static_cast<int64_t>(Loader::kBytesPer16 / 16), distance);
            const __m256 w0 = Loader::load8(row, j);
            const __m256 w1 = Loader::load8(row, j + 8);
            for (int i = 0; i < NT; ++i) {
                acc0[i] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x.values[i] + j), acc0[i]);
                acc1[i] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x.values[i] + j + 8), acc1[i]);
            }
        }
        for (; j + 8 <= cols; j += 8) {
            const __m256 w0 = Loader::load8(row, j);
            for (int i = 0; i < NT; ++i) acc0[i] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x.values[i] + j), acc0[i]);
        }
        for (int i = 0; i < NT; ++i) {
            float sum = hsum(_mm256_add_ps(acc0[i], acc1[i]));
            for (int64_t k = j; k < cols; ++k) sum += Loader::load1(row, k) * x.values[i][k];
            out[i] = sum;
        }
    }
};

// ---- activation quantization ------------------------------------------------------------------

// Same arithmetic as quantize_activations_portable, eight values at a time, so the bytes agree.
void quantize_block(const float* v, int64_t block, int64_t group, int8_t* q, float* scale, int16_t* sums) {
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    __m256 vmax = _mm256_setzero_ps();
    __m256 finite = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
    for (int64_t j = 0; j < block; j += 8) {
        const __m256 a = _mm256_and_ps(_mm256_loadu_ps(v + j), abs_mask);
        finite = _mm256_and_ps(finite, _mm256_cmp_ps(a, _mm256_set1_ps(FLT_MAX), _CMP_LE_OQ));
        vmax = _mm256_max_ps(vmax, a);
    }
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    const float amax = _mm_cvtss_f32(m);
    const bool all_finite = _mm256_movemask_ps(finite) == 0xFF;

    float d = 0.0f;
    if (!all_finite || amax < 1e-30f) {
        d = all_finite ? 0.0f : kQuietNaN;
        for (int64_t j = 0; j < block; j += 32) _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + j), _mm256_setzero_si256());
    } else {
        d = amax / 127.0f;
        const __m256 inverse = _mm256_set1_ps(127.0f / amax);
        const __m256 magic = _mm256_set1_ps(12582912.0f);
        const __m256 lo = _mm256_set1_ps(-127.0f);
        const __m256 hi = _mm256_set1_ps(127.0f);
        for (int64_t j = 0; j < block; j += 32) {
            __m256i ints[4];
            for (int k = 0; k < 4; ++k) {
                __m256 r = _mm256_mul_ps(_mm256_loadu_ps(v + j + 8 * k), inverse);
                r = _mm256_sub_ps(_mm256_add_ps(r, magic), magic);
                r = _mm256_min_ps(_mm256_max_ps(r, lo), hi);
                ints[k] = _mm256_cvtps_epi32(r);
            }
            // packs work per 128-bit lane; the final permute restores element order.
            const __m256i words = _mm256_packs_epi32(ints[0], ints[1]);
            const __m256i words2 = _mm256_packs_epi32(ints[2], ints[3]);
            const __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(words, words2),
                                                              _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + j), bytes);
        }
    }
    *scale = d;
    // Sums of each 32 bytes as 8 int32 of 4 neighbours: a 32-value group is all 8, a 16-value
    // group 4 of them.
    for (int64_t j = 0; j < block; j += 32) {
        const __m256i fours = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), load256(q + j)),
                                                _mm256_set1_epi16(1));
        alignas(32) int32_t parts[8];
        _mm256_store_si256(reinterpret_cast<__m256i*>(parts), fours);
        const int first = parts[0] + parts[1] + parts[2] + parts[3];
        const int second = parts[4] + parts[5] + parts[6] + parts[7];
        if (group == 32) {
            sums[j / 32] = static_cast<int16_t>(first + second);
        } else {
            sums[j / 16] = static_cast<int16_t>(first);
            sums[j / 16 + 1] = static_cast<int16_t>(second);
        }
    }
}

} // namespace
} // namespace latent::cpu::avx2

LATENT_AVX2_END

namespace latent::cpu::detail {

void quantize_activations_avx2(const float* x, int64_t cols, int64_t n_tokens, int64_t block, int8_t* quants,
                               float* scales, int16_t* sums) {
    const int64_t n_blocks = cols / block;
    const int64_t group = block == 32 ? 32 : 16;
    for (int64_t t = 0; t < n_tokens; ++t) {
        for (int64_t b = 0; b < n_blocks; ++b) {
            avx2::quantize_block(x + t * cols + b * block, block, group, quants + t * cols + b * block,
                                 scales + t * n_blocks + b, sums + t * (cols / group) + b * (block / group));
        }
    }
}

MatmulKernel avx2_kernel(TensorType type) {
    using namespace avx2;
    switch (type) {
    case TensorType::F32: return matmul_rows<FloatRow<LoadF32>>;
    case TensorType::F16: return matmul_rows<FloatRow<LoadF16>>;
    case TensorType::BF16: return matmul_rows<FloatRow<LoadBf16>>;
    case TensorType::Q4_0: return matmul_rows<SignedBlockRow<SignedQ4_0>>;
    case TensorType::Q5_0: return matmul_rows_q5_0_steps<RowQ5_0Pairs>;
    case TensorType::Q8_0: return matmul_rows<SignedBlockRow<SignedQ8_0>>;
    case TensorType::IQ4_NL: return matmul_rows<SignedBlockRow<SignedIq4Nl>>;
    case TensorType::Q4_1: return matmul_rows<UnsignedBlockRow<false>>;
    case TensorType::Q5_1: return matmul_rows<UnsignedBlockRow<true>>;
    default: return avx2_k_kernel(type);
    }
}

} // namespace latent::cpu::detail

#else // !LATENT_HAVE_X86

namespace latent::cpu::detail {
void quantize_activations_avx2(const float* x, int64_t cols, int64_t n_tokens, int64_t block, int8_t* quants,
                               float* scales, int16_t* sums) {
    quantize_activations_portable(x, cols, n_tokens, block, quants, scales, sums);
}
MatmulKernel avx2_kernel(TensorType) { return nullptr; }
} // namespace latent::cpu::detail

#endif
