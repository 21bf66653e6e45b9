// How a warp walks quantised weight rows, shared by the decode matvec (matvec_quant.cu), the
// weight-tile dequantiser (dequant.cu) and any kernel that streams stored rows (MoE experts).
//
// Work split. A row of `cols` elements is cols/32 slices (quant_blocks.cuh). A warp gives each
// row P lanes, P the smallest power of two >= the row's slices (at most 32), so G = 32/P rows
// share a warp when rows are short (attn_k_b's 128-element rows: 4 lanes a row, 8 rows a warp)
// and long rows take 64 slices per step (two per lane). Lanes of one row reduce with xor-shuffles over their
// P-lane group, which never leaves the group.
//
// Loads. Blocks are 18, 20, 22, 34, 84, 110, 136, 144, 176 or 210 bytes, so a slice's bytes are
// rarely 16-byte aligned and per-lane vector loads would straddle. Instead the warp copies the
// contiguous byte range of its current step (at most 64 slices: <= 2176 bytes) into its own
// shared-memory window with 16-byte loads — lane i takes 16-byte words i, i+32, ... of the
// range widened to 16-byte boundaries — and each lane decodes its slice from there. Every
// weight byte is read from global memory once, in fully coalesced 512-byte warp transactions.
// Requirements: the matrix starts 16-byte aligned and its rows are packed (row stride =
// row_bytes, as in GGUF tensors); the word that holds the matrix's last byte is copied byte by
// byte so nothing past the end is read.
#pragma once

#include "common/quant_blocks.cuh"

namespace latent::kernels::warp_rows {

inline constexpr int kWarpSize = 32;
inline constexpr unsigned kFullMask = 0xFFFFFFFFu; // all 32 lanes

// 16-byte words in a warp's staging window: 64 slices of the widest type (Q8_0, 2176 bytes),
// the widening to 16-byte boundaries at both ends, and one word of slack for load_u32's second
// aligned word.
inline constexpr int kStageWords = 140;

// Lanes per row for rows of `slices` slices (host and device).
LATENT_QB constexpr int lanes_per_row(int64_t slices) {
    int p = 1;
    while (p < slices && p < kWarpSize) p *= 2;
    return p;
}

// One 16-byte global load (LDG.E.128; through the read-only path on the GPU).
__device__ __forceinline__ uint4 load16(const uint8_t* p) {
#if defined(__CUDA_ARCH__)
    return __ldg(reinterpret_cast<const uint4*>(p));
#else
    return *reinterpret_cast<const uint4*>(p);
#endif
}

// Copies bytes [begin, end) of `base` (16-byte aligned, `total` bytes long) into the warp's
// window and returns where byte `begin` landed. All lanes of the warp call it.
__device__ __forceinline__ const uint8_t* stage_range(const uint8_t* __restrict__ base, int64_t begin, int64_t end,
                                                      int64_t total, uint4* window, int lane) {
    const int64_t first = begin & ~int64_t{15};
    const int words = static_cast<int>((end - first + 15) >> 4);
    for (int i = lane; i < words; i += kWarpSize) {
        const int64_t at = first + 16 * int64_t{i};
        if (at + 16 <= total) {
            window[i] = load16(base + at);
        } else {
            uint8_t* dst = reinterpret_cast<uint8_t*>(window + i);
            for (int k = 0; k < 16; ++k) dst[k] = at + k < total ? base[at + k] : uint8_t{0};
        }
    }
    __syncwarp();
    return reinterpret_cast<const uint8_t*>(window) + (begin - first);
}

// Sum over the lane's P-lane group (P a power of two).
__device__ __forceinline__ float group_sum(float v, int lanes) {
    for (int offset = lanes >> 1; offset > 0; offset >>= 1) v += __shfl_xor_sync(kFullMask, v, offset);
    return v;
}

// The slices a warp step covers. A warp owns rows [row0, row0 + rows_here). Long rows (P = 32)
// are walked in steps of kLongStep slices of one row, each lane taking kSlicesPerLane of them
// (slices first + lane + 32 j): two 16-byte loads per lane in flight per step instead of one,
// and half the stage / __syncwarp round trips. Short rows (P < 32) take every slice of every
// row of the warp in one step, one slice per lane.
inline constexpr int kSlicesPerLane = 2;
inline constexpr int kLongStep = kWarpSize * kSlicesPerLane;

struct Step {
    int64_t begin = 0; // staged byte range, from the matrix start
    int64_t end = 0;
    int group = 0;     // the calling lane's row within the warp
};

template <QuantType T>
__device__ __forceinline__ Step step_of(int64_t row0, int rows_here, int slices, int lanes, int64_t row_bytes,
                                        int first_slice, int lane) {
    constexpr int kParts = quant::slices_per_block(T);
    constexpr int kBlockBytes = quant::block_bytes(T);
    Step s;
    s.group = lane / lanes;
    if (lanes == kWarpSize) {
        const int last = first_slice + kLongStep < slices ? first_slice + kLongStep : slices;
        s.begin = row0 * row_bytes + int64_t{first_slice / kParts} * kBlockBytes;
        s.end = row0 * row_bytes + int64_t{(last + kParts - 1) / kParts} * kBlockBytes;
    } else {
        s.begin = row0 * row_bytes;
        s.end = (row0 + rows_here) * row_bytes;
    }
    return s;
}

// Byte offset from the step's staged start of the block holding `slice` of the lane's row.
template <QuantType T>
__device__ __forceinline__ int block_offset_in_step(int lanes, int group, int64_t row_bytes, int first_slice,
                                                    int slice) {
    constexpr int kParts = quant::slices_per_block(T);
    constexpr int kBlockBytes = quant::block_bytes(T);
    if (lanes == kWarpSize) return (slice - first_slice) / kParts * kBlockBytes;
    return static_cast<int>(group * row_bytes) + slice / kParts * kBlockBytes;
}

// Decodes `slice` of the lane's row from the step's staged bytes.
template <QuantType T>
__device__ __forceinline__ void decode_staged_slice(const uint8_t* staged, int lanes, int group, int64_t row_bytes,
                                                    int first_slice, int slice, quant::SliceQ8& out) {
    quant::decode_slice<T>(staged + block_offset_in_step<T>(lanes, group, row_bytes, first_slice, slice),
                           slice % quant::slices_per_block(T), out);
}

// Dot product of a decoded weight slice with 32 int8 activations (16-byte aligned, two 16-byte
// loads) whose scale is `d`.
template <QuantType T>
__device__ __forceinline__ float dot_q8_activations(const quant::SliceQ8& w, const int8_t* xs, float d) {
    const uint4 lo = *reinterpret_cast<const uint4*>(xs);
    const uint4 hi = *reinterpret_cast<const uint4*>(xs + 16);
    const uint32_t words[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
    return quant::dot_slice_q8<T>(w, words, d);
}

// Weights 8c .. 8c+7 of a float-type slice (c = 0..3) as floats, from 16-byte loads.
template <QuantType T>
__device__ __forceinline__ void load_float_chunk(const uint8_t* __restrict__ slice, int c, float* out) {
    if constexpr (T == QuantType::F32) {
        for (int k = 0; k < 2; ++k) {
            const uint4 v = load16(slice + 32 * c + 16 * k);
            out[4 * k] = quant::bits_to_float(v.x);
            out[4 * k + 1] = quant::bits_to_float(v.y);
            out[4 * k + 2] = quant::bits_to_float(v.z);
            out[4 * k + 3] = quant::bits_to_float(v.w);
        }
    } else {
        const uint4 v = load16(slice + 16 * c);
        const uint32_t words[4] = {v.x, v.y, v.z, v.w};
        for (int i = 0; i < 4; ++i) {
            if constexpr (T == QuantType::F16) {
                out[2 * i] = quant::half_to_float(words[i] & 0xFFFFu);
                out[2 * i + 1] = quant::half_to_float(words[i] >> 16);
            } else {
                out[2 * i] = quant::bf16_to_float(words[i] & 0xFFFFu);
                out[2 * i + 1] = quant::bf16_to_float(words[i] >> 16);
            }
        }
    }
}

// The 32 weights of a float-type slice as floats.
template <QuantType T>
__device__ __forceinline__ void load_float_slice(const uint8_t* __restrict__ slice, float* out) {
    for (int c = 0; c < 4; ++c) load_float_chunk<T>(slice, c, out + 8 * c);
}

} // namespace latent::kernels::warp_rows
