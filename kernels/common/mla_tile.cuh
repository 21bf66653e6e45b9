// The MLA attention kernel body shared by decode (mla_decode.cu, split over the context) and
// prefill (mla_prefill.cu, one block per group of query tokens): absorbed-form attention
// (deepseek2-gguf.md §4.7) over the latent cache, which is multi-query attention with one
// (latent_dim + rope_dim)-wide key per position shared by every head, and value = the key's
// first latent_dim entries.
//
// A block owns up to kMaxRows query ROWS — (token, head) pairs: `heads_per_block` heads of
// `tokens_per_block` consecutive query tokens — and one range of keys (a split). It walks its
// keys in tiles of kTileKeys cache rows:
//   1. the tile's rows are copied into shared memory once, with 16-byte global loads, and then
//      serve every row of the block (all heads of a token share each cache-row read);
//   2. scores: warp w owns rows w and w + 8; lane t scores key t of the tile against the row's
//      query (held in shared memory as floats, pre-multiplied by the attention scale); the
//      online-softmax state (softmax.cuh) of a row lives in its warp, which turns the tile's
//      scores into weights exp(s - m) and the factor by which older accumulators shrink;
//   3. values: thread i owns latent dims 2i and 2i+1 for all rows (kMaxRows x 2 accumulators in
//      registers) and adds weight x latent over the tile's keys.
// Causality: query token j of n_tokens sees keys [0, n_keys - n_tokens + j] (its own row is
// already in the cache); a masked score is -inf and weighs exactly 0.
// At the end a block either writes its rows' normalised outputs (one split) or its unnormalised
// accumulators and (max, sum) for the combine kernel (mla_decode.cu), which merges the splits
// with the log-sum-exp rule.
//
// Layout facts the launchers check: latent_dim <= 2 x kThreads (every DeepSeek model has 512),
// latent_dim + rope_dim a multiple of 8 and the row stride too (16-byte row loads), the cache
// 16-byte aligned. Dynamic shared memory: mla_tile_shared_bytes(width).
#pragma once

#include "common/cuda_compat.cuh"

#include "common/block_reduce.cuh"
#include "common/quant_blocks.cuh"
#include "common/softmax.cuh"

#include "mla_attention.h"

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace latent::kernels::mla {

inline constexpr int kThreads = 256;
inline constexpr int kWarps = kThreads / 32;
inline constexpr int kMaxRows = 16;                 // (token, head) rows per block
inline constexpr int kRowsPerWarp = kMaxRows / kWarps;
inline constexpr int kTileKeys = 32;                // one key per lane in the score phase
inline constexpr int kMaxLatent = 2 * kThreads;
inline constexpr unsigned kFullMask = 0xFFFFFFFFu;

// Everything a launch needs, passed by value.
struct TileParams {
    const float* q_latent;   // (n_tokens, n_heads, latent_dim)
    const float* q_rope;     // (n_tokens, n_heads, rope_dim)
    const uint16_t* cache;   // f16 or bf16 rows of row_stride elements: [latent ‖ k_pe]
    uint32_t row_stride;     // elements
    int n_heads;
    int latent_dim;
    int rope_dim;
    int n_tokens;
    uint32_t n_keys;               // keys visible to the last query token
    const uint32_t* n_keys_device; // when set, read at run time instead of n_keys (graph replay)
    float scale;                   // multiplies every score
    int heads_per_block;
    int tokens_per_block;
    float* out;           // (n_tokens, n_heads, latent_dim), written when gridDim.x == 1
    float* partial_acc;   // (splits, n_tokens, n_heads, latent_dim), when gridDim.x > 1
    float* partial_stats; // (splits, n_tokens, n_heads, 2): max, sum
};

// Shared-memory words per cached key in a tile: the row's 16-bit pairs plus one, so that lanes
// reading the same offset of consecutive keys hit different banks (width/2 is a multiple of 4,
// +1 makes the stride odd).
__host__ __device__ inline int key_stride_words(int width) { return width / 2 + 1; }

// Dynamic shared memory: queries (kMaxRows x width floats), the key tile, the weights
// (kMaxRows x kTileKeys), and per row the rescale factor and the final (max, sum).
__host__ __device__ inline size_t mla_tile_shared_bytes(int width) {
    return sizeof(float) * (size_t{kMaxRows} * width + size_t{kTileKeys} * key_stride_words(width) +
                            size_t{kMaxRows} * kTileKeys + 3 * kMaxRows);
}

// The two 16-bit elements of a cache word as floats.
template <bool kBf16>
__device__ __forceinline__ float2 unpack_pair(uint32_t word) {
    if constexpr (kBf16) {
        return make_float2(quant::bf16_to_float(word & 0xFFFFu), quant::bf16_to_float(word >> 16));
    } else {
        return make_float2(quant::half_to_float(word & 0xFFFFu), quant::half_to_float(word >> 16));
    }
}

template <bool kBf16>
__global__ void __launch_bounds__(kThreads) mla_attention_tile_kernel(TileParams p) {
    LATENT_DYNAMIC_SHARED(float, shared);
    const int width = p.latent_dim + p.rope_dim;
    const int key_words = key_stride_words(width);
    float* s_query = shared;                                                  // [kMaxRows][width]
    uint32_t* s_keys = reinterpret_cast<uint32_t*>(s_query + kMaxRows * width); // [kTileKeys][key_words]
    float* s_weight = reinterpret_cast<float*>(s_keys + kTileKeys * key_words); // [kMaxRows][kTileKeys]
    float* s_factor = s_weight + kMaxRows * kTileKeys;                        // [kMaxRows]
    float* s_stats = s_factor + kMaxRows;                                     // [kMaxRows][2]

    const int tid = static_cast<int>(threadIdx.x);
    const int warp = tid / 32;
    const int lane = tid % 32;
    const int head0 = static_cast<int>(blockIdx.y) * p.heads_per_block;
    const int token0 = static_cast<int>(blockIdx.z) * p.tokens_per_block;
    const int rows = p.heads_per_block * p.tokens_per_block;

    const uint32_t n_keys = p.n_keys_device != nullptr ? *p.n_keys_device : p.n_keys;
    const uint32_t first_visible = n_keys - static_cast<uint32_t>(p.n_tokens); // keys token 0 sees, minus one
    // This split's keys: an equal share rounded up to whole tiles, computed here so a replayed
    // graph adapts to the current context length.
    const uint32_t splits = gridDim.x;
    uint32_t per_split = (n_keys + splits - 1) / splits;
    per_split = (per_split + kTileKeys - 1) / kTileKeys * kTileKeys;
    const uint32_t key_begin = blockIdx.x * per_split;
    const int last_token = (token0 + p.tokens_per_block < p.n_tokens ? token0 + p.tokens_per_block : p.n_tokens) - 1;
    uint32_t key_end = key_begin + per_split;
    const uint32_t visible_end = first_visible + static_cast<uint32_t>(last_token) + 1;
    if (key_end > visible_end) key_end = visible_end;

    // Row r: its token, head, validity and how many keys it sees.
    auto row_token = [&](int r) { return token0 + r / p.heads_per_block; };
    auto row_head = [&](int r) { return head0 + r % p.heads_per_block; };
    auto row_valid = [&](int r) { return r < rows && row_token(r) < p.n_tokens && row_head(r) < p.n_heads; };

    // Queries, scaled, as floats; invalid rows are zero.
    for (int r = 0; r < kMaxRows; ++r) {
        const bool valid = row_valid(r);
        const size_t q = valid ? static_cast<size_t>(row_token(r)) * p.n_heads + row_head(r) : 0;
        for (int j = tid; j < width; j += kThreads) {
            float v = 0.0f;
            if (valid) v = j < p.latent_dim ? p.q_latent[q * p.latent_dim + j] : p.q_rope[q * p.rope_dim + (j - p.latent_dim)];
            s_query[r * width + j] = v * p.scale;
        }
    }

    softmax::State state[kRowsPerWarp];
    float2 acc[kMaxRows];
    for (int r = 0; r < kMaxRows; ++r) acc[r] = make_float2(0.0f, 0.0f);
    const bool owns_dims = 2 * tid < p.latent_dim;
    const int chunks_per_key = width / 8; // 16-byte pieces of a cache row
    __syncthreads();

    for (uint32_t tile = key_begin; tile < key_end; tile += kTileKeys) {
        const int tile_keys = key_end - tile < static_cast<uint32_t>(kTileKeys) ? static_cast<int>(key_end - tile) : kTileKeys;
        // 1. The tile's cache rows into shared memory.
        for (int c = tid; c < tile_keys * chunks_per_key; c += kThreads) {
            const int key = c / chunks_per_key;
            const int piece = c % chunks_per_key;
            const uint16_t* src = p.cache + static_cast<size_t>(tile + key) * p.row_stride + 8 * piece;
            const uint4 v = __ldg(reinterpret_cast<const uint4*>(src));
            uint32_t* dst = s_keys + key * key_words + 4 * piece;
            dst[0] = v.x;
            dst[1] = v.y;
            dst[2] = v.z;
            dst[3] = v.w;
        }
        __syncthreads();

        // 2. Scores and online softmax, one row per warp at a time, one key per lane.
        for (int i = 0; i < kRowsPerWarp; ++i) {
            const int r = warp + kWarps * i;
            if (r >= rows) { // block-uniform: rows the block does not have weigh 0
                s_weight[r * kTileKeys + lane] = 0.0f;
                if (lane == 0) s_factor[r] = 1.0f;
                continue;
            }
            float score = -INFINITY;
            if (row_valid(r) && lane < tile_keys) {
                const uint32_t key = tile + static_cast<uint32_t>(lane);
                if (key <= first_visible + static_cast<uint32_t>(row_token(r))) {
                    const float* q = s_query + r * width;
                    const uint32_t* k = s_keys + lane * key_words;
                    float dot = 0.0f;
                    for (int d = 0; d < width / 2; ++d) {
                        const float2 kv = unpack_pair<kBf16>(k[d]);
                        dot = fmaf(q[2 * d], kv.x, dot);
                        dot = fmaf(q[2 * d + 1], kv.y, dot);
                    }
                    score = dot;
                }
            }
            const float factor = softmax::raise_max(state[i], warp_max(score));
            const float weight = softmax::exp_shifted(score, state[i].max);
            softmax::add_to_sum(state[i], warp_sum(weight));
            s_weight[r * kTileKeys + lane] = weight;
            if (lane == 0) s_factor[r] = factor;
        }
        __syncthreads();

        // 3. Weighted latents: each thread its two dims for every row.
        if (owns_dims) {
            for (int r = 0; r < kMaxRows; ++r) {
                const float f = s_factor[r];
                acc[r].x *= f;
                acc[r].y *= f;
            }
            for (int t = 0; t < tile_keys; ++t) {
                const float2 kv = unpack_pair<kBf16>(s_keys[t * key_words + tid]);
                for (int r = 0; r < kMaxRows; ++r) {
                    const float w = s_weight[r * kTileKeys + t];
                    acc[r].x = fmaf(w, kv.x, acc[r].x);
                    acc[r].y = fmaf(w, kv.y, acc[r].y);
                }
            }
        }
        __syncthreads();
    }

    // The rows' (max, sum) to every thread.
    if (lane == 0) {
        for (int i = 0; i < kRowsPerWarp; ++i) {
            const int r = warp + kWarps * i;
            s_stats[2 * r] = state[i].max;
            s_stats[2 * r + 1] = state[i].sum;
        }
    }
    __syncthreads();
    if (!owns_dims) return;
    for (int r = 0; r < rows; ++r) {
        if (!row_valid(r)) continue;
        const size_t row = static_cast<size_t>(row_token(r)) * p.n_heads + row_head(r);
        if (gridDim.x == 1) {
            const float inv = softmax::inverse_sum(softmax::State{s_stats[2 * r], s_stats[2 * r + 1]});
            float* o = p.out + row * p.latent_dim + 2 * tid;
            o[0] = acc[r].x * inv;
            o[1] = acc[r].y * inv;
        } else {
            const size_t slot = static_cast<size_t>(blockIdx.x) * p.n_tokens * p.n_heads + row;
            float* o = p.partial_acc + slot * p.latent_dim + 2 * tid;
            o[0] = acc[r].x;
            o[1] = acc[r].y;
            if (tid == 0) {
                p.partial_stats[2 * slot] = s_stats[2 * r];
                p.partial_stats[2 * slot + 1] = s_stats[2 * r + 1];
            }
        }
    }
}

// ---- host side, shared by the two launchers ----------------------------------------------------

// Throws std::invalid_argument naming the first argument that breaks the limits in
// mla_attention.h.
inline void check_args(const MlaAttentionArgs& a, const char* who) {
    auto fail = [&](const std::string& what) { throw std::invalid_argument(std::string(who) + ": " + what); };
    if (a.q_latent == nullptr || a.q_rope == nullptr || a.cache == nullptr || a.out == nullptr) fail("null pointer");
    if (a.cache_type != QuantType::F16 && a.cache_type != QuantType::BF16) fail("cache type must be f16 or bf16");
    if (a.n_heads == 0) fail("n_heads is 0");
    if (a.latent_dim == 0 || a.latent_dim % 2 != 0 || a.latent_dim > static_cast<uint32_t>(kMaxLatent)) {
        fail("latent_dim " + std::to_string(a.latent_dim) + " must be even and at most " + std::to_string(kMaxLatent));
    }
    const uint32_t width = a.latent_dim + a.rope_dim;
    if (width % 8 != 0) fail("latent_dim + rope_dim must be a multiple of 8");
    if (a.row_stride < width || a.row_stride % 8 != 0) fail("row_stride must be >= latent_dim + rope_dim and a multiple of 8");
    if (reinterpret_cast<uintptr_t>(a.cache) % 16 != 0) fail("cache must be 16-byte aligned");
    if (a.n_tokens == 0 || a.n_tokens > a.n_keys) fail("need 1 <= n_tokens <= n_keys");
}

inline TileParams tile_params(const MlaAttentionArgs& a) {
    TileParams p{};
    p.q_latent = a.q_latent;
    p.q_rope = a.q_rope;
    p.cache = static_cast<const uint16_t*>(a.cache);
    p.row_stride = a.row_stride;
    p.n_heads = static_cast<int>(a.n_heads);
    p.latent_dim = static_cast<int>(a.latent_dim);
    p.rope_dim = static_cast<int>(a.rope_dim);
    p.n_tokens = static_cast<int>(a.n_tokens);
    p.n_keys = a.n_keys;
    p.scale = a.scale;
    // All heads of a token in one block when they fit (every cache row read once per token
    // group); fewer heads leave room for more tokens of the same rows.
    p.heads_per_block = a.n_heads < static_cast<uint32_t>(kMaxRows) ? static_cast<int>(a.n_heads) : kMaxRows;
    p.tokens_per_block = kMaxRows / p.heads_per_block;
    if (p.tokens_per_block > p.n_tokens) p.tokens_per_block = p.n_tokens;
    p.out = a.out;
    return p;
}

inline dim3 tile_grid(const TileParams& p, uint32_t splits) {
    return dim3(splits, static_cast<unsigned>((p.n_heads + p.heads_per_block - 1) / p.heads_per_block),
                static_cast<unsigned>((p.n_tokens + p.tokens_per_block - 1) / p.tokens_per_block));
}

inline void launch_tiles(const TileParams& p, QuantType cache_type, dim3 grid, gpu::Stream stream) {
    const size_t shared = mla_tile_shared_bytes(p.latent_dim + p.rope_dim);
    auto* kernel = cache_type == QuantType::BF16 ? &mla_attention_tile_kernel<true> : &mla_attention_tile_kernel<false>;
    // More than the default 48 KiB of dynamic shared memory must be asked for — once per kernel
    // and size, not per launch (a driver call before every launch, likely much of the fixed
    // ~90 µs that mla_decode took at 4K keys on the H200).
    // Process-wide: the backend drives one device.
    static std::atomic<size_t> granted[2];
    std::atomic<size_t>& granted_here = granted[cache_type == QuantType::BF16 ? 1 : 0];
    if (shared > granted_here.load(std::memory_order_relaxed)) {
        LATENT_SET_MAX_DYNAMIC_SHARED(kernel, shared);
        granted_here.store(shared, std::memory_order_relaxed);
    }
    LATENT_LAUNCH(kernel, grid, dim3(kThreads), shared, stream, p);
    LATENT_CHECK_LAUNCH();
}

} // namespace latent::kernels::mla
