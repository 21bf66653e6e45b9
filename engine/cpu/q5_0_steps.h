// Internal to engine/cpu: the driver of the Q5_0 row kernels that take several blocks a step:
// RowQ5_0Pairs of quant_dot_avx2.cpp and quant_dot_avx512_rows.cpp (two blocks, 44 bytes) and
// RowQ5_0Quads of quant_dot_avx512_vbmi.cpp (four blocks, 88 bytes). Such a kernel reads each
// token's activations rearranged per step in its own order, with the blocks' scales and their
// "- 16" corrections beside them; the driver prepares them once per task (a thread-local buffer
// kept for the thread's next tasks) and then runs the kernel over the task's rows, up to 4
// tokens per pass.
//
// Include it inside the file's target region (after LATENT_AVX2_BEGIN, LATENT_AVX512_BEGIN or
// LATENT_AVX512_VBMI_BEGIN), with the headers it names included before the marker, as
// quant_dot_batch_tiles.h is: its code is then compiled for that file's target, so the kernel's
// run and prepare_step inline into the driver (compiled outside the region, each row paid a call:
// 2% of the AVX2 kernel's speed), and it is in an unnamed namespace, so every file gets its own
// copy and the linker can never give one file another's wider code.
//
// Row provides:
//   static constexpr int64_t kStepBlocks;  // blocks per step
//   static constexpr int64_t kStepBytes;   // prepared bytes per token and step
//   static void prepare_step(const int8_t* q, const float* d, const int16_t* sums, int64_t n, uint8_t* to);
//     // the step's n (1..kStepBlocks: fewer at the row's end) blocks of 32 quants, their scales
//     // and sums of quants, written to `to` (kStepBytes; blocks past n as zeros)
//   template <int NT> static void run(const uint8_t* row, const uint8_t* const (&x)[NT], int64_t cols, float* out);
#pragma once

#include "cpu/quant_dot_kernels.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace latent::cpu::detail {
namespace {

// The first 64 bytes of both pair kernels' prepared step: block A's 32 activations and block
// B's as [A 0-15, B 0-15, A 16-31, B 16-31], zeros for B when xb is nullptr.
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

// Steps of two blocks for a Row with prepare_pair(xa, xb, da, db, sa, sb, to) (xb nullptr: block
// A alone).
template <class Row>
struct PairSteps {
    static constexpr int64_t kStepBlocks = 2;

    static void prepare_step(const int8_t* q, const float* d, const int16_t* sums, int64_t n, uint8_t* to) {
        const bool has_b = n > 1;
        Row::prepare_pair(q, has_b ? q + 32 : nullptr, d[0], has_b ? d[1] : 0.0f, sums[0], has_b ? sums[1] : 0, to);
    }
};

template <class Row>
void matmul_rows_q5_0_steps(const WeightMatrix& w, const ActivationView& x, int64_t row_begin, int64_t row_end,
                            int64_t token_begin, int64_t token_end, float* y, int64_t y_stride) {
    // 64-byte aligned: the kernels load the prepared activations 64 bytes at a time, and a load
    // across two cache lines costs two (the four-block kernel ran 25% slower unaligned).
    thread_local AlignedArray<uint8_t> storage;
    const int64_t n = token_end - token_begin, blocks = w.cols / 32;
    const int64_t steps = (blocks + Row::kStepBlocks - 1) / Row::kStepBlocks;
    if (n <= 0) return;
    const int64_t per_token = steps * Row::kStepBytes;
    const size_t need = static_cast<size_t>(n * per_token);
    if (storage.size() < need) storage.resize(need);
    uint8_t* const prepared = storage.data();
    for (int64_t t = 0; t < n; ++t) {
        const int64_t token = token_begin + t;
        const int8_t* q = x.quants + token * x.cols;
        const float* d = x.scales + token * x.scales_per_token;
        const int16_t* sums = x.sums + token * x.sums_per_token;
        uint8_t* to = prepared + t * per_token;
        for (int64_t s = 0; s < steps; ++s) {
            const int64_t first = s * Row::kStepBlocks;
            Row::prepare_step(q + 32 * first, d + first, sums + first, std::min(Row::kStepBlocks, blocks - first),
                              to + s * Row::kStepBytes);
        }
    }
    for_each_tile<4>(row_begin, row_end, 0, n, [&]<int NT>(int64_t r, int64_t t0) {
        const uint8_t* tokens[NT];
        for (int i = 0; i < NT; ++i) tokens[i] = prepared + (t0 + i) * per_token;
        float out[NT];
        Row::template run<NT>(w.data + r * static_cast<int64_t>(w.row_bytes), tokens, w.cols, out);
        for (int i = 0; i < NT; ++i) y[(token_begin + t0 + i) * y_stride + r] = out[i];
    });
}

} // namespace
} // namespace latent::cpu::detail
