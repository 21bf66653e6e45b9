"""A plain PyTorch implementation of the deepseek2 architecture (DeepSeek-V3 flavour), written from
/work/shared/design/deepseek2-gguf.md §4 and nothing else, for the demo model's training and as an
independent oracle for the engine.

What it covers: MLA with compressed queries (q_a -> q_a_norm -> q_b), the nope/rope split of every
head, the latent kv projection [c_kv | k_pe] with the kv_a norm on c_kv only, RoPE on interleaved
pairs (no YaRN), kq_scale = 1/sqrt(d_qk); the naive (decompressed) attention form; a leading dense
SwiGLU layer; V3-style MoE: sigmoid scores, a selection bias used only to pick experts,
group-limited routing (group score = sum of the two best biased scores), top-k, weights = the
unbiased scores renormalised and multiplied by the routed scale, one shared expert.

Vocabulary: the model holds embedding and output rows only for a compact list of token ids (the
tokens that occur in the corpus, `vocab_ids`); every other id of the real vocabulary has a zero
embedding and a zero output row. Its logit is therefore exactly 0, so the full-vocabulary softmax
is the compact softmax plus (n_vocab - len(vocab_ids)) terms of exp(0) -- `full_log_softmax_tail`
adds them so training optimises the real full-vocabulary likelihood of the exported file.
"""
import math
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Config:
    n_vocab: int = 129280          # ids of the real vocabulary (DeepSeek-V3)
    n_embd: int = 96               # D
    n_layer: int = 4               # L
    n_leading_dense: int = 1       # L_d
    n_head: int = 4                # H
    q_lora_rank: int = 64          # r_q
    kv_lora_rank: int = 64         # r_kv
    qk_nope_dim: int = 32          # d_n
    qk_rope_dim: int = 16          # d_r
    v_head_dim: int = 32           # d_v
    n_ff: int = 256                # F, dense layers
    n_ff_expert: int = 64          # F_e
    n_expert: int = 8              # E
    n_expert_used: int = 2         # K
    n_expert_shared: int = 1       # S_sh
    n_expert_group: int = 4        # G
    n_expert_group_used: int = 2   # groups kept
    routed_scale: float = 2.0      # expert_weights_scale
    rms_eps: float = 1e-6
    rope_base: float = 10000.0
    n_ctx: int = 512               # context_length

    @property
    def qk_head_dim(self):
        return self.qk_nope_dim + self.qk_rope_dim

    def to_dict(self):
        return asdict(self)


def rms_norm(x, gain, eps):
    # Sum of squares in float64 as ggml's CPU path does; the result goes back to float32.
    x64 = x.double()
    scale = torch.rsqrt(x64.pow(2).mean(-1, keepdim=True) + eps)
    return (x64 * scale).to(x.dtype) * gain


def rope_interleaved(x, positions, base):
    """RoPE on consecutive pairs (2i, 2i+1) of the last dimension (ggml's NORM mode, §4.4).
    x: (..., T, d_r); positions: (T,)."""
    d = x.shape[-1]
    inv = base ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)            # (d/2,)
    angle = positions.double()[:, None] * inv[None, :]                          # (T, d/2)
    cos, sin = torch.cos(angle).to(x.dtype), torch.sin(angle).to(x.dtype)
    even, odd = x[..., 0::2], x[..., 1::2]
    out = torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1)
    return out.flatten(-2)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        D, H = c.n_embd, c.n_head
        self.q_a = nn.Linear(D, c.q_lora_rank, bias=False)                      # (r_q, D)
        self.q_a_norm = nn.Parameter(torch.ones(c.q_lora_rank))                 # (r_q)
        self.q_b = nn.Linear(c.q_lora_rank, H * c.qk_head_dim, bias=False)      # (H*d_qk, r_q)
        self.kv_a = nn.Linear(D, c.kv_lora_rank + c.qk_rope_dim, bias=False)    # (r_kv+d_r, D)
        self.kv_a_norm = nn.Parameter(torch.ones(c.kv_lora_rank))               # (r_kv)
        self.kv_b = nn.Linear(c.kv_lora_rank, H * (c.qk_nope_dim + c.v_head_dim), bias=False)  # (H*(d_n+d_v), r_kv)
        self.o = nn.Linear(H * c.v_head_dim, D, bias=False)                     # (D, H*d_v)

    def forward(self, x, positions, mask):
        c = self.c
        B, T, _ = x.shape
        H, dn, dr, dv = c.n_head, c.qk_nope_dim, c.qk_rope_dim, c.v_head_dim
        q = self.q_b(rms_norm(self.q_a(x), self.q_a_norm, c.rms_eps)).view(B, T, H, dn + dr)
        q_nope, q_pe = q[..., :dn], q[..., dn:]
        kv = self.kv_a(x)
        latent = rms_norm(kv[..., : c.kv_lora_rank], self.kv_a_norm, c.rms_eps)  # (B, T, r_kv)
        k_pe = kv[..., c.kv_lora_rank:]                                            # (B, T, d_r), not normalised
        q_pe = rope_interleaved(q_pe.transpose(1, 2), positions, c.rope_base)      # (B, H, T, d_r)
        k_pe = rope_interleaved(k_pe, positions, c.rope_base)                      # (B, T, d_r)
        kv_full = self.kv_b(latent).view(B, T, H, dn + dv)
        k_nope, v = kv_full[..., :dn].transpose(1, 2), kv_full[..., dn:].transpose(1, 2)  # (B, H, T, .)
        scores = q_nope.transpose(1, 2) @ k_nope.transpose(-1, -2) + q_pe @ k_pe[:, None].transpose(-1, -2)
        scores = scores * (1.0 / math.sqrt(dn + dr)) + mask
        out = torch.softmax(scores, dim=-1) @ v                                    # (B, H, T, d_v)
        return self.o(out.transpose(1, 2).reshape(B, T, H * dv))


class DenseFfn(nn.Module):
    def __init__(self, D, F_):
        super().__init__()
        self.gate = nn.Linear(D, F_, bias=False)
        self.up = nn.Linear(D, F_, bias=False)
        self.down = nn.Linear(F_, D, bias=False)

    def forward(self, x):
        return self.down(F.silu(self.gate(x)) * self.up(x))


class Moe(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        D, E, Fe = c.n_embd, c.n_expert, c.n_ff_expert
        self.router = nn.Parameter(torch.randn(E, D) * 0.02)                     # (E, D) ffn_gate_inp
        self.register_buffer("selection_bias", torch.zeros(E))                   # (E) exp_probs_b, not trained by SGD
        self.gate = nn.Parameter(torch.randn(E, Fe, D) / math.sqrt(D))          # (E, F_e, D)
        self.up = nn.Parameter(torch.randn(E, Fe, D) / math.sqrt(D))            # (E, F_e, D)
        self.down = nn.Parameter(torch.randn(E, D, Fe) / math.sqrt(Fe) * 0.5)   # (E, D, F_e)
        self.shared = DenseFfn(D, Fe * c.n_expert_shared)
        self.last_load = None

    def route(self, x):
        """The K chosen experts of each token and their weights: (N, K) ids, (N, K) weights."""
        c = self.c
        scores = torch.sigmoid(x @ self.router.t())                              # (N, E)
        biased = scores + self.selection_bias
        if c.n_expert_group > 1:
            N = biased.shape[0]
            grouped = biased.detach().view(N, c.n_expert_group, -1)
            group_score = grouped.topk(min(2, grouped.shape[-1]), dim=-1).values.sum(-1)   # (N, G)
            keep = group_score.topk(c.n_expert_group_used, dim=-1).indices
            group_mask = torch.zeros_like(group_score, dtype=torch.bool).scatter_(1, keep, True)
            expert_mask = group_mask[:, :, None].expand_as(grouped).reshape(N, -1)
            biased = biased.masked_fill(~expert_mask, float("-inf"))
        chosen = biased.detach().topk(c.n_expert_used, dim=-1).indices           # (N, K)
        weights = scores.gather(1, chosen)
        weights = weights / weights.sum(-1, keepdim=True).clamp_min(6.103515625e-5)
        return chosen, weights * c.routed_scale

    def forward(self, x):
        c = self.c
        shape = x.shape
        flat = x.reshape(-1, shape[-1])
        chosen, weights = self.route(flat)
        dense_w = torch.zeros(flat.shape[0], c.n_expert, dtype=x.dtype).scatter(1, chosen, weights)  # (N, E)
        self.last_load = torch.bincount(chosen.flatten(), minlength=c.n_expert).float()
        # Every expert on every token (E is small); the unchosen ones are weighted by zero.
        hidden = F.silu(torch.einsum("nd,efd->nef", flat, self.gate)) * torch.einsum("nd,efd->nef", flat, self.up)
        expert_out = torch.einsum("nef,edf->ned", hidden, self.down)             # (N, E, D)
        routed = (expert_out * dense_w[:, :, None]).sum(1)
        return (routed + self.shared(flat)).view(shape)


class Block(nn.Module):
    def __init__(self, c, dense):
        super().__init__()
        self.c = c
        self.attn_norm = nn.Parameter(torch.ones(c.n_embd))
        self.attn = Attention(c)
        self.ffn_norm = nn.Parameter(torch.ones(c.n_embd))
        self.ffn = DenseFfn(c.n_embd, c.n_ff) if dense else Moe(c)

    def forward(self, h, positions, mask):
        u = h + self.attn(rms_norm(h, self.attn_norm, self.c.rms_eps), positions, mask)
        return u + self.ffn(rms_norm(u, self.ffn_norm, self.c.rms_eps))


class DeepSeek2(nn.Module):
    def __init__(self, c, vocab_ids):
        super().__init__()
        self.c = c
        self.register_buffer("vocab_ids", torch.tensor(vocab_ids, dtype=torch.long))  # compact row -> real id
        n = len(vocab_ids)
        self.embed = nn.Parameter(torch.randn(n, c.n_embd) * 0.5)              # (n_compact, D)
        self.blocks = nn.ModuleList([Block(c, i < c.n_leading_dense) for i in range(c.n_layer)])
        self.output_norm = nn.Parameter(torch.ones(c.n_embd))
        self.output = nn.Parameter(torch.randn(n, c.n_embd) * 0.02)            # (n_compact, D)
        # log of the number of real ids whose output row is zero (their logit is exactly 0)
        self.zero_rows_log = math.log(c.n_vocab - n) if c.n_vocab > n else None

    def forward(self, compact_tokens, positions=None, rows=None):
        """Compact logits (B, T, n_compact) for compact token ids (B, T); with `rows` (a bool mask
        (B, T)), only the logits of those positions, (n_rows, n_compact)."""
        B, T = compact_tokens.shape
        if positions is None:
            positions = torch.arange(T)
        mask = torch.full((T, T), float("-inf")).triu(1)
        h = self.embed[compact_tokens]
        for block in self.blocks:
            h = block(h, positions, mask)
        if rows is not None:
            h = h[rows]
        return rms_norm(h, self.output_norm, self.c.rms_eps) @ self.output.t()

    def full_log_softmax_tail(self, compact_logits):
        """Compact logits with one extra column standing for all zero-row ids together."""
        if self.zero_rows_log is None:
            return compact_logits
        tail = torch.full(compact_logits.shape[:-1] + (1,), self.zero_rows_log, dtype=compact_logits.dtype)
        return torch.cat((compact_logits, tail), dim=-1)

    def full_logits(self, compact_tokens):
        """Logits over the real vocabulary (B, T, n_vocab): zero for ids without a row."""
        compact = self.forward(compact_tokens)
        full = torch.zeros(compact.shape[:-1] + (self.c.n_vocab,), dtype=compact.dtype)
        full[..., self.vocab_ids] = compact
        return full
