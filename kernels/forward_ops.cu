// The CUDA backend's glue kernels (forward_ops.h). All memory-bound and simple: a thread per
// element, or a warp per output row for the per-head products.
#include "common/cuda_compat.cuh"

#include "common/block_reduce.cuh"
#include "forward_ops.h"

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace latent::kernels {

namespace {

constexpr unsigned kThreads = 256;

unsigned blocks_for(std::size_t work) {
    return static_cast<unsigned>(std::min<std::size_t>((work + kThreads - 1) / kThreads, 65535));
}

__device__ __forceinline__ uint16_t round_half(float v, bool bf16) {
    return bf16 ? __bfloat16_as_ushort(__float2bfloat16_rn(v)) : __half_as_ushort(__float2half_rn(v));
}

__device__ __forceinline__ float load_weight(const void* w, QuantType type, int64_t index) {
    if (type == QuantType::F32) return static_cast<const float*>(w)[index];
    const uint16_t bits = static_cast<const uint16_t*>(w)[index];
    if (type == QuantType::F16) return __half2float(__ushort_as_half(bits));
    return __bfloat162float(__ushort_as_bfloat16(bits));
}

__global__ void store_cache_rows_kernel(uint16_t* cache, bool bf16, uint32_t row_stride, uint32_t n_rows,
                                        const float* latent, const float* rope, uint32_t latent_dim, uint32_t rope_dim,
                                        const int32_t* positions, int64_t n_tokens) {
    const uint32_t width = latent_dim + rope_dim;
    const int64_t total = n_tokens * width;
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t t = i / width;
        const uint32_t c = static_cast<uint32_t>(i - t * width);
        const int32_t position = positions[t];
        if (position < 0 || static_cast<uint32_t>(position) >= n_rows) continue;
        const float v = c < latent_dim ? latent[t * latent_dim + c] : rope[t * rope_dim + (c - latent_dim)];
        cache[int64_t(position) * row_stride + c] = round_half(v, bf16);
    }
}

// One warp per (head, output row); the warp loops over the tokens.
__global__ void head_matmul_kernel(HeadMatmul a) {
    const int lane = threadIdx.x % 32;
    const int64_t row = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
    const int64_t h = blockIdx.y;
    if (row >= a.rows) return;
    const int64_t w_row = (h * a.rows + row) * a.cols;
    for (int64_t t = 0; t < a.n_tokens; ++t) {
        const float* x = a.x + t * a.x_token_stride + h * a.x_head_stride;
        float sum = 0.0f;
        for (int64_t c = lane; c < a.cols; c += 32) sum += load_weight(a.w, a.type, w_row + c) * x[c];
        for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xFFFFFFFFu, sum, offset);
        if (lane == 0) a.y[t * a.y_token_stride + h * a.y_head_stride + row] = sum;
    }
}

__global__ void copy_rows_kernel(float* dst, int64_t dst_stride, const float* src, int64_t src_stride, int64_t n_rows,
                                 int64_t width) {
    const int64_t total = n_rows * width;
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t r = i / width, c = i - r * width;
        dst[r * dst_stride + c] = src[r * src_stride + c];
    }
}

__global__ void silu_mul_kernel(float* out, const float* gate, const float* up, std::size_t n) {
    for (std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += std::size_t(gridDim.x) * blockDim.x) {
        const float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

__global__ void to_half_kernel(uint16_t* out, bool bf16, const float* x, std::size_t n) {
    for (std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += std::size_t(gridDim.x) * blockDim.x) {
        out[i] = round_half(x[i], bf16);
    }
}

void require(bool ok, const char* what) {
    if (!ok) throw std::invalid_argument(what);
}

} // namespace

void store_cache_rows(void* cache, QuantType cache_type, uint32_t row_stride, uint32_t n_rows, const float* latent,
                      const float* rope, uint32_t latent_dim, uint32_t rope_dim, const int32_t* positions, int64_t n_tokens,
                      gpu::Stream stream) {
    require(cache_type == QuantType::F16 || cache_type == QuantType::BF16, "store_cache_rows: the cache type must be f16 or bf16");
    require(cache && latent && positions && (rope || rope_dim == 0), "store_cache_rows: null pointer");
    require(row_stride >= latent_dim + rope_dim, "store_cache_rows: row_stride below the row width");
    if (n_tokens <= 0) return;
    const std::size_t work = std::size_t(n_tokens) * (latent_dim + rope_dim);
    LATENT_LAUNCH(store_cache_rows_kernel, blocks_for(work), kThreads, 0, stream, static_cast<uint16_t*>(cache),
                  cache_type == QuantType::BF16, row_stride, n_rows, latent, rope, latent_dim, rope_dim, positions, n_tokens);
    LATENT_CHECK_LAUNCH();
}

void head_matmul(const HeadMatmul& args, gpu::Stream stream) {
    require(args.type == QuantType::F32 || args.type == QuantType::F16 || args.type == QuantType::BF16,
            "head_matmul: the weight type must be f32, f16 or bf16");
    require(args.w && args.x && args.y, "head_matmul: null pointer");
    require(args.n_heads > 0 && args.n_heads <= 65535 && args.rows > 0 && args.cols > 0, "head_matmul: bad shape");
    if (args.n_tokens <= 0) return;
    constexpr unsigned kWarps = kThreads / 32;
    const dim3 grid(static_cast<unsigned>((args.rows + kWarps - 1) / kWarps), static_cast<unsigned>(args.n_heads));
    LATENT_LAUNCH(head_matmul_kernel, grid, kThreads, 0, stream, args);
    LATENT_CHECK_LAUNCH();
}

void copy_rows(float* dst, int64_t dst_stride, const float* src, int64_t src_stride, int64_t n_rows, int64_t width,
               gpu::Stream stream) {
    require(dst && src, "copy_rows: null pointer");
    require(width >= 0 && dst_stride >= width && src_stride >= width, "copy_rows: stride below the width");
    if (n_rows <= 0 || width == 0) return;
    LATENT_LAUNCH(copy_rows_kernel, blocks_for(std::size_t(n_rows * width)), kThreads, 0, stream, dst, dst_stride, src,
                  src_stride, n_rows, width);
    LATENT_CHECK_LAUNCH();
}

void silu_mul(float* out, const float* gate, const float* up, std::size_t n, gpu::Stream stream) {
    require(out && gate && up, "silu_mul: null pointer");
    if (n == 0) return;
    LATENT_LAUNCH(silu_mul_kernel, blocks_for(n), kThreads, 0, stream, out, gate, up, n);
    LATENT_CHECK_LAUNCH();
}

void to_half(void* out, HalfFormat format, const float* x, std::size_t n, gpu::Stream stream) {
    require(out && x, "to_half: null pointer");
    if (n == 0) return;
    LATENT_LAUNCH(to_half_kernel, blocks_for(n), kThreads, 0, stream, static_cast<uint16_t*>(out), format == HalfFormat::BF16, x, n);
    LATENT_CHECK_LAUNCH();
}

} // namespace latent::kernels
