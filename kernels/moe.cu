// Mixture-of-experts FFN (moe.h): routing on the device, tokens grouped by expert, gate+up+SiLU
// fused, down projection, weighted sum with the shared experts and the residual.
//
// Work list. moe_select_kernel turns the K choices of every token into groups — one per expert
// chosen by at least one token, in expert order, holding that expert's (token, slot) PAIRS, plus
// the shared-expert group holding every token — and cuts each group into items of kTokenTile
// tokens. The expert kernels run one block per (item, 32 rows): decode (1 token) is K + 1 items
// of one token each; a 512-token prefill chunk with 64 experts top-6 about 64 + 64 + 384 items,
// so every expert's weights are read once per tile of 8 tokens instead of once per token.
// Pair p < T·K is (token p / K, slot p % K); pair T·K + t is token t's shared-expert pass.
// Per-pair vectors (hidden h and down output y) are kept apart and summed in a fixed order by
// moe_combine_kernel, so results do not depend on the order the grouping produced.
#include "common/cuda_compat.cuh"

#include "common/block_reduce.cuh"
#include "common/matvec_warp.cuh"
#include "common/quant_blocks.cuh"
#include "common/quant_dispatch.h"
#include "common/warp_quant.cuh"
#include "moe.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>

namespace latent::kernels {
namespace {

namespace wr = warp_rows;

// Expert kernels: 8 warps of 4 rows each per 32-row tile. The H200 run with 4 warps of 8 rows
// showed the decode layer latency-bound (each warp waits on its rows' loads one after another).
constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kTileRows = 32;  // rows of an expert matrix per block (one int8 slice of h)
constexpr int kTokenTile = 8;  // tokens per work item
constexpr int kSelectThreads = 256;
constexpr int kSelectWarps = kSelectThreads / 32;
constexpr int kSharedGroup = -1; // group_expert value of the shared-expert group
constexpr int kCombineThreads = 256;

struct Item {
    int group; // index into the group table
    int first; // first entry of the group this item covers
};

// One weight matrix as the kernels see it: `rows` rows per expert, experts stacked.
struct Matrix {
    const uint8_t* data;
    QuantType type;
    int rows;
    int cols;
    int experts; // matrices stacked in `data` (1 for the shared experts)
};

// Runs f(QuantTypeTag<T>{}) for the runtime type, on the device (kernels dispatch per block,
// since a routed expert and the shared experts may be stored in different types).
template <QuantType T, class F>
__device__ __forceinline__ bool call_if_type(QuantType type, F& f) {
    if (type != T) return false;
    f(QuantTypeTag<T>{});
    return true;
}
template <class F, size_t... I>
__device__ __forceinline__ void on_quant_type(QuantType type, F&& f, std::index_sequence<I...>) {
    (void)(call_if_type<kAllQuantTypes[I]>(type, f) || ...);
}
template <class F>
__device__ __forceinline__ void on_quant_type(QuantType type, F&& f) {
    on_quant_type(type, f, std::make_index_sequence<sizeof(kAllQuantTypes) / sizeof(kAllQuantTypes[0])>{});
}

// ---- routing ---------------------------------------------------------------------------------

struct SelectParams {
    const float* logits; // (n_tokens, E)
    const float* bias;   // E or null
    int n_tokens;
    int n_expert;
    int n_used;
    int sigmoid;
    int norm;
    float scale;
    int group_count;
    int group_used;
    int has_shared;
    int32_t* ids;       // (n_tokens, K)
    float* weights;     // (n_tokens, K)
    int* group_expert;  // per group: expert id or kSharedGroup
    int* group_offset;  // per group: first entry in pairs
    int* group_count_out; // per group: entries
    int* pairs;         // grouped pair ids
    Item* items;
    int* n_items;
};

// One token's routing by one warp, exactly as route_token (backend_common.cpp): probabilities
// (softmax normalised in double, or float sigmoid), selection scores with the bias, the kept
// groups (score: top-2 sum with a bias, else the max; ties to the lower group), then the K best
// selection scores (ties to the lower expert) and their unbiased probabilities as weights.
__device__ void select_token(const SelectParams& p, int t, float* prob, float* sel, int lane) {
    const int n = p.n_expert;
    const float* z = p.logits + static_cast<size_t>(t) * n;
    if (p.sigmoid) {
        for (int e = lane; e < n; e += 32) prob[e] = 1.0f / (1.0f + expf(-z[e]));
    } else {
        float m = -INFINITY;
        for (int e = lane; e < n; e += 32) m = fmaxf(m, z[e]);
        m = warp_max(m);
        double sum = 0.0;
        for (int e = lane; e < n; e += 32) sum += exp(static_cast<double>(z[e] - m));
        for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xFFFFFFFFu, sum, offset);
        for (int e = lane; e < n; e += 32) prob[e] = static_cast<float>(exp(static_cast<double>(z[e] - m)) / sum);
    }
    for (int e = lane; e < n; e += 32) sel[e] = p.bias != nullptr ? prob[e] + p.bias[e] : prob[e];
    __syncwarp();

    if (p.group_count > 1) {
        const int size = n / p.group_count;
        ArgBest mine{-INFINITY, 0x7FFFFFFF};
        if (lane < p.group_count) {
            float best = -INFINITY, second = -INFINITY;
            for (int e = lane * size; e < (lane + 1) * size; ++e) {
                const float v = sel[e];
                if (v > best) {
                    second = best;
                    best = v;
                } else if (v > second) {
                    second = v;
                }
            }
            mine = ArgBest{p.bias != nullptr && size >= 2 ? best + second : best, lane};
        }
        unsigned keep = 0;
        for (int r = 0; r < p.group_used; ++r) {
            const ArgBest b = warp_best(mine);
            keep |= 1u << b.index;
            if (lane == b.index) mine = ArgBest{-INFINITY, 0x7FFFFFFF};
        }
        for (int e = lane; e < n; e += 32) {
            if (((keep >> (e / size)) & 1u) == 0) sel[e] = -INFINITY;
        }
        __syncwarp();
    }

    unsigned taken = 0; // bit i: expert lane + 32 i is chosen
    float sum = 0.0f;
    for (int k = 0; k < p.n_used; ++k) {
        ArgBest mine{-INFINITY, 0x7FFFFFFF};
        for (int i = 0, e = lane; e < n; ++i, e += 32) {
            const ArgBest candidate{sel[e], e};
            if (((taken >> i) & 1u) == 0 && ranks_before(candidate, mine)) mine = candidate;
        }
        const ArgBest b = warp_best(mine);
        if (b.index % 32 == lane) taken |= 1u << (b.index / 32);
        const float w = prob[b.index];
        sum += w;
        if (lane == 0) {
            p.ids[static_cast<size_t>(t) * p.n_used + k] = b.index;
            p.weights[static_cast<size_t>(t) * p.n_used + k] = w;
        }
    }
    if (lane == 0) {
        for (int k = 0; k < p.n_used; ++k) {
            float& w = p.weights[static_cast<size_t>(t) * p.n_used + k];
            if (p.norm) w /= fmaxf(sum, 6.103515625e-5f);
            w *= p.scale;
        }
    }
    __syncwarp(); // prob/sel are reused for the warp's next token
}

__global__ void __launch_bounds__(kSelectThreads) moe_select_kernel(SelectParams p) {
    __shared__ float s_prob[kSelectWarps][kMoeMaxExperts];
    __shared__ float s_sel[kSelectWarps][kMoeMaxExperts];
    __shared__ int s_count[kMoeMaxExperts];
    __shared__ int s_cursor[kMoeMaxExperts];
    __shared__ int s_shared_offset;
    const int tid = static_cast<int>(threadIdx.x);
    const int warp = tid / 32, lane = tid % 32;
    for (int t = warp; t < p.n_tokens; t += kSelectWarps) select_token(p, t, s_prob[warp], s_sel[warp], lane);
    for (int e = tid; e < p.n_expert; e += kSelectThreads) s_count[e] = 0;
    __syncthreads();

    // Group the pairs by expert: histogram, then (one thread; E <= 512) the group table and the
    // work items, then the scatter.
    const int n_pairs = p.n_tokens * p.n_used;
    for (int i = tid; i < n_pairs; i += kSelectThreads) atomicAdd(&s_count[p.ids[i]], 1);
    __syncthreads();
    if (tid == 0) {
        int groups = 0, offset = 0, items = 0;
        auto add_group = [&](int expert, int count) {
            p.group_expert[groups] = expert;
            p.group_offset[groups] = offset;
            p.group_count_out[groups] = count;
            for (int first = 0; first < count; first += kTokenTile) p.items[items++] = Item{groups, first};
            offset += count;
            ++groups;
        };
        for (int e = 0; e < p.n_expert; ++e) {
            s_cursor[e] = offset;
            if (s_count[e] > 0) add_group(e, s_count[e]);
        }
        s_shared_offset = offset;
        if (p.has_shared) add_group(kSharedGroup, p.n_tokens);
        *p.n_items = items;
    }
    __syncthreads();
    for (int i = tid; i < n_pairs; i += kSelectThreads) p.pairs[atomicAdd(&s_cursor[p.ids[i]], 1)] = i;
    if (p.has_shared) {
        for (int t = tid; t < p.n_tokens; t += kSelectThreads) p.pairs[s_shared_offset + t] = n_pairs + t;
    }
}

// ---- expert matrices -------------------------------------------------------------------------

// Where one token's activation vector lives, in both forms.
struct Activation {
    const float* x;  // floats (float weight types)
    const int8_t* q; // int8 per 32 (block types)
    const float* d;  // their scales
};

// The warp's dot products of rows [row0, row0 + rows_here) of `m` (row0 counted over all
// stacked experts; rows_here <= 32 / lanes) with up to kTokenTile activation vectors, walking
// the weights as matvec_quant does (matvec_warp.cuh): acc[i] for the lane's row `group`.
template <QuantType T>
__device__ void warp_dot_rows(const Matrix& m, int64_t row0, int rows_here, int lanes, const Activation* acts, int n_acts,
                              uint4* window, int lane, float (&acc)[kTokenTile], int& group) {
    const int slices = m.cols / quant::kSlice;
    const int64_t row_bytes = quant::row_bytes(T, m.cols);
    for (float& a : acc) a = 0.0f;
    group = lane / lanes;
    if constexpr (quant::is_float_type(T)) {
        if (group < rows_here) {
            const uint8_t* row = m.data + (row0 + group) * row_bytes;
            for (int slice = lane % lanes; slice < slices; slice += lanes) {
                float w[quant::kSlice];
                wr::load_float_slice<T>(row + int64_t{slice} * quant::float_slice_bytes(T), w);
                for (int i = 0; i < kTokenTile && i < n_acts; ++i) {
                    const float* x = acts[i].x + slice * quant::kSlice;
                    float sum = 0.0f;
                    for (int j = 0; j < quant::kSlice; ++j) sum = fmaf(w[j], x[j], sum);
                    acc[i] += sum;
                }
            }
        }
    } else {
        const int64_t total = int64_t{m.experts} * m.rows * row_bytes;
        const bool long_rows = lanes == wr::kWarpSize;
        for (int first = 0; first < slices; first += long_rows ? wr::kLongStep : lanes) {
            const wr::Step s = wr::step_of<T>(row0, rows_here, slices, lanes, row_bytes, first, lane);
            const uint8_t* staged = wr::stage_range(m.data, s.begin, s.end, total, window, lane);
            for (int j = 0; j < (long_rows ? wr::kSlicesPerLane : 1); ++j) {
                const int slice = long_rows ? first + lane + wr::kWarpSize * j : lane % lanes;
                if (slice >= slices || group >= rows_here) continue;
                quant::SliceQ8 ws;
                wr::decode_staged_slice<T>(staged, lanes, group, row_bytes, first, slice, ws);
                for (int i = 0; i < kTokenTile && i < n_acts; ++i)
                    acc[i] += wr::dot_q8_activations<T>(ws, acts[i].q + slice * quant::kSlice, acts[i].d[slice]);
            }
            __syncwarp(); // the next step overwrites the window
        }
    }
    for (int i = 0; i < kTokenTile && i < n_acts; ++i) acc[i] = wr::group_sum(acc[i], lanes); // n_acts is warp-uniform
}

struct ExpertParams {
    const Item* items;
    const int* n_items;
    const int* group_expert;
    const int* group_offset;
    const int* group_count;
    const int* pairs;
    int n_tokens;
    int n_used;
    Matrix routed_a, routed_b; // gate + up (gate_up kernel) or down + unused (down kernel)
    Matrix shared_a, shared_b;
    // Inputs: the gate_up kernel reads x (one vector per token), the down kernel h (one per pair).
    const float* in;
    const int8_t* in_q;
    const float* in_d;
    int in_stride; // elements between two vectors of `in` / `in_q`
    // Outputs: h / h_q / h_d per pair (gate_up) or y per pair (down).
    float* out;
    int8_t* out_q;
    float* out_d;
    int out_stride;
};

// The block's work item, or false when the block has none (grids are sized for the worst case).
struct BlockWork {
    Matrix a, b;
    int64_t row0;   // first row of the block's tile, over all stacked experts
    int tile_row;   // first row of the tile within one expert matrix
    int n_acts;
    int first_entry; // the item's first entry in the grouped pair list
};

__device__ bool block_work(const ExpertParams& p, BlockWork& w) {
    const int item_index = static_cast<int>(blockIdx.x);
    if (item_index >= *p.n_items) return false;
    const Item item = p.items[item_index];
    const int expert = p.group_expert[item.group];
    const bool shared = expert == kSharedGroup;
    w.a = shared ? p.shared_a : p.routed_a;
    w.b = shared ? p.shared_b : p.routed_b;
    w.tile_row = static_cast<int>(blockIdx.y) * kTileRows;
    if (w.tile_row >= w.a.rows) return false;
    w.row0 = (shared ? 0 : int64_t{expert} * w.a.rows) + w.tile_row;
    const int left = p.group_count[item.group] - item.first;
    w.n_acts = left < kTokenTile ? left : kTokenTile;
    w.first_entry = p.group_offset[item.group] + item.first;
    return true;
}

// Pair -> the token whose activation it uses.
__device__ __forceinline__ int pair_token(const ExpertParams& p, int pair) {
    const int routed = p.n_tokens * p.n_used;
    return pair < routed ? pair / p.n_used : pair - routed;
}

// The tile's pairs and their activation vectors into shared memory (kept out of registers: the
// dot loops need those for accumulators): x of the pair's token (by_token) or the pair's own
// vector. All threads call it.
__device__ void load_tile(const ExpertParams& p, const BlockWork& w, bool by_token, int* s_pair, Activation* s_acts) {
    const int i = static_cast<int>(threadIdx.x);
    if (i < w.n_acts) {
        const int pair = p.pairs[w.first_entry + i];
        const size_t v = static_cast<size_t>(by_token ? pair_token(p, pair) : pair);
        s_pair[i] = pair;
        s_acts[i] = Activation{p.in + v * p.in_stride, p.in_q + v * p.in_stride, p.in_d + v * (p.in_stride / quant::kSlice)};
    }
    __syncthreads();
}

__device__ __forceinline__ float silu(float v) { return v / (1.0f + expf(-v)); }

__global__ void __launch_bounds__(kThreads) moe_gate_up_kernel(ExpertParams p) {
    __shared__ uint4 window[kWarps][wr::kStageWords];
    __shared__ float s_h[kTokenTile][kTileRows];
    (void)window; // float weight types do not stage
    __shared__ int s_pair[kTokenTile];
    __shared__ Activation acts[kTokenTile];
    BlockWork w;
    if (!block_work(p, w)) return; // block-uniform
    const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
    load_tile(p, w, true, s_pair, acts);
    const int lanes = wr::lanes_per_row(w.a.cols / quant::kSlice);
    const int rows_per_step = 32 / lanes;
    on_quant_type(w.a.type, [&](auto tag) {
        constexpr QuantType T = decltype(tag)::value;
        for (int r = warp * rows_per_step; r < kTileRows; r += kWarps * rows_per_step) {
            // Gate first, parked in s_h, then up: one set of accumulators live at a time.
            float acc[kTokenTile];
            int group = 0;
            warp_dot_rows<T>(w.a, w.row0 + r, rows_per_step, lanes, acts, w.n_acts, window[warp], lane, acc, group);
            const bool writer = lane % lanes == 0;
            if (writer) {
                for (int i = 0; i < kTokenTile && i < w.n_acts; ++i) s_h[i][r + group] = acc[i];
            }
            warp_dot_rows<T>(w.b, w.row0 + r, rows_per_step, lanes, acts, w.n_acts, window[warp], lane, acc, group);
            if (writer) {
                for (int i = 0; i < kTokenTile && i < w.n_acts; ++i) s_h[i][r + group] = silu(s_h[i][r + group]) * acc[i];
            }
        }
    });
    __syncthreads();
    // The tile's 32 hidden values of each pair: floats, and int8 with one scale (Q8_32, as
    // quantize_q8) for block-type down projections.
    for (int i = warp; i < w.n_acts; i += kWarps) {
        const float v = s_h[i][lane];
        const size_t at = static_cast<size_t>(s_pair[i]) * p.out_stride + w.tile_row;
        p.out[at + lane] = v;
        const WarpSliceQ8 r = warp_quantize_slice(v);
        p.out_q[at + lane] = r.q;
        if (lane == 0) p.out_d[at / quant::kSlice] = r.d;
    }
}

__global__ void __launch_bounds__(kThreads) moe_down_kernel(ExpertParams p) {
    __shared__ uint4 window[kWarps][wr::kStageWords];
    (void)window; // float weight types do not stage
    __shared__ int s_pair[kTokenTile];
    __shared__ Activation acts[kTokenTile];
    BlockWork w;
    if (!block_work(p, w)) return;
    const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
    load_tile(p, w, false, s_pair, acts);
    const int lanes = wr::lanes_per_row(w.a.cols / quant::kSlice);
    const int rows_per_step = 32 / lanes;
    on_quant_type(w.a.type, [&](auto tag) {
        constexpr QuantType T = decltype(tag)::value;
        for (int r = warp * rows_per_step; r < kTileRows; r += kWarps * rows_per_step) {
            float y[kTokenTile];
            int group = 0;
            warp_dot_rows<T>(w.a, w.row0 + r, rows_per_step, lanes, acts, w.n_acts, window[warp], lane, y, group);
            if (lane % lanes == 0) {
                for (int i = 0; i < kTokenTile && i < w.n_acts; ++i) p.out[static_cast<size_t>(s_pair[i]) * p.out_stride + w.tile_row + r + group] = y[i];
            }
        }
    });
}

// Decode (one token): the down projections of all K + 1 pairs and their weighted sum with the
// residual in one launch. A warp owns `rows_per_warp` output rows (as many as a warp step of the
// widest down matrix covers) and walks every work item (one pair each) in the select kernel's
// order, adding weight x row dot into its rows in shared memory; each output is written once,
// without atomics.
__global__ void __launch_bounds__(kThreads) moe_down_decode_kernel(ExpertParams p, int rows_per_warp, const float* __restrict__ weights,
                                                                   const float* residual, float* out) {
    __shared__ uint4 window[kWarps][wr::kStageWords];
    __shared__ float s_rows[kWarps][32];
    (void)window; // float weight types do not stage
    const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
    const int first = (static_cast<int>(blockIdx.x) * kWarps + warp) * rows_per_warp;
    if (first >= p.out_stride) return; // warp-uniform
    const int rows_here = p.out_stride - first < rows_per_warp ? p.out_stride - first : rows_per_warp;
    s_rows[warp][lane] = 0.0f;
    __syncwarp();
    const int n_items = *p.n_items;
    for (int item = 0; item < n_items; ++item) {
        const int group = p.items[item].group;
        const int expert = p.group_expert[group];
        const bool shared = expert == kSharedGroup;
        const Matrix m = shared ? p.shared_a : p.routed_a;
        const int pair = p.pairs[p.group_offset[group]];
        const Activation act{p.in + static_cast<size_t>(pair) * p.in_stride, p.in_q + static_cast<size_t>(pair) * p.in_stride,
                             p.in_d + static_cast<size_t>(pair) * (p.in_stride / quant::kSlice)};
        const float weight = shared ? 1.0f : weights[pair];
        const int lanes = wr::lanes_per_row(m.cols / quant::kSlice);
        on_quant_type(m.type, [&](auto tag) {
            float y[kTokenTile];
            int in_group = 0;
            warp_dot_rows<decltype(tag)::value>(m, (shared ? 0 : int64_t{expert} * m.rows) + first, rows_here, lanes, &act, 1,
                                                window[warp], lane, y, in_group);
            if (lane % lanes == 0 && in_group < rows_here) s_rows[warp][in_group] += weight * y[0];
        });
        __syncwarp();
    }
    if (lane < rows_here) out[first + lane] = (residual != nullptr ? residual[first + lane] : 0.0f) + s_rows[warp][lane];
}

// out[t] = residual[t] + sum_k weight[t][k] * y[t·K + k] + y_shared[t], in that order.
__global__ void __launch_bounds__(kCombineThreads)
    moe_combine_kernel(const float* __restrict__ y, const float* __restrict__ weights, const float* residual, int n_tokens,
                       int n_used, int n_embd, int has_shared, float* out) {
    const int t = static_cast<int>(blockIdx.y);
    const int d = static_cast<int>(blockIdx.x) * kCombineThreads + static_cast<int>(threadIdx.x);
    if (d >= n_embd) return;
    const size_t at = static_cast<size_t>(t) * n_embd + d;
    float sum = residual != nullptr ? residual[at] : 0.0f;
    for (int k = 0; k < n_used; ++k) {
        const size_t pair = static_cast<size_t>(t) * n_used + k;
        sum += weights[pair] * y[pair * n_embd + d];
    }
    if (has_shared) sum += y[(static_cast<size_t>(n_tokens) * n_used + t) * n_embd + d];
    out[at] = sum;
}

// ---- host side -----------------------------------------------------------------------------------

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument("moe: " + what); }

size_t align16(size_t n) { return (n + 15) & ~size_t{15}; }

bool has_shared(const MoeWeights& w) { return w.gate_shexp.data != nullptr; }

// Scratch layout (every part 16-byte aligned).
struct Layout {
    size_t logits, ids, weights, group_expert, group_offset, group_count, pairs, items, n_items, x_q8, h, h_q, h_d, y, total;
    int64_t n_pairs, hidden_stride, max_items;
};

Layout layout(const MoeRouting& r, const MoeWeights& w, int64_t n_tokens) {
    Layout l{};
    const int64_t routed = n_tokens * r.n_expert_used;
    l.n_pairs = routed + (has_shared(w) ? n_tokens : 0);
    l.hidden_stride = std::max(w.gate_exps.rows, has_shared(w) ? w.gate_shexp.rows : 0);
    const int64_t groups = std::min<int64_t>(r.n_expert, routed) + (has_shared(w) ? 1 : 0);
    l.max_items = (routed + kTokenTile - 1) / kTokenTile + groups + (has_shared(w) ? (n_tokens + kTokenTile - 1) / kTokenTile : 0);
    const int64_t d = w.router.cols;
    size_t at = 0;
    auto take = [&](size_t bytes) {
        const size_t here = at;
        at += align16(bytes);
        return here;
    };
    l.logits = take(n_tokens * r.n_expert * sizeof(float));
    l.ids = take(routed * sizeof(int32_t));
    l.weights = take(routed * sizeof(float));
    l.group_expert = take((r.n_expert + 1) * sizeof(int));
    l.group_offset = take((r.n_expert + 1) * sizeof(int));
    l.group_count = take((r.n_expert + 1) * sizeof(int));
    l.pairs = take(l.n_pairs * sizeof(int));
    l.items = take(l.max_items * sizeof(Item));
    l.n_items = take(sizeof(int));
    l.x_q8 = take(q8_activation_bytes(d, n_tokens));
    l.h = take(l.n_pairs * l.hidden_stride * sizeof(float));
    l.h_q = take(l.n_pairs * l.hidden_stride);
    l.h_d = take(l.n_pairs * (l.hidden_stride / quant::kSlice) * sizeof(float));
    l.y = take(l.n_pairs * d * sizeof(float));
    l.total = at;
    return l;
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

void check_matrix(const QuantMatrix& m, const char* name, int64_t rows, int64_t cols) {
    if (!is_known_quant_type(static_cast<uint32_t>(m.type))) fail(std::string(name) + ": unsupported tensor type");
    if (m.data == nullptr || !aligned16(m.data)) fail(std::string(name) + ": weights null or not 16-byte aligned");
    if (m.rows != rows || m.cols != cols) {
        fail(std::string(name) + ": shape " + std::to_string(m.rows) + " x " + std::to_string(m.cols) + ", expected " +
             std::to_string(rows) + " x " + std::to_string(cols));
    }
    const int64_t granule = quant::is_float_type(m.type) ? quant::kSlice : quant::block_elements(m.type);
    if (cols % granule != 0) fail(std::string(name) + ": " + std::to_string(cols) + " columns are not a multiple of " + std::to_string(granule) + " for " + quant_type_name(m.type));
}

// The routing half always; the expert matrices unless `experts` is false (moe_route alone).
void check(const MoeRouting& r, const MoeWeights& w, int64_t n_tokens, bool experts = true) {
    if (r.n_expert == 0 || r.n_expert > kMoeMaxExperts) fail("n_expert must be 1.." + std::to_string(kMoeMaxExperts));
    if (r.n_expert_used == 0 || r.n_expert_used > std::min(r.n_expert, kMoeMaxExpertsUsed)) fail("n_expert_used must be 1..min(n_expert, 16)");
    if (r.group_count == 0 || r.group_count > kMoeMaxGroups || r.n_expert % r.group_count != 0) {
        fail("expert_group_count must divide n_expert and be at most 32");
    }
    if (r.group_count > 1 && (r.group_used == 0 || r.group_used > r.group_count ||
                              r.group_used * (r.n_expert / r.group_count) < r.n_expert_used)) {
        fail("expert_group_used_count must be 1..expert_group_count and keep at least n_expert_used experts");
    }
    if (n_tokens < 1 || n_tokens > (1 << 20)) fail("n_tokens out of range");
    if (!quant::is_float_type(w.router.type)) fail("the router (ffn_gate_inp) must be f32, f16 or bf16");
    const int64_t d = w.router.cols;
    if (d <= 0 || d % quant::kSlice != 0) fail("n_embd must be a positive multiple of 32");
    check_matrix(w.router, "ffn_gate_inp", r.n_expert, d);
    if (!experts) return;
    const int64_t f = w.gate_exps.rows;
    if (f <= 0 || f % kTileRows != 0) fail("n_ff_expert must be a positive multiple of 32");
    check_matrix(w.gate_exps, "ffn_gate_exps", f, d);
    check_matrix(w.up_exps, "ffn_up_exps", f, d);
    check_matrix(w.down_exps, "ffn_down_exps", d, f);
    if (w.gate_exps.type != w.up_exps.type) fail("ffn_gate_exps and ffn_up_exps must share a type");
    if (has_shared(w)) {
        const int64_t fs = w.gate_shexp.rows;
        if (fs <= 0 || fs % kTileRows != 0) fail("the shared experts' width must be a positive multiple of 32");
        check_matrix(w.gate_shexp, "ffn_gate_shexp", fs, d);
        check_matrix(w.up_shexp, "ffn_up_shexp", fs, d);
        check_matrix(w.down_shexp, "ffn_down_shexp", d, fs);
        if (w.gate_shexp.type != w.up_shexp.type) fail("ffn_gate_shexp and ffn_up_shexp must share a type");
    }
}

Matrix matrix(const QuantMatrix& m, uint32_t experts) {
    return Matrix{static_cast<const uint8_t*>(m.data), m.type, static_cast<int>(m.rows), static_cast<int>(m.cols), static_cast<int>(experts)};
}

// Steps 1-2 into the workspace; returns the layout.
Layout route(const MoeRouting& r, const MoeWeights& w, const float* x, int64_t n_tokens, uint8_t* ws, gpu::Stream stream) {
    const Layout l = layout(r, w, n_tokens);
    auto* logits = reinterpret_cast<float*>(ws + l.logits);
    for (int64_t t0 = 0; t0 < n_tokens; t0 += kMaxBatchTokens) {
        const int64_t n = std::min<int64_t>(kMaxBatchTokens, n_tokens - t0);
        matmul_quant(w.router, x + t0 * w.router.cols, nullptr, n, logits + t0 * r.n_expert, stream);
    }
    SelectParams p{};
    p.logits = logits;
    p.bias = w.selection_bias;
    p.n_tokens = static_cast<int>(n_tokens);
    p.n_expert = static_cast<int>(r.n_expert);
    p.n_used = static_cast<int>(r.n_expert_used);
    p.sigmoid = r.sigmoid_gating ? 1 : 0;
    p.norm = r.weights_norm ? 1 : 0;
    p.scale = r.weights_scale;
    p.group_count = static_cast<int>(r.group_count);
    p.group_used = static_cast<int>(r.group_used);
    p.has_shared = has_shared(w) ? 1 : 0;
    p.ids = reinterpret_cast<int32_t*>(ws + l.ids);
    p.weights = reinterpret_cast<float*>(ws + l.weights);
    p.group_expert = reinterpret_cast<int*>(ws + l.group_expert);
    p.group_offset = reinterpret_cast<int*>(ws + l.group_offset);
    p.group_count_out = reinterpret_cast<int*>(ws + l.group_count);
    p.pairs = reinterpret_cast<int*>(ws + l.pairs);
    p.items = reinterpret_cast<Item*>(ws + l.items);
    p.n_items = reinterpret_cast<int*>(ws + l.n_items);
    LATENT_LAUNCH(moe_select_kernel, dim3(1), dim3(kSelectThreads), 0, stream, p);
    LATENT_CHECK_LAUNCH();
    return l;
}

} // namespace

size_t moe_workspace_bytes(const MoeRouting& routing, const MoeWeights& weights, int64_t n_tokens) {
    check(routing, weights, n_tokens, weights.gate_exps.data != nullptr);
    return layout(routing, weights, n_tokens).total;
}

void moe_route(const MoeRouting& routing, const MoeWeights& weights, const float* x, int64_t n_tokens, int32_t* ids,
               float* expert_weights, void* workspace, gpu::Stream stream) {
    check(routing, weights, n_tokens, false);
    if (x == nullptr || ids == nullptr || expert_weights == nullptr || workspace == nullptr || !aligned16(workspace)) {
        fail("moe_route: null or unaligned buffer");
    }
    auto* ws = static_cast<uint8_t*>(workspace);
    const Layout l = route(routing, weights, x, n_tokens, ws, stream);
    const size_t pairs = static_cast<size_t>(n_tokens) * routing.n_expert_used;
    gpu::copy_on_device(ids, ws + l.ids, pairs * sizeof(int32_t), stream);
    gpu::copy_on_device(expert_weights, ws + l.weights, pairs * sizeof(float), stream);
}

void moe_ffn(const MoeRouting& routing, const MoeWeights& weights, const float* x, int64_t n_tokens, const float* residual,
             float* out, void* workspace, gpu::Stream stream, const void* x_q8) {
    check(routing, weights, n_tokens);
    if (x == nullptr || out == nullptr || !aligned16(x) || workspace == nullptr || !aligned16(workspace)) {
        fail("moe_ffn: null or unaligned buffer");
    }
    auto* ws = static_cast<uint8_t*>(workspace);
    const Layout l = route(routing, weights, x, n_tokens, ws, stream);
    const int64_t d = weights.router.cols;
    const bool q8_in = !quant::is_float_type(weights.gate_exps.type) || (has_shared(weights) && !quant::is_float_type(weights.gate_shexp.type));
    if (x_q8 != nullptr && !aligned16(x_q8)) fail("moe_ffn: x_q8 is not 16-byte aligned");
    const auto* q8 = x_q8 != nullptr ? static_cast<const uint8_t*>(x_q8) : ws + l.x_q8;
    if (q8_in && x_q8 == nullptr) quantize_q8(x, d, n_tokens, ws + l.x_q8, stream);

    ExpertParams p{};
    p.items = reinterpret_cast<const Item*>(ws + l.items);
    p.n_items = reinterpret_cast<const int*>(ws + l.n_items);
    p.group_expert = reinterpret_cast<const int*>(ws + l.group_expert);
    p.group_offset = reinterpret_cast<const int*>(ws + l.group_offset);
    p.group_count = reinterpret_cast<const int*>(ws + l.group_count);
    p.pairs = reinterpret_cast<const int*>(ws + l.pairs);
    p.n_tokens = static_cast<int>(n_tokens);
    p.n_used = static_cast<int>(routing.n_expert_used);
    const bool shared = has_shared(weights);
    const unsigned items = static_cast<unsigned>(l.max_items);

    // gate + up: x -> h
    p.routed_a = matrix(weights.gate_exps, routing.n_expert);
    p.routed_b = matrix(weights.up_exps, routing.n_expert);
    if (shared) {
        p.shared_a = matrix(weights.gate_shexp, 1);
        p.shared_b = matrix(weights.up_shexp, 1);
    }
    p.in = x;
    p.in_q = reinterpret_cast<const int8_t*>(q8);
    p.in_d = reinterpret_cast<const float*>(q8 + align16(static_cast<size_t>(n_tokens * d)));
    p.in_stride = static_cast<int>(d);
    p.out = reinterpret_cast<float*>(ws + l.h);
    p.out_q = reinterpret_cast<int8_t*>(ws + l.h_q);
    p.out_d = reinterpret_cast<float*>(ws + l.h_d);
    p.out_stride = static_cast<int>(l.hidden_stride);
    LATENT_LAUNCH(moe_gate_up_kernel, dim3(items, static_cast<unsigned>(l.hidden_stride / kTileRows)), dim3(kThreads), 0, stream, p);
    LATENT_CHECK_LAUNCH();

    // down: h -> y per pair
    p.routed_a = p.routed_b = matrix(weights.down_exps, routing.n_expert);
    if (shared) p.shared_a = p.shared_b = matrix(weights.down_shexp, 1);
    p.in = p.out;
    p.in_q = p.out_q;
    p.in_d = p.out_d;
    p.in_stride = p.out_stride;
    p.out = reinterpret_cast<float*>(ws + l.y);
    p.out_q = nullptr;
    p.out_d = nullptr;
    p.out_stride = static_cast<int>(d);
    if (n_tokens == 1) {
        const int64_t widest = std::max<int64_t>(weights.down_exps.cols, shared ? weights.down_shexp.cols : 0);
        const int rows_per_warp = 32 / wr::lanes_per_row(widest / quant::kSlice);
        const int64_t rows_per_block = int64_t{kWarps} * rows_per_warp;
        LATENT_LAUNCH(moe_down_decode_kernel, dim3(static_cast<unsigned>((d + rows_per_block - 1) / rows_per_block)), dim3(kThreads), 0,
                      stream, p, rows_per_warp, reinterpret_cast<const float*>(ws + l.weights), residual, out);
        LATENT_CHECK_LAUNCH();
        return;
    }
    LATENT_LAUNCH(moe_down_kernel, dim3(items, static_cast<unsigned>(d / kTileRows)), dim3(kThreads), 0, stream, p);
    LATENT_CHECK_LAUNCH();

    const dim3 grid(static_cast<unsigned>((d + kCombineThreads - 1) / kCombineThreads), static_cast<unsigned>(n_tokens));
    LATENT_LAUNCH(moe_combine_kernel, grid, dim3(kCombineThreads), 0, stream, reinterpret_cast<const float*>(ws + l.y),
                  reinterpret_cast<const float*>(ws + l.weights), residual, static_cast<int>(n_tokens),
                  static_cast<int>(routing.n_expert_used), static_cast<int>(d), shared ? 1 : 0, out);
    LATENT_CHECK_LAUNCH();
}

size_t moe_ffn_bytes(const MoeRouting& routing, const MoeWeights& w, int64_t n_tokens, uint32_t distinct_experts) {
    auto bytes = [](const QuantMatrix& m) { return static_cast<size_t>(m.rows * quant::row_bytes(m.type, m.cols)); };
    size_t total = bytes(w.router) + distinct_experts * (bytes(w.gate_exps) + bytes(w.up_exps) + bytes(w.down_exps));
    if (has_shared(w)) total += bytes(w.gate_shexp) + bytes(w.up_shexp) + bytes(w.down_shexp);
    const size_t d = static_cast<size_t>(w.router.cols);
    const size_t pairs = static_cast<size_t>(n_tokens) * (routing.n_expert_used + (has_shared(w) ? 1 : 0));
    // x in, per-pair h (float + int8) and y written and read, out (+ residual).
    total += static_cast<size_t>(n_tokens) * d * 4 * 3 + pairs * static_cast<size_t>(w.gate_exps.rows) * 5 * 2 + pairs * d * 4 * 2;
    return total;
}

} // namespace latent::kernels
