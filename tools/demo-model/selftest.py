"""Checks of the demo-model tools that need no training (CTest: tools.demo_model; exit 77 = skip).

1. Q8_0 encoding: gguf_writer.quantize_q8_0 of the conformance kit's `src` rows reproduces the
   reference encoding `q.q8_0` byte for byte and its decoding `deq.q8_0` exactly.
2. The zero-row softmax: training's compact logits plus the one tail column give the same
   cross-entropy as the logits over the whole vocabulary (zero for ids without a row).
3. The naive attention of deepseek2.py equals the absorbed (latent) form of §4.7 computed from
   the exported attn_k_b / attn_v_b layout, on random weights.
"""
import os
import struct
import sys

try:
    import numpy as np

    import gguf_writer as gw
except ImportError:
    print("SKIP: numpy is not installed (apt-get install python3-numpy python3-torch)")
    sys.exit(77)


def read_tensors(path):
    data = open(path, "rb").read()
    _, n_tensors, _ = struct.unpack_from("<IQQ", data, 4)
    records = gw.read_kv_records(path)
    pos = 24 + sum(len(r) for _, r in records)
    alignment = 32
    for key, record in records:
        if key == "general.alignment":
            alignment = struct.unpack_from("<I", record, len(record) - 4)[0]
    infos = {}
    for _ in range(n_tensors):
        (n,) = struct.unpack_from("<Q", data, pos)
        name = data[pos + 8: pos + 8 + n].decode()
        pos += 8 + n
        (n_dims,) = struct.unpack_from("<I", data, pos)
        ne = struct.unpack_from("<%dQ" % n_dims, data, pos + 4)
        pos += 4 + 8 * n_dims
        tensor_type, offset = struct.unpack_from("<IQ", data, pos)
        pos += 12
        infos[name] = (ne, tensor_type, offset)
    base = (pos + alignment - 1) // alignment * alignment
    return data, base, infos


def check_q8_0():
    kit = os.environ.get("LATENT_CONFORMANCE_DIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../shared/conformance")
    path = os.path.join(kit, "quant", "quant-vectors.gguf")
    if not os.path.exists(path):
        print("q8_0: SKIP (conformance kit not found)")
        return
    data, base, infos = read_tensors(path)
    ne, _, off = infos["src"]
    src = np.frombuffer(data, dtype="<f4", count=ne[0] * ne[1], offset=base + off).reshape(ne[1], ne[0])
    ne, _, off = infos["q.q8_0"]
    want = data[base + off: base + off + ne[0] * ne[1] // 32 * 34]
    ne, _, off = infos["deq.q8_0"]
    want_deq = np.frombuffer(data, dtype="<f4", count=ne[0] * ne[1], offset=base + off).reshape(ne[1], ne[0])
    got, got_deq = gw.quantize_q8_0(src)
    assert got == want, "q8_0 encoding differs from the reference"
    assert np.array_equal(got_deq, want_deq), "q8_0 decoding differs from the reference"
    print("q8_0: %d blocks identical to the reference encoding" % (len(got) // 34))


def check_zero_rows_and_absorbed_attention():
    import torch
    import torch.nn.functional as F
    from deepseek2 import Config, DeepSeek2, rms_norm, rope_interleaved

    torch.manual_seed(0)
    c = Config(n_vocab=300, n_embd=32, n_layer=2, n_head=2, q_lora_rank=32, kv_lora_rank=32, qk_nope_dim=8,
               qk_rope_dim=8, v_head_dim=8, n_ff=64, n_ff_expert=32, n_expert=4, n_expert_used=2,
               n_expert_group=2, n_expert_group_used=1)
    ids = sorted(torch.randperm(c.n_vocab)[:50].tolist())
    model = DeepSeek2(c, ids).double()
    tokens = torch.randint(0, len(ids), (2, 7))
    targets = torch.randint(0, len(ids), (2, 7))
    compact = model.full_log_softmax_tail(model(tokens))
    full = model.full_logits(tokens)
    real_targets = model.vocab_ids[targets]
    a = F.cross_entropy(compact.reshape(-1, compact.shape[-1]), targets.reshape(-1))
    b = F.cross_entropy(full.reshape(-1, c.n_vocab), real_targets.reshape(-1))
    assert abs(a.item() - b.item()) < 1e-10, (a.item(), b.item())
    print("zero rows: compact + tail cross-entropy %.12f = full vocabulary %.12f" % (a.item(), b.item()))

    attn = model.blocks[0].attn
    x = torch.randn(1, 6, c.n_embd, dtype=torch.float64)
    positions = torch.arange(6)
    mask = torch.full((6, 6), float("-inf"), dtype=torch.float64).triu(1)
    naive = attn(x, positions, mask)
    # Absorbed form from the exported tensor layout (export.py): k_b (H, r_kv, d_n), v_b (H, d_v, r_kv).
    H, dn, dr, dv, r = c.n_head, c.qk_nope_dim, c.qk_rope_dim, c.v_head_dim, c.kv_lora_rank
    kv_b = attn.kv_b.weight.detach().reshape(H, dn + dv, r)
    k_b, v_b = kv_b[:, :dn, :].transpose(1, 2), kv_b[:, dn:, :]
    q = attn.q_b(rms_norm(attn.q_a(x), attn.q_a_norm, c.rms_eps)).view(1, 6, H, dn + dr)[0]
    kv = attn.kv_a(x)[0]
    latent = rms_norm(kv[:, :r], attn.kv_a_norm, c.rms_eps)
    k_pe = rope_interleaved(kv[:, r:], positions, c.rope_base)
    out = []
    for h in range(H):
        q_abs = q[:, h, :dn] @ k_b[h].t()                         # (T, r_kv)
        q_pe = rope_interleaved(q[:, h, dn:], positions, c.rope_base)
        scores = (q_abs @ latent.t() + q_pe @ k_pe.t()) / (dn + dr) ** 0.5 + mask
        out.append((torch.softmax(scores, -1) @ latent) @ v_b[h].t())   # (T, d_v)
    absorbed = attn.o(torch.cat(out, dim=-1))[None]
    err = (naive - absorbed).abs().max().item()
    assert err < 1e-10, err
    print("attention: naive and absorbed forms agree (max |diff| %.1e)" % err)


def main():
    check_q8_0()
    try:
        import torch  # noqa: F401
    except ImportError:
        print("SKIP: python3-torch is not installed (apt-get install python3-torch)")
        sys.exit(77)
    check_zero_rows_and_absorbed_attention()


if __name__ == "__main__":
    main()
