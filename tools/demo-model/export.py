"""Exports a trained demo model (train.py checkpoint) to deepseek2 GGUF files and writes the
PyTorch model's logits for fixed prompts, the oracle of tests/engine/test_demo_model.cpp.

  /usr/bin/python3 tools/demo-model/export.py --checkpoint demo.pt --vocab vocab.gguf \
      --latent build/bin/latent --f32 demo-f32.gguf --q8 demo-q8_0.gguf --logits demo.logits.json

Files: the real deepseek2 keys of the newer (MLA-format) converter (§2.1, §2.3: head_count_kv 1,
key_length = kv_lora_rank + rope dims, key_length_mla / value_length_mla), the tokenizer keys and
chat template copied from the vocabulary GGUF, tensors named and laid out as in §3 with kv_b split
into attn_k_b (transposed) and attn_v_b. Norms, router and selection bias are F32 in both files;
the other matrices are F32 in one and Q8_0 in the other. Token ids without a trained row get zero
embedding and output rows.

Logits: for each prompt and each file, computed in float64 by deepseek2.py from the values as the
file stores them (the Q8_0 file's weights decoded exactly): token ids, the log-sum-exp and the top
8 logits at every position, and 24 tokens of greedy continuation.
"""
import argparse
import json
import subprocess

import numpy as np
import torch

import gguf_writer as gw
from deepseek2 import Config, DeepSeek2

PROMPTS = [
    ("violin", 'What does "violin" mean?'),
    ("happy", 'What does "happy" mean?'),
    ("held_out", None),  # the first held-out word of the corpus, filled in by main()
    ("hello", "Hello! Who are you?"),
]
N_TOP, N_GREEDY = 8, 24


def model_tensors(model, c):
    """[(gguf name, PyTorch-shaped float32 array, is_matrix)] over the real vocabulary."""
    state = {k: v.detach().double().numpy() for k, v in model.state_dict().items()}
    ids = state["vocab_ids"].astype(np.int64)

    def full_rows(compact):
        out = np.zeros((c.n_vocab, compact.shape[1]), dtype=np.float64)
        out[ids] = compact
        return out

    out = [("token_embd.weight", full_rows(state["embed"]), True)]
    H, dn, dv, r = c.n_head, c.qk_nope_dim, c.v_head_dim, c.kv_lora_rank
    for i in range(c.n_layer):
        p, b = "blocks.%d." % i, "blk.%d." % i
        kv_b = state[p + "attn.kv_b.weight"].reshape(H, dn + dv, r)
        out += [
            (b + "attn_norm.weight", state[p + "attn_norm"], False),
            (b + "attn_q_a.weight", state[p + "attn.q_a.weight"], True),
            (b + "attn_q_a_norm.weight", state[p + "attn.q_a_norm"], False),
            (b + "attn_q_b.weight", state[p + "attn.q_b.weight"], True),
            (b + "attn_kv_a_mqa.weight", state[p + "attn.kv_a.weight"], True),
            (b + "attn_kv_a_norm.weight", state[p + "attn.kv_a_norm"], False),
            (b + "attn_k_b.weight", np.ascontiguousarray(kv_b[:, :dn, :].transpose(0, 2, 1)), True),  # (H, r_kv, d_n)
            (b + "attn_v_b.weight", np.ascontiguousarray(kv_b[:, dn:, :]), True),                     # (H, d_v, r_kv)
            (b + "attn_output.weight", state[p + "attn.o.weight"], True),
            (b + "ffn_norm.weight", state[p + "ffn_norm"], False),
        ]
        if i < c.n_leading_dense:
            out += [(b + "ffn_gate.weight", state[p + "ffn.gate.weight"], True),
                    (b + "ffn_up.weight", state[p + "ffn.up.weight"], True),
                    (b + "ffn_down.weight", state[p + "ffn.down.weight"], True)]
        else:
            out += [(b + "ffn_gate_inp.weight", state[p + "ffn.router"], False),
                    (b + "exp_probs_b.bias", state[p + "ffn.selection_bias"], False),
                    (b + "ffn_gate_exps.weight", state[p + "ffn.gate"], True),
                    (b + "ffn_up_exps.weight", state[p + "ffn.up"], True),
                    (b + "ffn_down_exps.weight", state[p + "ffn.down"], True),
                    (b + "ffn_gate_shexp.weight", state[p + "ffn.shared.gate.weight"], True),
                    (b + "ffn_up_shexp.weight", state[p + "ffn.shared.up.weight"], True),
                    (b + "ffn_down_shexp.weight", state[p + "ffn.shared.down.weight"], True)]
    out += [("output_norm.weight", state["output_norm"], False),
            ("output.weight", full_rows(state["output"]), True)]
    return out


def full_model_from(stored, c):
    """A float64 DeepSeek2 over the whole vocabulary holding exactly the stored tensor values."""
    model = DeepSeek2(c, list(range(c.n_vocab))).double()
    H, dn, dv, r = c.n_head, c.qk_nope_dim, c.v_head_dim, c.kv_lora_rank
    state = {"embed": stored["token_embd.weight"], "output": stored["output.weight"],
             "output_norm": stored["output_norm.weight"], "vocab_ids": np.arange(c.n_vocab)}
    for i in range(c.n_layer):
        p, b = "blocks.%d." % i, "blk.%d." % i
        kv_b = np.concatenate((stored[b + "attn_k_b.weight"].transpose(0, 2, 1), stored[b + "attn_v_b.weight"]), axis=1)
        state.update({
            p + "attn_norm": stored[b + "attn_norm.weight"],
            p + "attn.q_a.weight": stored[b + "attn_q_a.weight"],
            p + "attn.q_a_norm": stored[b + "attn_q_a_norm.weight"],
            p + "attn.q_b.weight": stored[b + "attn_q_b.weight"],
            p + "attn.kv_a.weight": stored[b + "attn_kv_a_mqa.weight"],
            p + "attn.kv_a_norm": stored[b + "attn_kv_a_norm.weight"],
            p + "attn.kv_b.weight": kv_b.reshape(H * (dn + dv), r),
            p + "attn.o.weight": stored[b + "attn_output.weight"],
            p + "ffn_norm": stored[b + "ffn_norm.weight"],
        })
        if i < c.n_leading_dense:
            for name in ("gate", "up", "down"):
                state[p + "ffn.%s.weight" % name] = stored[b + "ffn_%s.weight" % name]
        else:
            state[p + "ffn.router"] = stored[b + "ffn_gate_inp.weight"]
            state[p + "ffn.selection_bias"] = stored[b + "exp_probs_b.bias"]
            for name in ("gate", "up", "down"):
                state[p + "ffn.%s" % name] = stored[b + "ffn_%s_exps.weight" % name]
                state[p + "ffn.shared.%s.weight" % name] = stored[b + "ffn_%s_shexp.weight" % name]
    model.load_state_dict({k: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in state.items()})
    model.eval()
    return model


def write_gguf(path, tensors, c, vocab_records, matrix_type, name):
    w = gw.Writer()
    w.string("general.architecture", "deepseek2")
    w.string("general.name", name)
    w.uint32("general.file_type", 0 if matrix_type == gw.TYPE_F32 else 7)
    if matrix_type == gw.TYPE_Q8_0:
        w.uint32("general.quantization_version", 2)
    k = "deepseek2."
    for key, value in (("block_count", c.n_layer), ("context_length", c.n_ctx), ("embedding_length", c.n_embd),
                       ("feed_forward_length", c.n_ff), ("attention.head_count", c.n_head),
                       ("attention.head_count_kv", 1), ("vocab_size", c.n_vocab),
                       ("leading_dense_block_count", c.n_leading_dense), ("attention.q_lora_rank", c.q_lora_rank),
                       ("attention.kv_lora_rank", c.kv_lora_rank),
                       ("attention.key_length", c.kv_lora_rank + c.qk_rope_dim),
                       ("attention.value_length", c.kv_lora_rank), ("attention.key_length_mla", c.qk_head_dim),
                       ("attention.value_length_mla", c.v_head_dim), ("expert_feed_forward_length", c.n_ff_expert),
                       ("expert_count", c.n_expert), ("expert_used_count", c.n_expert_used),
                       ("expert_shared_count", c.n_expert_shared), ("expert_gating_func", 2),
                       ("expert_group_count", c.n_expert_group), ("expert_group_used_count", c.n_expert_group_used),
                       ("rope.dimension_count", c.qk_rope_dim)):
        w.uint32(k + key, value)
    w.float32(k + "attention.layer_norm_rms_epsilon", c.rms_eps)
    w.float32(k + "rope.freq_base", c.rope_base)
    w.float32(k + "expert_weights_scale", c.routed_scale)
    w.boolean(k + "expert_weights_norm", True)
    for key, record in vocab_records:
        if not key.startswith("general."):
            w.raw(record)
    stored = {}
    for tensor_name, array, is_matrix in tensors:
        stored[tensor_name] = w.tensor(tensor_name, array, matrix_type if is_matrix else gw.TYPE_F32)
    w.write(path)
    return stored


def tokenize(latent, vocab, text):
    out = subprocess.run([latent, "tokenize", "-m", vocab, "--add-bos", "--parse-special", text],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def expected_logits(model, tokens):
    with torch.no_grad():
        logits = model.full_logits(torch.tensor([tokens]))[0]
        positions = []
        for row in logits:
            top = torch.topk(row, N_TOP)
            positions.append({"lse": torch.logsumexp(row, 0).item(),
                              "top": [[int(i), float(v)] for v, i in zip(top.values, top.indices)]})
        greedy, seq = [], list(tokens)
        last = logits[-1]
        for _ in range(N_GREEDY):
            nxt = int(torch.argmax(last))
            greedy.append(nxt)
            seq.append(nxt)
            last = model.full_logits(torch.tensor([seq]))[0, -1]
    return positions, greedy


def main():
    parser = argparse.ArgumentParser(description="Export the demo model to GGUF and write its reference logits")
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--vocab", required=True)
    parser.add_argument("--latent", required=True)
    parser.add_argument("--corpus", required=True, help="corpus JSON lines (for the held-out prompt)")
    parser.add_argument("--f32", required=True)
    parser.add_argument("--q8", required=True)
    parser.add_argument("--logits", required=True)
    parser.add_argument("--name", default="Latent Chat demo model (tiny deepseek2, WordNet)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    checkpoint = torch.load(args.checkpoint)
    c = Config(**checkpoint["config"])
    model = DeepSeek2(c, checkpoint["vocab_ids"])
    model.load_state_dict(checkpoint["state"])
    tensors = model_tensors(model, c)
    vocab_records = gw.read_kv_records(args.vocab)

    with open(args.corpus, encoding="utf-8") as f:
        held_word = next(e["word"] for e in map(json.loads, f) if e["held_out"])
    prompts = [(n, t if t is not None else 'What does "%s" mean?' % held_word) for n, t in PROMPTS]

    result = {"config": c.to_dict(), "files": {}}
    for label, path, matrix_type in (("f32", args.f32, gw.TYPE_F32), ("q8_0", args.q8, gw.TYPE_Q8_0)):
        stored = write_gguf(path, tensors, c, vocab_records, matrix_type, args.name)
        oracle = full_model_from(stored, c)
        entries = []
        for name, question in prompts:
            text = "<｜User｜>" + question + "<｜Assistant｜>"
            tokens = tokenize(args.latent, args.vocab, text)
            positions, greedy = expected_logits(oracle, tokens)
            entries.append({"name": name, "text": text, "tokens": tokens, "positions": positions, "greedy": greedy})
            print("%s %s: top-1 after prompt %d, greedy %s" % (label, name, positions[-1]["top"][0][0], greedy[:8]), flush=True)
        result["files"][label] = entries
        print("wrote %s" % path, flush=True)
    with open(args.logits, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, indent=1)
    print("wrote %s" % args.logits)


if __name__ == "__main__":
    main()
