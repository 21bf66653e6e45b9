// gemm.h: cuBLAS under nvcc, a portable kernel in the emulator.
#include "common/cuda_compat.cuh"

#include "gemm.h"

#include <stdexcept>
#include <string>

#if defined(__CUDACC__)
#include <cublas_v2.h>
#endif

namespace latent::kernels {
namespace {

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument("gemm: " + what); }

#if defined(__CUDACC__)

void check_cublas(cublasStatus_t status, const char* call, int line) {
    if (status != CUBLAS_STATUS_SUCCESS) {
        throw gpu::DeviceError(std::string(call) + " failed with cuBLAS status " + std::to_string(static_cast<int>(status)) +
                          " at " + __FILE__ + ":" + std::to_string(line));
    }
}
#define LATENT_CUBLAS(call) check_cublas((call), #call, __LINE__)

// One handle per host thread (cuBLAS handles are not to be shared between threads), created on
// first use and kept for the thread's life.
cublasHandle_t thread_handle() {
    struct Holder {
        cublasHandle_t handle = nullptr;
        ~Holder() {
            if (handle) cublasDestroy(handle);
        }
    };
    thread_local Holder holder;
    if (!holder.handle) LATENT_CUBLAS(cublasCreate(&holder.handle));
    return holder.handle;
}

#else

// y[t][o] = sum_i w[o][i] x[t][i]: thread (o, t) of a 16 x 16 tile.
template <HalfFormat F>
__device__ __forceinline__ float half_value(const uint16_t* p, int64_t i) {
    if constexpr (F == HalfFormat::F16) {
        return __half2float(__ushort_as_half(p[i]));
    } else {
        return __bfloat162float(__ushort_as_bfloat16(p[i]));
    }
}

template <HalfFormat F>
__global__ void gemm_portable_kernel(const uint16_t* __restrict__ w, int64_t w_rows, const uint16_t* __restrict__ x,
                                     int64_t n_tokens, int64_t cols, float* __restrict__ y) {
    const int64_t o = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
    const int64_t t = int64_t{blockIdx.y} * blockDim.y + threadIdx.y;
    if (o >= w_rows || t >= n_tokens) return;
    float acc = 0.0f;
    for (int64_t i = 0; i < cols; ++i) acc += half_value<F>(w, o * cols + i) * half_value<F>(x, t * cols + i);
    y[t * w_rows + o] = acc;
}

#endif

} // namespace

bool gemm_uses_cublas() {
#if defined(__CUDACC__)
    return true;
#else
    return false;
#endif
}

void gemm(HalfFormat format, const void* w, int64_t w_rows, const void* x, int64_t n_tokens, int64_t cols, float* y,
          gpu::Stream stream) {
    if (w_rows <= 0 || n_tokens <= 0 || cols <= 0 || w_rows > INT32_MAX || n_tokens > INT32_MAX || cols > INT32_MAX) {
        fail("shape " + std::to_string(n_tokens) + " x " + std::to_string(cols) + " by " + std::to_string(w_rows) +
             " rows is empty or too large");
    }
    if (!w || !x || !y) fail("null pointer");
#if defined(__CUDACC__)
    const cublasHandle_t handle = thread_handle();
    LATENT_CUBLAS(cublasSetStream(handle, static_cast<cudaStream_t>(stream.handle)));
    const cudaDataType_t type = format == HalfFormat::F16 ? CUDA_R_16F : CUDA_R_16BF;
    const float alpha = 1.0f, beta = 0.0f;
    // Column-major view: y^T (w_rows x n_tokens, ld w_rows) = W (op T of the cols x w_rows matrix
    // that W's rows form) times x^T (cols x n_tokens, ld cols).
    const int m = static_cast<int>(w_rows), n = static_cast<int>(n_tokens), k = static_cast<int>(cols);
    LATENT_CUBLAS(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha, w, type, k, x, type, k, &beta, y,
                               CUDA_R_32F, m, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
#else
    const dim3 block(16, 16);
    const dim3 grid(static_cast<unsigned>((w_rows + 15) / 16), static_cast<unsigned>((n_tokens + 15) / 16));
    auto* kernel = format == HalfFormat::F16 ? &gemm_portable_kernel<HalfFormat::F16>
                                             : &gemm_portable_kernel<HalfFormat::BF16>;
    LATENT_LAUNCH(kernel, grid, block, 0, stream, static_cast<const uint16_t*>(w), w_rows,
                  static_cast<const uint16_t*>(x), n_tokens, cols, y);
    LATENT_CHECK_LAUNCH();
#endif
}

} // namespace latent::kernels
