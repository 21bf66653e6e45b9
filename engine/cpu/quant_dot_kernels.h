// Internal to engine/cpu: the kernel table behind matmul and the helpers the portable and SIMD
// kernel files share.
#pragma once

#include "cpu/quant_dot.h"

#include <algorithm>
#include <cstdint>

namespace latent::cpu::detail {

// Raw pointers into activations (an ActivationBuffer, or a caller's float array).
struct ActivationView {
    ActivationFormat format = ActivationFormat::None;
    int64_t cols = 0;
    int64_t n_tokens = 0;
    const float* values = nullptr;   // F32: (n_tokens, cols)
    const int8_t* quants = nullptr;  // Q8_*: (n_tokens, cols)
    const float* scales = nullptr;   // Q8_*: (n_tokens, cols / block size)
    const int16_t* sums = nullptr;   // Q8_*: (n_tokens, cols / sum group)
    int64_t scales_per_token = 0;
    int64_t sums_per_token = 0;
};

ActivationView view_of(const ActivationBuffer& x);

// Computes y[t * y_stride + r] = sum_i W[r][i] x[t][i] for rows [row_begin, row_end) and tokens
// [token_begin, token_end). The view is in the weight type's format with cols == w.cols.
using MatmulKernel = void (*)(const WeightMatrix& w, const ActivationView& x, int64_t row_begin, int64_t row_end,
                              int64_t token_begin, int64_t token_end, float* y, int64_t y_stride);

// nullptr where the level has no kernel for the type (the caller then falls back to portable).
MatmulKernel portable_kernel(TensorType type);
MatmulKernel avx2_kernel(TensorType type);
MatmulKernel avx2_k_kernel(TensorType type); // the super-block types, quant_dot_avx2_k.cpp
MatmulKernel avx512_kernel(TensorType type);  // per-row kernels that beat AVX2's (float types, Q5_0)
MatmulKernel avx512_vbmi_kernel(TensorType type); // those that also need VBMI and BITALG (Q5_0, four blocks a step)

// The AVX2 GEMM-style kernel for float weights (F32, F16, BF16; quant_dot_avx2_float.cpp):
// y[t * y_stride + r] for rows [row_begin, row_end) and all n_tokens tokens of x (n_tokens, cols).
// Call only when cpu_has_avx2().
void float_batch_matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, int64_t y_stride, int64_t row_begin, int64_t row_end,
                        ThreadPool* pool);

// Quantizes n_tokens tokens of cols values into the Q8_32 or Q8_K arrays (block = 32 or 256).
// Both implementations produce identical bytes.
using ActivationQuantizer = void (*)(const float* x, int64_t cols, int64_t n_tokens, int64_t block,
                                     int8_t* quants, float* scales, int16_t* sums);
void quantize_activations_portable(const float* x, int64_t cols, int64_t n_tokens, int64_t block, int8_t* quants,
                                   float* scales, int16_t* sums);
void quantize_activations_avx2(const float* x, int64_t cols, int64_t n_tokens, int64_t block, int8_t* quants,
                               float* scales, int16_t* sums);

// How far ahead of the block being read the SIMD kernels prefetch weights (bytes). The hardware
// prefetchers stop at 4 KiB pages and keep too few lines in flight while the core is busy
// decoding, so a one-token matmul streaming from memory runs at half the read bandwidth
// without it. 8 KiB: on a 2-core Zen 5 VM, V2-Lite Q4_K_M decode alternated in one process,
// 2 threads +7% against 2 KiB (4 KiB +4%, 16 KiB +1%), 1 thread +4.5% (the AVX-512 Q4_K kernel
// at 40 GB/s hot needs more lines in flight than the slower kernels that 2 KiB was chosen with).
// LATENT_CPU_PREFETCH (bytes, read once) overrides it for tuning.
int prefetch_distance();

bool cpu_has_avx2();
bool cpu_has_avx512(); // F, BW, VL and VNNI, on top of AVX2
bool cpu_has_avx512_vbmi(); // VBMI and BITALG, on top of cpu_has_avx512() (Ice Lake, Zen 4 and later)
bool cpu_has_avxvnni(); // AVX-VNNI (VEX vpdpbusd on ymm, CPUID leaf 7 subleaf 1 EAX bit 4), on top of AVX2

// Runs body.template operator()<NT>(row, token) for every row in [row_begin, row_end) and every
// group of NT (<= MaxTokens) consecutive tokens starting at `token`. Token groups are the outer
// loop: the group's activations stay in L1 while the rows stream past.
template <int MaxTokens, class Body>
void for_each_tile(int64_t row_begin, int64_t row_end, int64_t token_begin, int64_t token_end, Body&& body) {
    static_assert(MaxTokens >= 1 && MaxTokens <= 4);
    for (int64_t t = token_begin; t < token_end;) {
        const int64_t group = std::min<int64_t>(MaxTokens, token_end - t);
        switch (group) {
        case 4:
            if constexpr (MaxTokens >= 4) {
                for (int64_t r = row_begin; r < row_end; ++r) body.template operator()<4>(r, t);
            }
            break;
        case 3:
            if constexpr (MaxTokens >= 3) {
                for (int64_t r = row_begin; r < row_end; ++r) body.template operator()<3>(r, t);
            }
            break;
        case 2:
            if constexpr (MaxTokens >= 2) {
                for (int64_t r = row_begin; r < row_end; ++r) body.template operator()<2>(r, t);
            }
            break;
        default:
            for (int64_t r = row_begin; r < row_end; ++r) body.template operator()<1>(r, t);
            break;
        }
        t += group;
    }
}

} // namespace latent::cpu::detail
