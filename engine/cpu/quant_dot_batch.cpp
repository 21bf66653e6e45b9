// The ISA-independent half of the batch kernels (quant_dot_batch.h): row decoders into the
// common form, the panel's memory, the activations' preparation and the split into tasks. The
// decoders and the activation bias use AVX2 only (every CPU that runs a batch kernel has it) and
// are called once per panel row, so they are compiled once, for AVX2, and shared.
#include "cpu/quant_dot_batch.h"

#include "cpu/avx2_common.h"
#include "cpu/thread_pool.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#if LATENT_HAVE_X86

LATENT_AVX2_BEGIN

namespace latent::cpu::detail::batch {
namespace {

using namespace blocks;
using avx2::f16_at;
using avx2::fifth_bits_as_bytes;
using avx2::iq4_codebook;
using avx2::load128;
using avx2::load256;
using avx2::nibbles_32;
using avx2::prefetch_block;
using avx2::store256;

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
            const __m128i packed_scales = avx2::q3_k_scale_bytes(block + q3_k::scales);
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

// x + 128 as unsigned bytes (n is a multiple of 32).
void make_unsigned(const int8_t* q, int64_t n, uint8_t* out) {
    const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80));
    for (int64_t i = 0; i < n; i += 32) store256(out + i, _mm256_xor_si256(load256(q + i), bias));
}

} // namespace
} // namespace latent::cpu::detail::batch

LATENT_AVX2_END

namespace latent::cpu::detail::batch {

// The last field is the largest |q| a decoder can produce (Q4_0: q - 8 in -8..7, Q5_0: -16..15,
// Q4_1/Q4_K: 0..15, Q5_1/Q5_K: 0..31, Q6_K: -32..31, Q3_K: -4..3, Q2_K: 0..3, IQ4_*: the
// codebook's -127..113, Q8_*: any byte).
RowForm row_form(TensorType type) {
    switch (type) {
    case TensorType::Q4_0: return {32, false, decode_block32<Q4_0>, 8};
    case TensorType::Q4_1: return {32, true, decode_block32<Q4_1>, 15};
    case TensorType::Q5_0: return {32, false, decode_block32<Q5_0>, 16};
    case TensorType::Q5_1: return {32, true, decode_block32<Q5_1>, 31};
    case TensorType::Q8_0: return {32, false, decode_block32<Q8_0>, 128};
    case TensorType::IQ4_NL: return {32, false, decode_block32<Iq4Nl>, 127};
    case TensorType::Q2_K: return {16, true, decode_q23_k<false>, 3};
    case TensorType::Q3_K: return {16, false, decode_q23_k<true>, 4};
    case TensorType::Q4_K: return {32, true, decode_qk4<false>, 15};
    case TensorType::Q5_K: return {32, true, decode_qk4<true>, 31};
    case TensorType::Q6_K: return {16, false, decode_q6_k, 32};
    case TensorType::IQ4_XS: return {32, false, decode_iq4_xs, 127};
    case TensorType::Q8_K: return {32, false, decode_q8_k, 128};
    default: return {};
    }
}


void Panel::resize(int64_t n_cols, int sub) {
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

namespace {

// Decodes rows [row0, row0 + n_rows) of w (n_rows <= 16; missing rows are zero) into the
// panel's row-major scratch, with the sub-block padding zeroed.
void decode_rows(const WeightMatrix& w, const RowForm& form, int64_t row0, int n_rows, Panel& panel) {
    const int64_t cols = w.cols;
    panel.resize(cols, form.sub);
    const int64_t n_sub = panel.n_sub;
    const int64_t n_sub_padded = panel.n_sub_padded;
    const int prefetch = prefetch_distance();
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
}

} // namespace

bool batch_matmul(const BatchKernel& kernel, const WeightMatrix& w, const ActivationView& x, float* y, int64_t y_stride,
                  int64_t row_begin, int64_t row_end, ThreadPool* pool) {
    const RowForm form = row_form(w.type);
    if (!kernel.interleave || !form.decode || (x.format != ActivationFormat::Q8_32 && x.format != ActivationFormat::Q8_K)) return false;
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
    const PanelTokens run_tokens = kernel.tokens_for(form, x.format);
    const PanelPairTokens run_pair = kernel.pair_tokens_for ? kernel.pair_tokens_for(form, x.format) : nullptr;

    // Tasks: panels of 16 rows (pairs of them where the kernel takes two at once; a lone last
    // panel alone), times token chunks when there are too few to go round.
    const int64_t n_panels = (row_end - row_begin + kPanelRows - 1) / kPanelRows;
    const int64_t per_unit = run_pair ? 2 : 1;
    const int64_t n_units = (n_panels + per_unit - 1) / per_unit;
    const unsigned n_threads = pool ? pool->size() : 1;
    int64_t token_chunks = 1;
    if (static_cast<int64_t>(n_threads) * 4 > n_units) {
        token_chunks = std::min<int64_t>((static_cast<int64_t>(n_threads) * 4 + n_units - 1) / n_units,
                                         std::max<int64_t>(1, x.n_tokens / 16));
    }
    const int64_t tokens_per_chunk = (x.n_tokens + token_chunks - 1) / token_chunks;
    const int64_t n_tasks = n_units * token_chunks;
    auto run_task = [&](size_t task, unsigned) {
        thread_local Panel panel, second;
        const int64_t unit = static_cast<int64_t>(task) % n_units;
        const int64_t chunk = static_cast<int64_t>(task) / n_units;
        const int64_t row0 = row_begin + unit * per_unit * kPanelRows;
        const int64_t t0 = chunk * tokens_per_chunk;
        const int64_t t1 = std::min(x.n_tokens, t0 + tokens_per_chunk);
        if (t0 >= t1) return;
        const int n_rows = static_cast<int>(std::min<int64_t>(kPanelRows, row_end - row0));
        decode_rows(w, form, row0, n_rows, panel);
        kernel.interleave(panel, form);
        if (run_pair && row0 + kPanelRows < row_end) {
            const int n_rows_b = static_cast<int>(std::min<int64_t>(kPanelRows, row_end - row0 - kPanelRows));
            decode_rows(w, form, row0 + kPanelRows, n_rows_b, second);
            kernel.interleave(second, form);
            run_pair(panel, second, prepared, t0, t1, y, y_stride, row0, n_rows_b);
            return;
        }
        run_tokens(panel, prepared, t0, t1, y, y_stride, row0, n_rows);
    };
    if (pool && n_tasks > 1) {
        pool->parallel_for(static_cast<size_t>(n_tasks), [&run_task](size_t task, unsigned thread) { run_task(task, thread); });
    } else {
        for (int64_t task = 0; task < n_tasks; ++task) run_task(static_cast<size_t>(task), 0);
    }
    return true;
}

} // namespace latent::cpu::detail::batch

#else // !LATENT_HAVE_X86

namespace latent::cpu::detail::batch {

RowForm row_form(TensorType) { return {}; }

void Panel::resize(int64_t, int) {}

bool batch_matmul(const BatchKernel&, const WeightMatrix&, const ActivationView&, float*, int64_t, int64_t, int64_t,
                  ThreadPool*) {
    return false;
}

} // namespace latent::cpu::detail::batch

#endif
