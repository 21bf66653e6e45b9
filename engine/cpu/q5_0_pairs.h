// Internal to engine/cpu: the driver of the Q5_0 row kernels that take two blocks (44 bytes) per
// step, RowQ5_0Pairs of quant_dot_avx512_rows.cpp and of quant_dot_avx2.cpp. Such a kernel reads
// each token's activations rearranged per pair of blocks in its own order, with the blocks'
// scales and their "- 16" corrections beside them; the driver prepares them once per task (a
// thread-local buffer kept for the thread's next tasks) and then runs the kernel over the task's
// rows, up to 4 tokens per pass.
//
// Include it inside the file's target region (after LATENT_AVX2_BEGIN or LATENT_AVX512_BEGIN),
// with the headers it names included before the marker, as quant_dot_batch_tiles.h is: its code
// is then compiled for that file's target, so the kernel's run and prepare_pair inline into the
// driver (compiled outside the region, each row paid a call: 2% of the AVX2 kernel's speed), and
// it is in an unnamed namespace, so every file gets its own copy and the linker can never give
// one file another's wider code.
//
// Row provides:
//   static constexpr int64_t kPairBytes;  // bytes per token and pair of blocks
//   static void prepare_pair(const int8_t* xa, const int8_t* xb, float da, float db, int sa, int sb, uint8_t* to);
//     // block A's 32 quants, block B's (nullptr past the row's end: an odd block count), their
//     // scales and sums of quants, written to `to` (kPairBytes)
//   template <int NT> static void run(const uint8_t* row, const uint8_t* const (&x)[NT], int64_t cols, float* out);
#pragma once

#include "cpu/quant_dot_kernels.h"

#include <cstdint>
#include <cstring>
#include <vector>

namespace latent::cpu::detail {
namespace {

// The first 64 bytes of both kernels' prepared pair: block A's 32 activations and block B's as
// [A 0-15, B 0-15, A 16-31, B 16-31], zeros for B when xb is nullptr.
inline void interleave_pair_quants(const int8_t* xa, const int8_t* xb, uint8_t* to) {
    std::memcpy(to, xa, 16);
    std::memcpy(to + 32, xa + 16, 16);
    if (xb) {
        std::memcpy(to + 16, xb, 16);
        std::memcpy(to + 48, xb + 16, 16);
    } else {
        std::memset(to + 16, 0, 16);
        std::memset(to + 48, 0, 16);
    }
}

template <class Row>
void matmul_rows_q5_0_pairs(const WeightMatrix& w, const ActivationView& x, int64_t row_begin, int64_t row_end,
                            int64_t token_begin, int64_t token_end, float* y, int64_t y_stride) {
    thread_local std::vector<uint8_t> prepared;
    const int64_t n = token_end - token_begin, blocks = w.cols / 32, pairs = (blocks + 1) / 2;
    if (n <= 0) return;
    const int64_t per_token = pairs * Row::kPairBytes;
    const size_t need = static_cast<size_t>(n * per_token);
    if (prepared.size() < need) prepared.resize(need);
    for (int64_t t = 0; t < n; ++t) {
        const int64_t token = token_begin + t;
        const int8_t* q = x.quants + token * x.cols;
        const float* d = x.scales + token * x.scales_per_token;
        const int16_t* sums = x.sums + token * x.sums_per_token;
        uint8_t* to = prepared.data() + t * per_token;
        for (int64_t p = 0; p < pairs; ++p) {
            const int64_t a = 2 * p, b = a + 1;
            const bool has_b = b < blocks;
            Row::prepare_pair(q + 32 * a, has_b ? q + 32 * b : nullptr, d[a], has_b ? d[b] : 0.0f, sums[a], has_b ? sums[b] : 0,
                              to + p * Row::kPairBytes);
        }
    }
    for_each_tile<4>(row_begin, row_end, 0, n, [&]<int NT>(int64_t r, int64_t t0) {
        const uint8_t* tokens[NT];
        for (int i = 0; i < NT; ++i) tokens[i] = prepared.data() + (t0 + i) * per_token;
        float out[NT];
        Row::template run<NT>(w.data + r * static_cast<int64_t>(w.row_bytes), tokens, w.cols, out);
        for (int i = 0; i < NT; ++i) y[(token_begin + t0 + i) * y_stride + r] = out[i];
    });
}

} // namespace
} // namespace latent::cpu::detail
