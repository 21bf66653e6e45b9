// The CUDA language keywords and built-in vector types as host C++, for the emulator build
// (LATENT_EMU=1). Included through kernels/common/cuda_compat.cuh, never directly by a kernel.
//
// Storage classes: a block's threads all run on one OS thread (as fibers, see emu_runtime.h) and
// one OS thread runs one block at a time, so `__shared__` is a function-local `static
// thread_local`: one copy per worker thread = one copy per running block. The emulator refills
// the kernel module's thread-local storage with the poison pattern at every block start.
// `extern __shared__` cannot be expressed this way (it does not compile: "multiple storage
// classes"); dynamic shared memory is declared with LATENT_DYNAMIC_SHARED (cuda_compat.cuh).
#pragma once

#include <cstddef>
#include <cstdint>

#define __global__
#define __device__
#define __host__
#define __constant__
#define __managed__
#define __grid_constant__
#define __shared__ static thread_local
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __CUDA_ARCH_EMULATED__ 1

// Built-in integer/float vector types with CUDA's alignment (16-byte loads go through
// float4/int4/uint4 and must be 16-byte aligned there too).
#define LATENT_EMU_VECTOR2(name, T, align)                                                       \
    struct alignas(align) name { T x, y; };                                                      \
    inline constexpr name make_##name(T x, T y) { return name{x, y}; }
#define LATENT_EMU_VECTOR3(name, T)                                                              \
    struct name { T x, y, z; };                                                                  \
    inline constexpr name make_##name(T x, T y, T z) { return name{x, y, z}; }
#define LATENT_EMU_VECTOR4(name, T, align)                                                       \
    struct alignas(align) name { T x, y, z, w; };                                                \
    inline constexpr name make_##name(T x, T y, T z, T w) { return name{x, y, z, w}; }

LATENT_EMU_VECTOR2(char2, signed char, 2)
LATENT_EMU_VECTOR2(uchar2, unsigned char, 2)
LATENT_EMU_VECTOR2(short2, short, 4)
LATENT_EMU_VECTOR2(ushort2, unsigned short, 4)
LATENT_EMU_VECTOR2(int2, int, 8)
LATENT_EMU_VECTOR2(uint2, unsigned, 8)
LATENT_EMU_VECTOR2(float2, float, 8)
LATENT_EMU_VECTOR2(longlong2, long long, 16)
LATENT_EMU_VECTOR2(ulonglong2, unsigned long long, 16)
LATENT_EMU_VECTOR2(double2, double, 16)
LATENT_EMU_VECTOR3(int3, int)
LATENT_EMU_VECTOR3(uint3, unsigned)
LATENT_EMU_VECTOR3(float3, float)
LATENT_EMU_VECTOR4(char4, signed char, 4)
LATENT_EMU_VECTOR4(uchar4, unsigned char, 4)
LATENT_EMU_VECTOR4(short4, short, 8)
LATENT_EMU_VECTOR4(ushort4, unsigned short, 8)
LATENT_EMU_VECTOR4(int4, int, 16)
LATENT_EMU_VECTOR4(uint4, unsigned, 16)
LATENT_EMU_VECTOR4(float4, float, 16)

#undef LATENT_EMU_VECTOR2
#undef LATENT_EMU_VECTOR3
#undef LATENT_EMU_VECTOR4

// Grid and block extents; unspecified dimensions are 1 as in CUDA.
struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
    constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
    constexpr operator uint3() const { return uint3{x, y, z}; }
};

inline constexpr int warpSize = 32;
