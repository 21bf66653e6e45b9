// MLA prefill attention (mla_attention.h): the same tile kernel as decode (common/mla_tile.cuh)
// with one split and a block per group of query tokens, so a chunk of n_tokens new tokens is
// one launch: grid (1, head groups, token groups), the causal mask applied per (token, key).
//
// Why the absorbed form over the latent cache and not decompressed keys/values + GEMMs.
// Per (query token, key, head) the absorbed form costs 2·(576 + 512) = 2176 FLOPs (score over
// the 576-wide latent key, weighted sum of the 512-wide latent); the decompressed (MHA) form
// costs 2·(192 + 128) = 640, plus decompressing every key once per chunk: attn_kv_b turns the
// 512-wide latent into H·(128 + 128) values, 2·512·256 = 262K FLOPs per key and head. For a
// chunk of T query tokens over N keys with H heads:
//     absorbed      2176·H·T·N
//     decompressed   640·H·T·N + 262K·H·N      (+ K/V scratch of N·H·320·2 bytes)
// The decompressed form wins on FLOPs once T > 262K / (2176 - 640) ≈ 171 tokens per chunk (H
// cancels: the same for V2-Lite's 16 heads and V3's 128), reaching 3.4x fewer FLOPs for very
// long chunks; below that (follow-up turns, the last chunk of a prompt, speculative batches)
// the absorbed form wins. On bytes the absorbed form always wins: it reads the 1,152-byte
// latent row once per 16 (token, head) rows, where the decompressed form writes and re-reads
// H·640 bytes per key (16 heads: 10 KiB, 9x the latent; at 16K context 168 MB of scratch per
// layer for V2-Lite, 1.3 GB for V3).
// Chosen here: the absorbed tiles, because (1) the portable path that the emulator runs and
// every GPU executes is FP32 CUDA-core math either way, where the tile kernel keeps the whole
// score/softmax/value pipeline on chip in one launch, while the decompressed form needs the
// kv_b GEMM, a RoPE/concat pass and an MHA kernel (3-4 launches and the scratch above);
// (2) prefill chunks in a chat app are mostly follow-up turns well under ~171 tokens, where it
// is also the FLOP-cheaper form; (3) decode and prefill share one verified kernel. When a
// tensor-core GEMM path lands behind the gemm() seam, long first prompts (T >> 171) are the
// case to route to the decompressed form; the crossover above is where to switch.
#include "common/cuda_compat.cuh"

#include "common/mla_tile.cuh"
#include "mla_attention.h"

namespace latent::kernels {

void mla_prefill(const MlaAttentionArgs& args, gpu::Stream stream) {
    mla::check_args(args, "mla_prefill");
    const mla::TileParams p = mla::tile_params(args);
    mla::launch_tiles(p, args.cache_type, mla::tile_grid(p, 1), stream);
}

} // namespace latent::kernels
