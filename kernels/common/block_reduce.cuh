// Warp and block reductions used by the element-wise kernels (RMSNorm, logits). Every thread of
// the block must call a block_* function (they contain __syncthreads); blockDim.x must be a
// multiple of 32 and the block one-dimensional.
#pragma once

#include "common/cuda_compat.cuh"

namespace latent::kernels {

__device__ __forceinline__ float warp_sum(float v) {
    for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xFFFFFFFFu, v, offset);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int offset = 16; offset > 0; offset /= 2) v = fmaxf(v, __shfl_xor_sync(0xFFFFFFFFu, v, offset));
    return v;
}

// The sum of v over the block, returned to every thread. `scratch` is 32 floats of shared memory
// the caller owns (reusable after the call returns).
__device__ __forceinline__ float block_sum(float v, float* scratch) {
    const unsigned warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
    v = warp_sum(v);
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < warps ? scratch[lane] : 0.0f;
    v = warp_sum(v);
    __syncthreads(); // scratch may be reused by the caller
    return v;
}

// An element and its index, ordered by value (NaN as -inf), then by lower index.
struct ArgBest {
    float value;
    int index;
};

__device__ __forceinline__ bool ranks_before(ArgBest a, ArgBest b) {
    return a.value > b.value || (a.value == b.value && a.index < b.index);
}

__device__ __forceinline__ ArgBest warp_best(ArgBest a) {
    for (int offset = 16; offset > 0; offset /= 2) {
        ArgBest other;
        other.value = __shfl_xor_sync(0xFFFFFFFFu, a.value, offset);
        other.index = __shfl_xor_sync(0xFFFFFFFFu, a.index, offset);
        if (ranks_before(other, a)) a = other;
    }
    return a;
}

// The best element over the block, returned to every thread; scratch: 32 ArgBest in shared memory.
__device__ __forceinline__ ArgBest block_best(ArgBest a, ArgBest* scratch) {
    const unsigned warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
    a = warp_best(a);
    if (lane == 0) scratch[warp] = a;
    __syncthreads();
    a = lane < warps ? scratch[lane] : ArgBest{-INFINITY, 0x7FFFFFFF};
    a = warp_best(a);
    __syncthreads();
    return a;
}

} // namespace latent::kernels
