// RMSNorm (+ int8 quantisation) and YaRN RoPE. One block per token row for both: the norm's
// row sum is a block reduction; the RoPE angles of a token are computed once into shared memory
// and applied to every head.
#include "common/cuda_compat.cuh"

#include "common/block_reduce.cuh"
#include "common/warp_quant.cuh"
#include "norm_rope.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace latent::kernels {

namespace {

constexpr unsigned kNormThreads = 256;
constexpr unsigned kRopeThreads = 128;
constexpr unsigned kMaxRopePairs = 128;

std::size_t scales_offset(int64_t width, int64_t n_tokens) {
    return (static_cast<std::size_t>(width * n_tokens) + 15) & ~std::size_t(15);
}

__device__ __forceinline__ float row_scale(const float* x, int64_t width, float eps, float* scratch) {
    float sum = 0.0f;
    for (int64_t i = threadIdx.x; i < width; i += blockDim.x) sum += x[i] * x[i];
    sum = block_sum(sum, scratch);
    return 1.0f / sqrtf(__fadd_rn(sum / static_cast<float>(width), eps));
}

__global__ void __launch_bounds__(kNormThreads) rms_norm_kernel(float* y, const float* x, const float* gain, int64_t width, float eps) {
    __shared__ float scratch[32];
    const int64_t row = blockIdx.x;
    const float* xr = x + row * width;
    const float scale = row_scale(xr, width, eps, scratch);
    float* yr = y + row * width;
    for (int64_t i = threadIdx.x; i < width; i += blockDim.x) yr[i] = __fmul_rn(__fmul_rn(xr[i], scale), gain[i]);
}

// One warp per 32-value block, quantised by warp_quantize_slice (the rule quantize_q8 uses).
__global__ void __launch_bounds__(kNormThreads) rms_norm_q8_kernel(int8_t* quants, float* scales, float* y, const float* x,
                                                                   const float* gain, int64_t width, float eps) {
    __shared__ float scratch[32];
    const int64_t row = blockIdx.x;
    const float* xr = x + row * width;
    const float scale = row_scale(xr, width, eps, scratch);
    const unsigned warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
    const int64_t blocks = width / 32;
    for (int64_t b = warp; b < blocks; b += warps) {
        const int64_t i = b * 32 + lane;
        const float v = __fmul_rn(__fmul_rn(xr[i], scale), gain[i]);
        if (y) y[row * width + i] = v;
        const WarpSliceQ8 r = warp_quantize_slice(v);
        quants[row * width + i] = r.q;
        if (lane == 0) scales[row * blocks + b] = r.d;
    }
}

__global__ void __launch_bounds__(kRopeThreads) rope_kernel(float* x, const int32_t* positions, int64_t n_heads, int64_t token_stride,
                                                            int64_t head_stride, int64_t rope_offset, RopeParams p) {
    __shared__ float cos_table[kMaxRopePairs];
    __shared__ float sin_table[kMaxRopePairs];
    const int64_t token = blockIdx.x;
    const unsigned pairs = p.rope_dim / 2;
    for (unsigned i = threadIdx.x; i < pairs; i += blockDim.x) {
        float theta_extrap = static_cast<float>(positions[token]);
        for (unsigned k = 0; k < i; ++k) theta_extrap = __fmul_rn(theta_extrap, p.theta_scale);
        const float theta_interp = __fmul_rn(p.freq_scale, theta_extrap);
        float theta = theta_interp;
        if (p.yarn) {
            const float y = (static_cast<float>(i) - p.yarn_low_dim) / fmaxf(0.001f, p.yarn_high_dim - p.yarn_low_dim);
            const float ramp_mix = 1.0f - fminf(1.0f, fmaxf(0.0f, y));
            theta = __fadd_rn(__fmul_rn(theta_interp, 1.0f - ramp_mix), __fmul_rn(theta_extrap, ramp_mix));
        }
        cos_table[i] = cosf(theta);
        sin_table[i] = sinf(theta);
    }
    __syncthreads();
    const int64_t work = n_heads * pairs;
    for (int64_t w = threadIdx.x; w < work; w += blockDim.x) {
        const int64_t head = w / pairs;
        const unsigned i = static_cast<unsigned>(w % pairs);
        float* v = x + token * token_stride + head * head_stride + rope_offset + 2 * i;
        const float x0 = v[0], x1 = v[1];
        v[0] = __fsub_rn(__fmul_rn(x0, cos_table[i]), __fmul_rn(x1, sin_table[i]));
        v[1] = __fadd_rn(__fmul_rn(x0, sin_table[i]), __fmul_rn(x1, cos_table[i]));
    }
}

void require(bool ok, const char* function, const std::string& what) {
    if (!ok) throw std::invalid_argument(std::string(function) + ": " + what);
}

void check_norm_args(const char* function, const void* y, const float* x, const float* gain, int64_t width, int64_t n_tokens) {
    require(y && x && gain, function, "null pointer");
    require(width > 0 && n_tokens > 0, function, "width and n_tokens must be positive");
    require(n_tokens <= 0x7FFFFFFF, function, "more than 2^31-1 tokens");
}

} // namespace

void rms_norm(float* y, const float* x, const float* gain, int64_t width, int64_t n_tokens, float eps, gpu::Stream stream) {
    check_norm_args("rms_norm", y, x, gain, width, n_tokens);
    LATENT_LAUNCH(rms_norm_kernel, static_cast<unsigned>(n_tokens), kNormThreads, 0, stream, y, x, gain, width, eps);
    LATENT_CHECK_LAUNCH();
}

std::size_t q8_rows_bytes(int64_t width, int64_t n_tokens) {
    return scales_offset(width, n_tokens) + static_cast<std::size_t>(n_tokens * (width / 32)) * sizeof(float);
}

void rms_norm_q8(void* q8, float* y, const float* x, const float* gain, int64_t width, int64_t n_tokens, float eps,
                 gpu::Stream stream) {
    check_norm_args("rms_norm_q8", q8, x, gain, width, n_tokens);
    require(width % 32 == 0, "rms_norm_q8", "width " + std::to_string(width) + " is not a multiple of 32");
    require((reinterpret_cast<uintptr_t>(q8) & 15u) == 0, "rms_norm_q8", "q8 buffer is not 16-byte aligned");
    auto* quants = static_cast<int8_t*>(q8);
    auto* scales = reinterpret_cast<float*>(static_cast<unsigned char*>(q8) + scales_offset(width, n_tokens));
    LATENT_LAUNCH(rms_norm_q8_kernel, static_cast<unsigned>(n_tokens), kNormThreads, 0, stream, quants, scales, y, x, gain,
                  width, eps);
    LATENT_CHECK_LAUNCH();
}

RopeParams rope_params(uint32_t rope_dim, float freq_base, float freq_scale, bool yarn, float yarn_low_dim,
                       float yarn_high_dim) {
    RopeParams p;
    p.rope_dim = rope_dim;
    p.theta_scale = std::pow(freq_base, -2.0f / static_cast<float>(rope_dim));
    p.freq_scale = freq_scale;
    p.yarn = yarn;
    p.yarn_low_dim = yarn_low_dim;
    p.yarn_high_dim = yarn_high_dim;
    return p;
}

void rope(float* x, const int32_t* positions, int64_t n_tokens, int64_t n_heads, int64_t token_stride,
          int64_t head_stride, int64_t rope_offset, const RopeParams& params, gpu::Stream stream) {
    require(x && positions, "rope", "null pointer");
    require(n_tokens > 0 && n_tokens <= 0x7FFFFFFF && n_heads > 0, "rope", "n_tokens and n_heads must be positive");
    require(params.rope_dim > 0 && params.rope_dim % 2 == 0 && params.rope_dim / 2 <= kMaxRopePairs, "rope",
            "rope_dim " + std::to_string(params.rope_dim) + " must be even and at most " + std::to_string(2 * kMaxRopePairs));
    require(rope_offset >= 0 && (n_heads == 1 || rope_offset + params.rope_dim <= head_stride), "rope",
            "the rope part does not fit in a head");
    LATENT_LAUNCH(rope_kernel, static_cast<unsigned>(n_tokens), kRopeThreads, 0, stream, x, positions, n_heads,
                  token_stride, head_stride, rope_offset, params);
    LATENT_CHECK_LAUNCH();
}

} // namespace latent::kernels
