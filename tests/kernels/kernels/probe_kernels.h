// Test-only kernels that probe the execution model (the emulator's and, in the device run, the
// GPU's): barriers, warp collectives, shared memory, atomics, faults. Launchers take device
// pointers and run on the default stream.
#pragma once

#include <cstddef>
#include <cstdint>

namespace latent::test::probe {

// Block-wide sum of `in[0..n)` through shared memory (tree reduction, one block of `threads`,
// a power of two up to 1024); out[0] = the sum. With `with_barriers` false, the __syncthreads
// between the stores and the tree's rounds are left out: the proof that the emulator catches a
// missing barrier.
void block_sum(float* out, const float* in, unsigned n, unsigned threads, bool with_barriers);

// One block of 64 threads; only warp 1 (threads 32..63) runs __shfl_sync(full mask, value,
// source_lane) and __shfl_xor_sync(full, value, 1): out[2*lane] / out[2*lane+1] for lane of warp 1.
void warp1_shuffle(int* out, int source_lane);

// Warp reductions and votes on one warp: in[32] -> out[0] = __reduce_add_sync, out[1] = min,
// out[2] = max, out[3] = __ballot_sync(in > 0), out[4] = __any_sync(in < 0), out[5] = __all_sync(in < 100).
void warp_votes(int* out, const int* in);

// Reads one float from a __shared__ array nobody wrote (out[0]) and from dynamic shared
// memory (out[1]).
void read_unwritten_shared(float* out);

// `blocks` blocks of 128 threads each atomicAdd 1 to counter[0] and `value` to sum[0].
void atomic_count(unsigned* counter, float* sum, unsigned blocks, float value);

// Faults the emulator must report: 0 deadlock (warp 0 at __syncthreads, half of warp 1 at a
// shuffle the other half never joins), 1 a shuffle reading an inactive lane, 2 __trap(),
// 3 a shuffle naming lanes that have exited.
void fault(int which, int* scratch);

// Thread 1 spins until flag[0] != 0, which thread 0 sets only after a barrier: it never ends
// (the emulator's timeout must report it).
void spin_forever(int* flag);

// Copies in[0..n] (one element too many) to out: an out-of-bounds device read.
void read_past_end(float* out, const float* in, unsigned n);

// Device conversions: halves[i] -> to_float[2i] (__half2float) and to_float[2i+1]
// (__bfloat162float); floats[i] -> from_float[2i] (__float2half_rn bits), [2i+1] (bf16 bits).
void convert_16bit(float* to_float, const uint16_t* halves, uint16_t* from_float, const float* floats, unsigned n);

// One block of 64 threads, value = thread index: out[7t..7t+6] = __shfl_up_sync(full, value, 3, 16),
// __shfl_down_sync(full, value, 5, 16), __shfl_sync(full, value, 17, 16),
// __shfl_xor_sync(full, value, 8, 16), __syncthreads_count(t % 3 == 0), __syncthreads_and(t < 100),
// __syncthreads_or(t == 63).
void shuffles_and_block_votes(int* out);

// One block of 64 threads: out[t] = the order in which thread t ran after a barrier (0..63).
void arrival_order(unsigned* out);

// out[i] = __dp4a(a[i], b[i], c[i]) (signed form).
void dp4a(int* out, const int* a, const int* b, const int* c, unsigned n);

} // namespace latent::test::probe
