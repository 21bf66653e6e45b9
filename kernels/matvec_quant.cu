// Decode matrix-vector and small-batch matrix products over stored weights (matvec_quant.h).
//
// Kernels (all 128 threads = 4 warps a block; each warp owns G rows, common/matvec_warp.cuh):
//   quantize_q8_kernel             one warp per 32 activations: warp_quantize_slice (warp_quant.cuh)
//   matvec_q8_kernel<T, kTokens>   block types: stage a step's weight bytes (16-byte loads) into
//                                  the warp's shared window, decode each lane's slice once into
//                                  the common int8 form, dp4a it against every token's activations
//   matvec_f_kernel<T, kTokens>    F32/F16/BF16: each lane loads its 32 weights with 16-byte loads
//                                  straight from global memory (float rows are 16-byte aligned)
// kTokens is a bucket (1, 4 or 16; float types 1, 4 or 8, twice for 9-16 tokens): the kernel
// keeps that many accumulators and skips tokens past n_tokens, so one instantiation serves every
// batch up to its size.
#include "common/cuda_compat.cuh"

#include "common/matvec_warp.cuh"
#include "common/quant_dispatch.h"
#include "common/warp_quant.cuh"
#include "matvec_quant.h"

#include <stdexcept>
#include <string>

namespace latent::kernels {
namespace {

namespace wr = warp_rows;

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / wr::kWarpSize;

// Resident blocks per SM the register allocation must leave room for. The batch buckets (8 and
// 16 accumulators) do not fit the 64 registers of 50% occupancy without spilling for every type
// on every arch, so they are held to 6 blocks (80 registers, 37.5% of 64 warp slots, 50% of
// sm_86/89's 48); the decode buckets (1 and 4 tokens) to 8 blocks = 64 registers = 50%
// (kernels/kernel_classes.txt).
constexpr int min_blocks(int tokens) { return tokens >= 8 ? 6 : 8; }

// Keeps a loop rolled on the GPU (register pressure of the batch buckets); nothing elsewhere.
#if defined(__CUDACC__)
#define LATENT_ROLLED_LOOP _Pragma("unroll 1")
#else
#define LATENT_ROLLED_LOOP
#endif

// Byte offset of the scales in a Q8 activation buffer.
__host__ __device__ inline int64_t q8_scales_offset(int64_t cols, int64_t n_tokens) {
    return (cols * n_tokens + 15) & ~int64_t{15};
}

__global__ void __launch_bounds__(kThreads) quantize_q8_kernel(const float* __restrict__ x, int64_t n_slices,
                                                                int8_t* __restrict__ q, float* __restrict__ d) {
    const int lane = static_cast<int>(threadIdx.x) % wr::kWarpSize;
    const int64_t slice = int64_t{blockIdx.x} * kWarps + static_cast<int>(threadIdx.x) / wr::kWarpSize;
    if (slice >= n_slices) return;
    const WarpSliceQ8 r = warp_quantize_slice(x[slice * quant::kSlice + lane]);
    q[slice * quant::kSlice + lane] = r.q;
    if (lane == 0) d[slice] = r.d;
}

template <QuantType T, int kTokens>
__global__ void __launch_bounds__(kThreads, min_blocks(kTokens))
    matvec_q8_kernel(const uint8_t* __restrict__ w, int64_t rows, int cols, int lanes, const int8_t* __restrict__ xq,
                     const float* __restrict__ xd, int n_tokens, float* __restrict__ y) {
    __shared__ uint4 window[kWarps][wr::kStageWords];
    const int warp = static_cast<int>(threadIdx.x) / wr::kWarpSize;
    const int lane = static_cast<int>(threadIdx.x) % wr::kWarpSize;
    const int rows_per_warp = wr::kWarpSize / lanes;
    const int64_t row0 = (int64_t{blockIdx.x} * kWarps + warp) * rows_per_warp;
    if (row0 >= rows) return; // the whole warp leaves together
    const int rows_here = rows - row0 < rows_per_warp ? static_cast<int>(rows - row0) : rows_per_warp;
    const int slices = cols / quant::kSlice;
    const int64_t row_bytes = quant::row_bytes(T, cols);
    const int64_t total = rows * row_bytes;

    float acc[kTokens];
    for (int t = 0; t < kTokens; ++t) acc[t] = 0.0f;
    const int group = lane / lanes;
    const bool long_rows = lanes == wr::kWarpSize;
    const int step = long_rows ? wr::kLongStep : lanes;
    for (int first = 0; first < slices; first += step) {
        const wr::Step s = wr::step_of<T>(row0, rows_here, slices, lanes, row_bytes, first, lane);
        const uint8_t* staged = wr::stage_range(w, s.begin, s.end, total, window[warp], lane);
        LATENT_ROLLED_LOOP
        for (int j = 0; j < (long_rows ? wr::kSlicesPerLane : 1); ++j) {
            const int slice = long_rows ? first + lane + wr::kWarpSize * j : lane % lanes;
            if (slice >= slices || group >= rows_here) continue;
            quant::SliceQ8 ws;
            wr::decode_staged_slice<T>(staged, lanes, group, row_bytes, first, slice, ws);
            for (int t = 0; t < kTokens; ++t) {
                if (t < n_tokens)
                    acc[t] += wr::dot_q8_activations<T>(ws, xq + int64_t{t} * cols + int64_t{slice} * quant::kSlice,
                                                        xd[int64_t{t} * slices + slice]);
            }
        }
        __syncwarp(); // the next step overwrites the window
    }
    for (int t = 0; t < kTokens; ++t) acc[t] = wr::group_sum(acc[t], lanes);
    if (lane % lanes == 0 && group < rows_here) {
        for (int t = 0; t < kTokens && t < n_tokens; ++t) y[int64_t{t} * rows + row0 + group] = acc[t];
    }
}

template <QuantType T, int kTokens>
__global__ void __launch_bounds__(kThreads, min_blocks(kTokens))
    matvec_f_kernel(const uint8_t* __restrict__ w, int64_t rows, int cols, int lanes, const float* __restrict__ x,
                    int n_tokens, float* __restrict__ y) {
    const int warp = static_cast<int>(threadIdx.x) / wr::kWarpSize;
    const int lane = static_cast<int>(threadIdx.x) % wr::kWarpSize;
    const int rows_per_warp = wr::kWarpSize / lanes;
    const int64_t row0 = (int64_t{blockIdx.x} * kWarps + warp) * rows_per_warp;
    if (row0 >= rows) return;
    const int group = lane / lanes;
    const int64_t row = row0 + group;
    const int slices = cols / quant::kSlice;
    const int64_t row_bytes = quant::row_bytes(T, cols);

    float acc[kTokens];
    for (int t = 0; t < kTokens; ++t) acc[t] = 0.0f;
    if (row < rows) {
        LATENT_ROLLED_LOOP
        for (int slice = lane % lanes; slice < slices; slice += lanes) {
            // In chunks of 8 weights, so 16 accumulators and a chunk fit the register budget
            // that keeps 50% occupancy.
            const uint8_t* ws = w + row * row_bytes + int64_t{slice} * quant::float_slice_bytes(T);
            LATENT_ROLLED_LOOP
            for (int c = 0; c < 4; ++c) {
                float wv[8];
                wr::load_float_chunk<T>(ws, c, wv);
                for (int t = 0; t < kTokens; ++t) {
                    if (t < n_tokens) {
                        const float4* xs = reinterpret_cast<const float4*>(
                            x + int64_t{t} * cols + int64_t{slice} * quant::kSlice + 8 * c);
                        const float4 a = xs[0], b = xs[1];
                        acc[t] += wv[0] * a.x + wv[1] * a.y + wv[2] * a.z + wv[3] * a.w + wv[4] * b.x + wv[5] * b.y +
                                  wv[6] * b.z + wv[7] * b.w;
                    }
                }
            }
        }
    }
    for (int t = 0; t < kTokens; ++t) acc[t] = wr::group_sum(acc[t], lanes);
    if (lane % lanes == 0 && row < rows) {
        for (int t = 0; t < kTokens && t < n_tokens; ++t) y[int64_t{t} * rows + row] = acc[t];
    }
}

// ---- host side ----------------------------------------------------------------------------------

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument(what); }

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

template <QuantType T, int kTokens>
void launch_bucket(const QuantMatrix& w, const float* x, const void* x_q8, int n_tokens, float* y, gpu::Stream stream) {
    const int lanes = wr::lanes_per_row(w.cols / quant::kSlice);
    const int64_t rows_per_block = int64_t{kWarps} * (wr::kWarpSize / lanes);
    const dim3 grid(static_cast<unsigned>((w.rows + rows_per_block - 1) / rows_per_block));
    const auto* weights = static_cast<const uint8_t*>(w.data);
    const int cols = static_cast<int>(w.cols);
    if constexpr (quant::is_float_type(T)) {
        auto* kernel = &matvec_f_kernel<T, kTokens>;
        LATENT_LAUNCH(kernel, grid, dim3(kThreads), 0, stream, weights, w.rows, cols, lanes, x, n_tokens, y);
    } else {
        const auto* q = static_cast<const int8_t*>(x_q8);
        const auto* d = reinterpret_cast<const float*>(static_cast<const uint8_t*>(x_q8) + q8_scales_offset(w.cols, n_tokens));
        auto* kernel = &matvec_q8_kernel<T, kTokens>;
        LATENT_LAUNCH(kernel, grid, dim3(kThreads), 0, stream, weights, w.rows, cols, lanes, q, d, n_tokens, y);
    }
    LATENT_CHECK_LAUNCH();
}

template <QuantType T>
void launch_type(const QuantMatrix& w, const float* x, const void* x_q8, int n_tokens, float* y, gpu::Stream stream) {
    if constexpr (quant::is_float_type(T)) {
        // Float weights (norm-sized and router matrices in real files) run at most 8 tokens a
        // launch: 16 float accumulators plus a float chunk spill at any register budget.
        for (int t0 = 0; t0 < n_tokens; t0 += 8) {
            const int n = n_tokens - t0 < 8 ? n_tokens - t0 : 8;
            const float* xt = x + int64_t{t0} * w.cols;
            float* yt = y + int64_t{t0} * w.rows;
            if (n == 1) {
                launch_bucket<T, 1>(w, xt, x_q8, n, yt, stream);
            } else if (n <= 4) {
                launch_bucket<T, 4>(w, xt, x_q8, n, yt, stream);
            } else {
                launch_bucket<T, 8>(w, xt, x_q8, n, yt, stream);
            }
        }
    } else if (n_tokens == 1) {
        launch_bucket<T, 1>(w, x, x_q8, n_tokens, y, stream);
    } else if (n_tokens <= 4) {
        launch_bucket<T, 4>(w, x, x_q8, n_tokens, y, stream);
    } else {
        launch_bucket<T, 16>(w, x, x_q8, n_tokens, y, stream);
    }
}

} // namespace

bool uses_q8_activations(QuantType type) { return !quant::is_float_type(type); }

size_t q8_activation_bytes(int64_t cols, int64_t n_tokens) {
    if (cols < 0 || n_tokens < 0) fail("q8_activation_bytes: negative shape");
    return static_cast<size_t>(q8_scales_offset(cols, n_tokens) + cols / quant::kSlice * n_tokens * 4);
}

void quantize_q8(const float* x, int64_t cols, int64_t n_tokens, void* q8, gpu::Stream stream) {
    if (cols <= 0 || cols % quant::kSlice != 0) fail("quantize_q8: cols " + std::to_string(cols) + " is not a positive multiple of 32");
    if (n_tokens <= 0) fail("quantize_q8: n_tokens " + std::to_string(n_tokens) + " is not positive");
    if (!x || !q8) fail("quantize_q8: null pointer");
    if (!aligned16(q8)) fail("quantize_q8: the q8 buffer is not 16-byte aligned");
    const int64_t n_slices = cols / quant::kSlice * n_tokens;
    auto* q = static_cast<int8_t*>(q8);
    auto* d = reinterpret_cast<float*>(static_cast<uint8_t*>(q8) + q8_scales_offset(cols, n_tokens));
    const dim3 grid(static_cast<unsigned>((n_slices + kWarps - 1) / kWarps));
    LATENT_LAUNCH(quantize_q8_kernel, grid, dim3(kThreads), 0, stream, x, n_slices, q, d);
    LATENT_CHECK_LAUNCH();
}

void matmul_quant(const QuantMatrix& w, const float* x, const void* x_q8, int64_t n_tokens, float* y, gpu::Stream stream) {
    if (!is_known_quant_type(static_cast<uint32_t>(w.type))) {
        fail("matmul_quant: no kernel for tensor type id " + std::to_string(static_cast<uint32_t>(w.type)));
    }
    const char* name = quant_type_name(w.type);
    const int64_t granule = quant::is_float_type(w.type) ? quant::kSlice : quant::block_elements(w.type);
    if (w.rows <= 0 || w.cols <= 0 || w.cols % granule != 0 || w.cols > (int64_t{1} << 30)) {
        fail(std::string("matmul_quant: a ") + name + " matrix needs rows > 0 and cols a positive multiple of " +
             std::to_string(granule) + " (got " + std::to_string(w.rows) + " x " + std::to_string(w.cols) + ")");
    }
    if (n_tokens < 1 || n_tokens > kMaxBatchTokens) {
        fail("matmul_quant: n_tokens " + std::to_string(n_tokens) + " is outside 1.." + std::to_string(kMaxBatchTokens));
    }
    if (!w.data || !aligned16(w.data)) fail(std::string("matmul_quant: the ") + name + " weights are null or not 16-byte aligned");
    if (!y) fail("matmul_quant: null output");
    if (uses_q8_activations(w.type)) {
        if (!x_q8 || !aligned16(x_q8)) fail("matmul_quant: the q8 activations are null or not 16-byte aligned");
    } else if (!x || !aligned16(x)) {
        fail("matmul_quant: the float activations are null or not 16-byte aligned");
    }
    const int n = static_cast<int>(n_tokens);
    with_quant_type(w.type, [&](auto tag) { launch_type<decltype(tag)::value>(w, x, x_q8, n, y, stream); });
}

size_t weight_row_bytes(QuantType type, int64_t cols) {
    if (!is_known_quant_type(static_cast<uint32_t>(type)) || cols < 0 || cols % quant::block_elements(type) != 0) return 0;
    return static_cast<size_t>(quant::row_bytes(type, cols));
}

size_t matmul_quant_bytes(const QuantMatrix& w, int64_t n_tokens) {
    const int64_t granule = quant::is_float_type(w.type) ? 1 : quant::block_elements(w.type);
    if (w.cols % granule != 0) return 0;
    const auto weights = static_cast<size_t>(w.rows * quant::row_bytes(w.type, w.cols));
    const size_t activations = uses_q8_activations(w.type) ? q8_activation_bytes(w.cols, n_tokens)
                                                           : static_cast<size_t>(w.cols * n_tokens) * sizeof(float);
    return weights + activations + static_cast<size_t>(w.rows * n_tokens) * sizeof(float);
}

} // namespace latent::kernels
