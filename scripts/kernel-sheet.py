#!/usr/bin/env python3
"""The decode kernel sheet for DeepSeek-V2-Lite (BENCHMARKS.md): bytes each kernel of one decode
step moves, its time at a bandwidth (default the H100 SXM's 3.35 TB/s), the sum = the step's
memory floor, and the launch count of the fused plan.

Shapes and the Q4_K_M type mix are those of /work/shared/design/deepseek2-gguf.md §2.4, §3.2 and
§7.5 (MLA-format file: attn_k_b Q5_0, attn_v_b Q4_K; ffn_down_exps Q8_0 in the "more bits"
layers, Q5_0 elsewhere; ffn_down_shexp Q6_K / Q4_K likewise; output Q6_K). Activations and
outputs are counted too (small), the latent KV cache at the given context length.

  scripts/kernel-sheet.py [--bandwidth 3.35e12] [--context 4096]
"""
import argparse

D, L, H = 2048, 27, 16
D_NOPE, D_ROPE, D_V, R_KV = 128, 64, 128, 512
F_DENSE, F_EXPERT, N_EXPERT, N_USED, N_SHARED = 10944, 1408, 64, 6, 2
VOCAB = 102400
BYTES_PER_ELEMENT = {"f32": 4.0, "f16": 2.0, "q4_K": 144 / 256, "q5_0": 22 / 32, "q6_K": 210 / 256, "q8_0": 34 / 32}
MORE_BITS = {i for i in range(L) if i < L // 8 or i >= 7 * L // 8 or (i - L // 8) % 3 == 2}


def matrix(rows, cols, t):
    return rows * cols * BYTES_PER_ELEMENT[t]


def q8(n):  # int8 activations + one f32 scale per 32
    return n + n // 32 * 4


def sheet(context):
    """[(kernel, what it fuses, launches per step, bytes per step)]"""
    moe_layers = [i for i in range(L) if i >= 1]
    kv_row = (R_KV + D_ROPE) * 2  # f16 latent + rope key per position
    rows = []

    def add(name, fuses, launches, nbytes):
        rows.append((name, fuses, launches, nbytes))

    add("embed_gather_q4k", "token row of token_embd (q4_K) -> f32 hidden", 1, matrix(1, D, "q4_K") + D * 4)
    add("rmsnorm_quant_q8", "attn_norm / ffn_norm RMSNorm + per-32 int8 quantisation (x2 per layer)", 2 * L,
        2 * L * (D * 4 + D * 4 + q8(D)))
    add("matvec_q4k_q_kva", "attn_q (3072 rows) + attn_kv_a_mqa (576 rows), one launch over both", L,
        L * (matrix(3072, D, "q4_K") + matrix(R_KV + D_ROPE, D, "q4_K") + q8(D) + (3072 + 576) * 4))
    add("kv_norm_rope_absorb_q5_0", "kv_a_norm + YaRN RoPE (q_pe, k_pe) + latent cache write + q_nope x attn_k_b (q5_0)",
        L, L * (matrix(H * R_KV, D_NOPE, "q5_0") + (3072 + 576) * 4 + kv_row + H * (R_KV + D_ROPE) * 4))
    add("mla_decode_splitk", "absorbed attention over the latent cache, flash-decoding splits", L,
        L * (context * kv_row + H * (R_KV + D_ROPE) * 4))
    add("mla_combine_vb_q4k", "log-sum-exp merge of the splits + attn_v_b (q4_K) expansion", L,
        L * (matrix(H * D_V, R_KV, "q4_K") + H * R_KV * 4 * 4 + H * D_V * 4))
    add("matvec_q4k_out_residual", "attn_output (q4_K) + residual add", L,
        L * (matrix(D, H * D_V, "q4_K") + q8(H * D_V) + 2 * D * 4))
    add("router_topk", "ffn_gate_inp (f32) + softmax + top-6 (+ groups/bias where the model has them)",
        len(moe_layers), len(moe_layers) * (matrix(N_EXPERT, D, "f32") + D * 4 + N_USED * 8))
    expert_gate_up = matrix(2 * F_EXPERT, D, "q4_K")
    shared_gate_up = matrix(2 * F_EXPERT * N_SHARED, D, "q4_K")
    add("moe_gate_up_silu_q4k", "gate+up+SiLU of the 6 routed and the shared experts, expert ids from device memory",
        len(moe_layers), len(moe_layers) * (N_USED * expert_gate_up + shared_gate_up + q8(D) +
                                            (N_USED + N_SHARED) * F_EXPERT * 4))
    down = 0.0
    for i in moe_layers:
        down += N_USED * matrix(D, F_EXPERT, "q8_0" if i in MORE_BITS else "q5_0")
        down += matrix(D, F_EXPERT * N_SHARED, "q6_K" if i in MORE_BITS else "q4_K")
        down += (N_USED + N_SHARED) * F_EXPERT * 4 + 2 * D * 4
    add("moe_down_weighted_residual", "down projections x routing weights + shared expert + residual", len(moe_layers),
        down)
    add("dense_ffn_layer0", "layer 0: gate+up+SiLU (q4_K), down (q8_0) + residual: 2 launches", 2,
        matrix(2 * F_DENSE, D, "q4_K") + matrix(D, F_DENSE, "q8_0") + F_DENSE * 4 * 2 + q8(D) + 2 * D * 4)
    add("output_norm_matvec_q6k", "final RMSNorm+quantise, output (q6_K) logits", 2,
        D * 8 + q8(D) + matrix(VOCAB, D, "q6_K") + VOCAB * 4)
    add("logits_argmax_topk", "greedy / top-k candidates for the sampler", 1, VOCAB * 4)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bandwidth", type=float, default=3.35e12, help="bytes per second")
    parser.add_argument("--context", type=int, nargs="*", default=[1, 4096, 16384])
    parser.add_argument("--launch-us", type=float, default=1.25, help="per kernel inside a CUDA graph")
    args = parser.parse_args()

    base = args.context[0]
    rows = sheet(base)
    print(f"| kernel | fuses | launches / step | MB / step | µs at {args.bandwidth / 1e12:.2f} TB/s |")
    print("|---|---|---|---|---|")
    total_bytes = 0.0
    total_launches = 0
    for name, fuses, launches, nbytes in rows:
        total_bytes += nbytes
        total_launches += launches
        print(f"| `{name}` | {fuses} | {launches} | {nbytes / 1e6:.2f} | {nbytes / args.bandwidth * 1e6:.1f} |")
    print(f"| **decode step, context {base}** | | **{total_launches}** | **{total_bytes / 1e6:.1f}** | "
          f"**{total_bytes / args.bandwidth * 1e6:.0f}** |")
    print()
    print(f"Launches: {total_launches} per step = {total_launches / L:.1f} per layer; at {args.launch_us} µs each "
          f"inside a CUDA graph: {total_launches * args.launch_us:.0f} µs.")
    print()
    print("| context | MB / step | memory floor µs | + launches µs | tokens/s bound |")
    print("|---|---|---|---|---|")
    for c in args.context:
        nbytes = sum(r[3] for r in sheet(c))
        floor = nbytes / args.bandwidth * 1e6
        with_launch = floor + total_launches * args.launch_us
        print(f"| {c} | {nbytes / 1e6:.1f} | {floor:.0f} | {with_launch:.0f} | {1e6 / floor:.0f} (floor) / "
              f"{1e6 / with_launch:.0f} |")


if __name__ == "__main__":
    main()
