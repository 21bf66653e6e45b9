// AVX-512 per-row kernels that also need VBMI (byte permutes across the whole register) and
// BITALG (bit gathers into a mask): Q5_0, four blocks a step. Every CPU with AVX-512 VNNI has
// them except Cascade Lake / Cooper Lake, which keep the two-block kernel of
// quant_dot_avx512_rows.cpp (SimdLevel::Avx512 against SimdLevel::Avx512Vbmi).

// GCC 12's AVX-512 intrinsics pass an "undefined" register as the unused merge source, which
// -Wmaybe-uninitialized reports after inlining, located in the header: silence it for this file
// (before any header can pull in immintrin.h).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include "cpu/avx2_common.h"

#include <array>
#include <cstdint>
#include <cstring>

namespace latent::cpu::detail {

bool cpu_has_avx512_vbmi() {
#if LATENT_HAVE_X86 && defined(__x86_64__)
    static const bool supported =
        cpu_has_avx512() && __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512bitalg");
    return supported;
#else
    return false;
#endif
}

} // namespace latent::cpu::detail

#if LATENT_HAVE_X86 && defined(__x86_64__)

namespace latent::cpu::avx512_vbmi {
namespace {

using blocks::q5_0::bytes;

// Byte (or word) indices for the two-source permutes of a step's 88 bytes, loaded as L0 = bytes
// 0..63 and L1 = bytes 24..87 of the step: byte i < 64 is index i, byte i >= 64 is index
// 64 + (i - 24), in L1 (a word: 32 + (i - 24) / 2).
constexpr int two_source_byte(int i) { return i < 64 ? i : 64 + (i - 24); }

struct QuadIndices {
    alignas(64) std::array<uint8_t, 64> qs{};      // block g's 16 qs bytes at bytes 16g..16g+15
    alignas(64) std::array<uint8_t, 64> qh{};      // block g's qh word in the low half of qwords 2g and 2g+1
    alignas(64) std::array<uint8_t, 64> low_bits{}; // bit of that qword giving byte j's fifth bit, values 0-15
    alignas(64) std::array<uint8_t, 64> high_bits{}; // the same for values 16-31
    alignas(64) std::array<uint16_t, 32> d{};      // block g's scale in words 4g..4g+3 (16 words used)
};

constexpr QuadIndices make_quad_indices() {
    QuadIndices ix;
    for (int g = 0; g < 4; ++g) {
        for (int j = 0; j < 16; ++j) {
            ix.qs[16 * g + j] = static_cast<uint8_t>(two_source_byte(static_cast<int>(bytes) * g + static_cast<int>(blocks::q5_0::qs) + j));
        }
    }
    for (int qword = 0; qword < 8; ++qword) {
        const int g = qword / 2;
        for (int b = 0; b < 8; ++b) {
            const int at = 8 * qword + b;
            ix.qh[at] = static_cast<uint8_t>(two_source_byte(static_cast<int>(bytes) * g + static_cast<int>(blocks::q5_0::qh) + (b & 3)));
            // Byte `at` of the low vector is value 16g + l of block g, l = at % 16 = 8 (qword % 2) + b.
            ix.low_bits[at] = static_cast<uint8_t>(8 * (qword % 2) + b);
            ix.high_bits[at] = static_cast<uint8_t>(16 + 8 * (qword % 2) + b);
        }
    }
    for (int w = 0; w < 16; ++w) {
        const int byte = static_cast<int>(bytes) * (w / 4) + static_cast<int>(blocks::q5_0::d);
        ix.d[w] = static_cast<uint16_t>(byte < 64 ? byte / 2 : 32 + (byte - 24) / 2);
    }
    return ix;
}

constexpr QuadIndices kQuadIndices = make_quad_indices();
static_assert(blocks::q5_0::d == 0 && blocks::q5_0::qh == 2 && blocks::q5_0::qs == 6 && bytes == 22);

} // namespace
} // namespace latent::cpu::avx512_vbmi

LATENT_AVX512_VBMI_BEGIN

#include "cpu/q5_0_steps.h"

namespace latent::cpu::avx512_vbmi {
namespace {

// Q5_0, four blocks (88 bytes, two loads) a step. Two-source byte permutes put the four blocks'
// 16 qs bytes side by side (one register: low nibbles are values 0-15 of each block, high
// nibbles values 16-31, no lane fix-ups), the four qh words into a register from which two bit
// gathers (vpshufbitqmb) give the fifth bits of both halves as masks, and a word permute the
// four scales for a half-to-float conversion. So both halves' products land in the same 16
// int32 lanes (4 per block): one chain of two vpdpbusd, one conversion and one multiply-add per
// token and 128 weights, about 17 vector instructions where the two-block kernel spends ~24, and
// no scalar work for the masks. On a Zen 5 core, one token, weights in cache: 40 against 23
// GB/s (see BENCHMARKS.md).
// The weights stay unsigned (0..31); the "- 16" is folded into the int32 sums through the
// activations' block sums (-16 * sum x, prepared per task).
struct RowQ5_0Quads {
    static constexpr int64_t kStepBlocks = 4;
    // Per token and step: 64 activation bytes [block g's values 0-15 at 16g], 64 bytes [its
    // values 16-31 at 16g], 16 floats [d_x of block g in lanes 4g..4g+3], 16 int32 [-16 * sum x
    // of block g in lane 4g, zeros]: 256 bytes, four tokens of a 2,048-wide row in 64 KiB.
    static constexpr int64_t kStepBytes = 256;

    static void prepare_step(const int8_t* q, const float* d, const int16_t* sums, int64_t n, uint8_t* to) {
        std::memset(to, 0, 128); // the quants of blocks past n; scales and corrections are written whole below
        float scales[16] = {};
        int32_t corr[16] = {};
        for (int64_t g = 0; g < n; ++g) {
            std::memcpy(to + 16 * g, q + 32 * g, 16);
            std::memcpy(to + 64 + 16 * g, q + 32 * g + 16, 16);
            for (int l = 0; l < 4; ++l) scales[4 * g + l] = d[g];
            corr[4 * g] = -16 * sums[g];
        }
        std::memcpy(to + 128, scales, sizeof scales);
        std::memcpy(to + 192, corr, sizeof corr);
    }

    template <int NT>
    static void step(__m512i l0, __m512i l1, const uint8_t* const (&x)[NT], int64_t offset, __m512 (&acc)[NT]) {
        // Keep the two loads in registers: left to itself, GCC folds them into each permute as a
        // memory operand (vpermt2b overwrites a source, so a register would need a copy), which
        // reads every weight byte three times; a one-token stream then ran at 16-20 GB/s per
        // core against 27 that the memory gives, and 28 hot against 40 with the loads kept.
        asm("" : "+v"(l0), "+v"(l1));
        const __m512i low_nibble = _mm512_set1_epi8(0x0F), fifth = _mm512_set1_epi8(0x10);
        const auto* ix = &kQuadIndices;
        const __m512i qs = _mm512_permutex2var_epi8(l0, _mm512_load_si512(ix->qs.data()), l1);
        const __m512i qh = _mm512_permutex2var_epi8(l0, _mm512_load_si512(ix->qh.data()), l1);
        const __mmask64 low_fifth = _mm512_bitshuffle_epi64_mask(qh, _mm512_load_si512(ix->low_bits.data()));
        const __mmask64 high_fifth = _mm512_bitshuffle_epi64_mask(qh, _mm512_load_si512(ix->high_bits.data()));
        const __m512i low = _mm512_and_si512(qs, low_nibble), high = _mm512_and_si512(_mm512_srli_epi16(qs, 4), low_nibble);
        const __m512i w_low = _mm512_mask_add_epi8(low, low_fifth, low, fifth);
        const __m512i w_high = _mm512_mask_add_epi8(high, high_fifth, high, fifth);
        const __m512 dw = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutex2var_epi16(l0, _mm512_load_si512(ix->d.data()), l1)));
        for (int i = 0; i < NT; ++i) {
            const uint8_t* p = x[i] + offset;
            __m512i dot = _mm512_loadu_si512(p + 192);
            dot = _mm512_dpbusd_epi32(dot, w_low, _mm512_loadu_si512(p));
            dot = _mm512_dpbusd_epi32(dot, w_high, _mm512_loadu_si512(p + 64));
            const __m512 scale = _mm512_mul_ps(dw, _mm512_loadu_ps(reinterpret_cast<const float*>(p + 128)));
            acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), scale, acc[i]);
        }
    }

    template <int NT>
    static void run(const uint8_t* row, const uint8_t* const (&x)[NT], int64_t cols, float* out) {
        __m512 acc[NT];
        for (int i = 0; i < NT; ++i) acc[i] = _mm512_setzero_ps();
        const int distance = avx2::prefetch_distance();
        const int64_t n_blocks = cols / 32, full = n_blocks / 4;
        for (int64_t s = 0; s < full; ++s) {
            const uint8_t* quad = row + s * 4 * static_cast<int64_t>(bytes);
            _mm_prefetch(reinterpret_cast<const char*>(quad) + distance, _MM_HINT_T0);
            _mm_prefetch(reinterpret_cast<const char*>(quad) + distance + 64, _MM_HINT_T0);
            step<NT>(_mm512_loadu_si512(quad), _mm512_loadu_si512(quad + 24), x, s * kStepBytes, acc);
        }
        if (const int64_t rest = n_blocks - 4 * full; rest > 0) {
            // 1-3 blocks: masked loads read nothing past them (zeros: weights 0, scales 0, and
            // the prepared activations of the missing blocks are zeros too).
            const uint8_t* quad = row + full * 4 * static_cast<int64_t>(bytes);
            const int64_t valid = rest * static_cast<int64_t>(bytes);
            const __mmask64 m0 = valid >= 64 ? ~__mmask64{0} : (__mmask64{1} << valid) - 1;
            const __mmask64 m1 = valid > 24 ? (__mmask64{1} << (valid - 24)) - 1 : 0;
            step<NT>(_mm512_maskz_loadu_epi8(m0, quad), _mm512_maskz_loadu_epi8(m1, quad + 24), x, full * kStepBytes, acc);
        }
        for (int i = 0; i < NT; ++i) out[i] = _mm512_reduce_add_ps(acc[i]);
    }
};

} // namespace
} // namespace latent::cpu::avx512_vbmi

LATENT_AVX512_VBMI_END

namespace latent::cpu::detail {

MatmulKernel avx512_vbmi_kernel(TensorType type) {
    return type == TensorType::Q5_0 ? matmul_rows_q5_0_steps<avx512_vbmi::RowQ5_0Quads> : nullptr;
}

} // namespace latent::cpu::detail

#else

namespace latent::cpu::detail {
MatmulKernel avx512_vbmi_kernel(TensorType) { return nullptr; }
} // namespace latent::cpu::detail

#endif
