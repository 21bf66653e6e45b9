// MLA decode attention, flash-decoding style (mla_attention.h):
//   mla_attention_tile_kernel (common/mla_tile.cuh)  grid (splits, head groups, token groups):
//       each block scores its share of the context for all heads of its token(s) and leaves
//       unnormalised latent sums with their softmax (max, sum);
//   mla_combine_kernel  grid (n_tokens * n_heads): merges the splits' partials by the
//       log-sum-exp rule (softmax.cuh) and normalises.
// At 16K keys with V2-Lite's 16 heads one token gets 128 blocks of 128 keys; the split count
// is fixed when the launch is planned (a captured graph keeps it) while the keys per split are
// derived on the device from the current key count.
#include "common/cuda_compat.cuh"

#include "common/mla_tile.cuh"
#include "common/softmax.cuh"
#include "mla_attention.h"

#include <algorithm>

namespace latent::kernels {
namespace {

constexpr uint32_t kMaxSplits = 128;
constexpr uint32_t kMinKeysPerSplit = 64;
// Blocks that keep an H100/H200 (132 SMs, 2-3 resident blocks of this kernel each) busy.
constexpr uint32_t kTargetBlocks = 264;
constexpr int kCombineThreads = 128;

__global__ void __launch_bounds__(kCombineThreads)
    mla_combine_kernel(const float* __restrict__ partial_acc, const float* __restrict__ partial_stats, int splits,
                       int rows, int latent_dim, float* __restrict__ out) {
    const int row = static_cast<int>(blockIdx.x);
    for (int d = static_cast<int>(threadIdx.x); d < latent_dim; d += kCombineThreads) {
        softmax::State total;
        float acc = 0.0f;
        for (int s = 0; s < splits; ++s) {
            const size_t slot = static_cast<size_t>(s) * rows + row;
            const softmax::State part{partial_stats[2 * slot], partial_stats[2 * slot + 1]};
            const softmax::Merge m = softmax::merge(total, part);
            acc = acc * m.factor_a + partial_acc[slot * latent_dim + d] * m.factor_b;
            total = m.merged;
        }
        out[static_cast<size_t>(row) * latent_dim + d] = acc * softmax::inverse_sum(total);
    }
}

} // namespace

MlaDecodePlan mla_decode_plan(const MlaAttentionArgs& args, uint32_t max_keys, uint32_t requested) {
    mla::check_args(args, "mla_decode_plan");
    const uint32_t keys = max_keys > 0 ? max_keys : args.n_keys;
    const mla::TileParams p = mla::tile_params(args);
    const dim3 groups = mla::tile_grid(p, 1);
    MlaDecodePlan plan;
    if (requested > 0) {
        plan.splits = requested;
    } else {
        const uint32_t by_keys = (keys + kMinKeysPerSplit - 1) / kMinKeysPerSplit;
        const uint32_t by_blocks = (kTargetBlocks + groups.y * groups.z - 1) / (groups.y * groups.z);
        plan.splits = std::max(1u, std::min({by_keys, by_blocks, kMaxSplits}));
    }
    if (plan.splits > 1) {
        const size_t rows = static_cast<size_t>(args.n_tokens) * args.n_heads;
        plan.workspace_bytes = plan.splits * rows * (args.latent_dim + 2) * sizeof(float);
    }
    return plan;
}

void mla_decode(const MlaAttentionArgs& args, const MlaDecodePlan& plan, void* workspace, const uint32_t* n_keys_device,
                gpu::Stream stream) {
    mla::check_args(args, "mla_decode");
    if (plan.splits == 0) throw std::invalid_argument("mla_decode: plan has no splits");
    if (plan.splits > 1 && (workspace == nullptr || reinterpret_cast<uintptr_t>(workspace) % 16 != 0)) {
        throw std::invalid_argument("mla_decode: a split plan needs a 16-byte aligned workspace");
    }
    mla::TileParams p = mla::tile_params(args);
    p.n_keys_device = n_keys_device;
    const int rows = static_cast<int>(args.n_tokens * args.n_heads);
    if (plan.splits > 1) {
        p.partial_acc = static_cast<float*>(workspace);
        p.partial_stats = p.partial_acc + static_cast<size_t>(plan.splits) * rows * args.latent_dim;
    }
    mla::launch_tiles(p, args.cache_type, mla::tile_grid(p, plan.splits), stream);
    if (plan.splits > 1) {
        LATENT_LAUNCH(mla_combine_kernel, dim3(static_cast<unsigned>(rows)), dim3(kCombineThreads), 0, stream, p.partial_acc,
                      p.partial_stats, static_cast<int>(plan.splits), rows, static_cast<int>(args.latent_dim), args.out);
        LATENT_CHECK_LAUNCH();
    }
}

size_t mla_attention_bytes(const MlaAttentionArgs& args, uint32_t splits) {
    const mla::TileParams p = mla::tile_params(args);
    const size_t head_groups = (args.n_heads + p.heads_per_block - 1) / p.heads_per_block;
    const size_t rows = static_cast<size_t>(args.n_tokens) * args.n_heads;
    const size_t cache = static_cast<size_t>(args.n_keys) * (args.latent_dim + args.rope_dim) * 2 * head_groups;
    const size_t queries = rows * (args.latent_dim + args.rope_dim) * sizeof(float);
    const size_t outputs = rows * args.latent_dim * sizeof(float);
    const size_t partials = splits > 1 ? 2 * splits * rows * (args.latent_dim + 2) * sizeof(float) : 0;
    return cache + queries + outputs + partials;
}

} // namespace latent::kernels
