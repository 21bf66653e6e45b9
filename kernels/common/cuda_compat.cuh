// The one header every kernel source (.cu) and every kernels/common helper includes first.
//
//   nvcc (__CUDACC__)       the CUDA runtime and the fp16/bf16 headers;
//   LATENT_EMU=1            the CPU emulator (kernels/emu/), which runs launches on fibers;
//   plain host C++          only the types and intrinsics, so the __host__ __device__ maths in
//                           kernels/common/ can be compiled and tested natively.
//
// Launch kernels only through LATENT_LAUNCH and check with LATENT_CHECK_LAUNCH; declare dynamic
// shared memory with LATENT_DYNAMIC_SHARED (plain `extern __shared__` does not compile in the
// emulator); a kernel launched with more than 48 KiB of it first calls
// LATENT_SET_MAX_DYNAMIC_SHARED(kernel, bytes) (cudaFuncSetAttribute; the emulator warns when
// a launch lacks it). A templated kernel is bound to a pointer first, since a macro argument cannot hold
// an unparenthesised comma:
//     auto* kernel = &rmsnorm_kernel<float, 4>;
//     LATENT_LAUNCH(kernel, grid, block, 0, stream, out, in, n);
//     LATENT_CHECK_LAUNCH();
#pragma once

#include "device.h"

#if defined(__CUDACC__)

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#define LATENT_LAUNCH(kernel, grid, block, shared_bytes, stream, ...)                            \
    kernel<<<(grid), (block), (shared_bytes), static_cast<cudaStream_t>((stream).handle)>>>(__VA_ARGS__)
#define LATENT_DYNAMIC_SHARED(T, name)                                                            \
    extern __shared__ __align__(16) unsigned char latent_dynamic_shared_bytes[];                 \
    T* name = reinterpret_cast<T*>(latent_dynamic_shared_bytes)
#define LATENT_SET_MAX_DYNAMIC_SHARED(kernel, bytes)                                             \
    cudaFuncSetAttribute((kernel), cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes))
#define LATENT_EMULATED 0

#elif defined(LATENT_EMU)

#include "emu/emu_cuda.h"

#define LATENT_LAUNCH(kernel, grid, block, shared_bytes, stream, ...)                            \
    ::latent::emu::launch(::latent::emu::LaunchSite{#kernel, __FILE__, __LINE__}, kernel, (grid), \
                          (block), (shared_bytes), (stream) __VA_OPT__(, ) __VA_ARGS__)
#define LATENT_DYNAMIC_SHARED(T, name)                                                            \
    T* name = reinterpret_cast<T*>(::latent::emu::detail::t_coords->dynamic_shared)
#define LATENT_SET_MAX_DYNAMIC_SHARED(kernel, bytes)                                             \
    ::latent::emu::set_max_dynamic_shared(reinterpret_cast<const void*>(kernel), (bytes))
#define LATENT_EMULATED 1

#else

#include "emu/emu_half.h"
#include "emu/emu_math.h"
#include "emu/emu_types.h"
#define LATENT_EMULATED 1

#endif

#define LATENT_CHECK_LAUNCH() ::latent::gpu::check_last_launch(__FILE__, __LINE__)
