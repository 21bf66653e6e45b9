// Element-wise kernels: residual add. Memory-bound; 16-byte loads when every pointer is
// 16-byte aligned, a scalar tail otherwise.
#include "common/cuda_compat.cuh"

#include "elementwise.h"

#include <algorithm>
#include <cstdint>

namespace latent::kernels {

namespace {

constexpr unsigned kThreads = 256;

__global__ void residual_add_kernel(float* out, const float* a, const float* b, std::size_t n, bool vectorised) {
    const std::size_t stride = std::size_t(gridDim.x) * blockDim.x;
    std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x;
    std::size_t scalar_from = 0;
    if (vectorised) {
        const std::size_t quads = n / 4;
        for (std::size_t q = i; q < quads; q += stride) {
            const float4 x = reinterpret_cast<const float4*>(a)[q];
            const float4 y = reinterpret_cast<const float4*>(b)[q];
            reinterpret_cast<float4*>(out)[q] = make_float4(x.x + y.x, x.y + y.y, x.z + y.z, x.w + y.w);
        }
        scalar_from = quads * 4;
    }
    for (std::size_t k = scalar_from + i; k < n; k += stride) out[k] = a[k] + b[k];
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

} // namespace

void residual_add(float* out, const float* a, const float* b, std::size_t n, gpu::Stream stream) {
    if (n == 0) return;
    if (!out || !a || !b) throw gpu::DeviceError("residual_add: null pointer");
    const bool vectorised = aligned16(out) && aligned16(a) && aligned16(b);
    const std::size_t work = vectorised ? (n + 3) / 4 : n;
    const unsigned blocks = static_cast<unsigned>(std::min<std::size_t>((work + kThreads - 1) / kThreads, 1024));
    LATENT_LAUNCH(residual_add_kernel, blocks, kThreads, 0, stream, out, a, b, n, vectorised);
    LATENT_CHECK_LAUNCH();
}

} // namespace latent::kernels
