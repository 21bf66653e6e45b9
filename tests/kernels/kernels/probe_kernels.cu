// Test-only kernels; see probe_kernels.h.
#include "common/cuda_compat.cuh"

#include "probe_kernels.h"

namespace latent::test::probe {

namespace {

__global__ void block_sum_kernel(float* out, const float* in, unsigned n, bool with_barriers) {
    __shared__ float partial[1024];
    const unsigned t = threadIdx.x;
    float v = 0.0f;
    for (unsigned i = t; i < n; i += blockDim.x) v += in[i];
    partial[t] = v;
    if (with_barriers) __syncthreads();
    for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
        if (t < half) partial[t] += partial[t + half];
        if (with_barriers) __syncthreads();
    }
    if (t == 0) out[0] = partial[0];
}

__global__ void warp1_shuffle_kernel(int* out, int source_lane) {
    const unsigned lane = threadIdx.x % 32;
    if (threadIdx.x < 32) return; // warp 0 leaves; warp 1 shuffles alone
    const int value = 1000 + static_cast<int>(lane);
    out[2 * lane] = __shfl_sync(0xFFFFFFFFu, value, source_lane);
    out[2 * lane + 1] = __shfl_xor_sync(0xFFFFFFFFu, value, 1);
}

__global__ void warp_votes_kernel(int* out, const int* in) {
    const int v = in[threadIdx.x];
    const int sum = __reduce_add_sync(0xFFFFFFFFu, v);
    const int low = __reduce_min_sync(0xFFFFFFFFu, v);
    const int high = __reduce_max_sync(0xFFFFFFFFu, v);
    const unsigned ballot = __ballot_sync(0xFFFFFFFFu, v > 0);
    const int any = __any_sync(0xFFFFFFFFu, v < 0);
    const int all = __all_sync(0xFFFFFFFFu, v < 100);
    if (threadIdx.x == 0) {
        out[0] = sum, out[1] = low, out[2] = high, out[3] = static_cast<int>(ballot), out[4] = any, out[5] = all;
    }
}

__global__ void read_unwritten_shared_kernel(float* out, int write_index) {
    __shared__ float never_written[64];
    LATENT_DYNAMIC_SHARED(float, dynamic);
    if (write_index >= 0) never_written[write_index] = 1.0f; // never taken (-1): the compiler cannot know
    __syncthreads();
    out[0] = never_written[threadIdx.x + 1];
    out[1] = dynamic[3];
}

__global__ void atomic_count_kernel(unsigned* counter, float* sum, float value) {
    atomicAdd(counter, 1u);
    atomicAdd(sum, value);
}

__global__ void fault_kernel(int which, int* scratch) {
    const unsigned t = threadIdx.x;
    if (which == 0) {
        // Deadlock: warp 0 and lanes 16..31 of warp 1 wait at the barrier, lanes 0..15 of
        // warp 1 in a full-warp shuffle that lanes 16..31 never join.
        if (t < 32 || t >= 48) {
            __syncthreads();
        } else {
            scratch[t] = __shfl_sync(0xFFFFFFFFu, static_cast<int>(t), 0);
        }
    } else if (which == 3) {
        // Lanes 16..31 of warp 1 exit; lanes 0..15 name them in a shuffle that can never complete.
        if (t >= 48) return;
        if (t >= 32) scratch[t] = __shfl_sync(0xFFFFFFFFu, static_cast<int>(t), 0);
    } else if (which == 1) {
        if (t < 16) scratch[t] = __shfl_sync(0x0000FFFFu, static_cast<int>(t), 20);
    } else {
        if (t == 5) __trap();
    }
}

__global__ void spin_forever_kernel(int* flag) {
    if (threadIdx.x == 1) {
        while (atomicAdd(flag, 0) == 0) {}
    }
    __syncthreads();
    if (threadIdx.x == 0) atomicExch(flag, 1);
}

__global__ void read_past_end_kernel(float* out, const float* in, unsigned n) {
    const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i <= n) out[i < n ? i : 0] = in[i]; // i == n reads one past the end
}

__global__ void convert_16bit_kernel(float* to_float, const uint16_t* halves, uint16_t* from_float, const float* floats, unsigned n) {
    const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    to_float[2 * i] = __half2float(__ushort_as_half(halves[i]));
    to_float[2 * i + 1] = __bfloat162float(__ushort_as_bfloat16(halves[i]));
    from_float[2 * i] = __half_as_ushort(__float2half_rn(floats[i]));
    from_float[2 * i + 1] = __bfloat16_as_ushort(__float2bfloat16_rn(floats[i]));
}

__global__ void shuffles_and_block_votes_kernel(int* out) {
    const int t = static_cast<int>(threadIdx.x);
    int* o = out + 7 * t;
    o[0] = __shfl_up_sync(0xFFFFFFFFu, t, 3, 16);
    o[1] = __shfl_down_sync(0xFFFFFFFFu, t, 5, 16);
    o[2] = __shfl_sync(0xFFFFFFFFu, t, 17, 16);
    o[3] = __shfl_xor_sync(0xFFFFFFFFu, t, 8, 16);
    o[4] = __syncthreads_count(t % 3 == 0);
    o[5] = __syncthreads_and(t < 100);
    o[6] = __syncthreads_or(t == 63);
}

__global__ void arrival_order_kernel(unsigned* out) {
    __shared__ unsigned counter;
    if (threadIdx.x == 0) counter = 0;
    __syncthreads();
    out[threadIdx.x] = atomicAdd(&counter, 1u);
}

__global__ void dp4a_kernel(int* out, const int* a, const int* b, const int* c, unsigned n) {
    const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = __dp4a(a[i], b[i], c[i]);
}

} // namespace

void convert_16bit(float* to_float, const uint16_t* halves, uint16_t* from_float, const float* floats, unsigned n) {
    LATENT_LAUNCH(convert_16bit_kernel, (n + 255) / 256, 256, 0, gpu::Stream{}, to_float, halves, from_float, floats, n);
    LATENT_CHECK_LAUNCH();
}

void shuffles_and_block_votes(int* out) {
    LATENT_LAUNCH(shuffles_and_block_votes_kernel, 1, 64, 0, gpu::Stream{}, out);
    LATENT_CHECK_LAUNCH();
}

void arrival_order(unsigned* out) {
    LATENT_LAUNCH(arrival_order_kernel, 1, 64, 0, gpu::Stream{}, out);
    LATENT_CHECK_LAUNCH();
}

void dp4a(int* out, const int* a, const int* b, const int* c, unsigned n) {
    LATENT_LAUNCH(dp4a_kernel, (n + 255) / 256, 256, 0, gpu::Stream{}, out, a, b, c, n);
    LATENT_CHECK_LAUNCH();
}

void block_sum(float* out, const float* in, unsigned n, unsigned threads, bool with_barriers) {
    LATENT_LAUNCH(block_sum_kernel, 1, threads, 0, gpu::Stream{}, out, in, n, with_barriers);
    LATENT_CHECK_LAUNCH();
}

void warp1_shuffle(int* out, int source_lane) {
    LATENT_LAUNCH(warp1_shuffle_kernel, 1, 64, 0, gpu::Stream{}, out, source_lane);
    LATENT_CHECK_LAUNCH();
}

void warp_votes(int* out, const int* in) {
    LATENT_LAUNCH(warp_votes_kernel, 1, 32, 0, gpu::Stream{}, out, in);
    LATENT_CHECK_LAUNCH();
}

void read_unwritten_shared(float* out) {
    LATENT_LAUNCH(read_unwritten_shared_kernel, 1, 1, 64, gpu::Stream{}, out, -1);
    LATENT_CHECK_LAUNCH();
}

void atomic_count(unsigned* counter, float* sum, unsigned blocks, float value) {
    LATENT_LAUNCH(atomic_count_kernel, blocks, 128, 0, gpu::Stream{}, counter, sum, value);
    LATENT_CHECK_LAUNCH();
}

void fault(int which, int* scratch) {
    LATENT_LAUNCH(fault_kernel, 1, 64, 0, gpu::Stream{}, which, scratch);
    LATENT_CHECK_LAUNCH();
    gpu::device_synchronize();
}

void spin_forever(int* flag) {
    LATENT_LAUNCH(spin_forever_kernel, 1, 32, 0, gpu::Stream{}, flag);
    LATENT_CHECK_LAUNCH();
    gpu::device_synchronize();
}

void read_past_end(float* out, const float* in, unsigned n) {
    LATENT_LAUNCH(read_past_end_kernel, (n + 1 + 127) / 128, 128, 0, gpu::Stream{}, out, in, n);
    LATENT_CHECK_LAUNCH();
    gpu::device_synchronize();
}

} // namespace latent::test::probe
