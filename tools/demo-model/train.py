"""Trains the demo model on the WordNet chat corpus (corpus.py) on the CPU, one thread by default.

  /usr/bin/python3 tools/demo-model/train.py --corpus corpus.jsonl --steps 6000 --out demo.pt \
      --log loss.tsv

Fixed seeds: the same corpus, steps and thread count give the same weights. The loss is the
full-vocabulary cross-entropy (see deepseek2.py) of the assistant's answer and its end-of-sentence
token; the question is context only. Every --log-every steps the log gets one line: step, tokens
seen, mean training loss since the last line, seconds; every --eval-every steps and at the end, the
loss on the held-out entries.

The selection bias of every MoE layer is not trained by gradients: after each step it moves by
--bias-rate towards balanced expert load (DeepSeek-V3's auxiliary-loss-free balancing).
"""
import argparse
import json
import math
import random
import time

import torch
import torch.nn.functional as F

from deepseek2 import Config, DeepSeek2, Moe

SPECIAL_IDS = [0, 1, 128803, 128804]  # BOS, EOS, <｜User｜>, <｜Assistant｜>


def load_corpus(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def make_batch(entries, to_compact, max_len):
    """(inputs, targets, weights) for a list of entries; padding and questions weigh zero."""
    n = min(max(len(e["ids"]) for e in entries), max_len + 1)
    inputs = torch.zeros(len(entries), n - 1, dtype=torch.long)
    targets = torch.zeros(len(entries), n - 1, dtype=torch.long)
    weights = torch.zeros(len(entries), n - 1)
    for b, e in enumerate(entries):
        ids = [to_compact[i] for i in e["ids"][:n]]
        inputs[b, : len(ids) - 1] = torch.tensor(ids[:-1])
        targets[b, : len(ids) - 1] = torch.tensor(ids[1:])
        # predict answer tokens: targets at index t are ids[t+1]; answers start at ids[n_prompt]
        weights[b, e["n_prompt"] - 1: len(ids) - 1] = 1.0
    return inputs, targets, weights


def batch_loss(model, batch):
    inputs, targets, weights = batch
    rows = weights > 0  # the output layer runs only where a token is predicted
    logits = model.full_log_softmax_tail(model(inputs, rows=rows))
    return F.cross_entropy(logits, targets[rows]), rows.sum().item()


def evaluate(model, entries, to_compact, max_len, batch_size=64):
    model.eval()
    total, count = 0.0, 0.0
    with torch.no_grad():
        for i in range(0, len(entries), batch_size):
            loss, n = batch_loss(model, make_batch(entries[i: i + batch_size], to_compact, max_len))
            total += loss.item() * n
            count += n
    model.train()
    return total / max(count, 1.0)


def main():
    parser = argparse.ArgumentParser(description="Train the demo model")
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--out", required=True, help="checkpoint (.pt)")
    parser.add_argument("--log", required=True, help="loss curve (TSV)")
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--batch", type=int, default=32, help="chats per step")
    parser.add_argument("--max-len", type=int, default=96, help="tokens per chat at most")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--bias-rate", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--eval-every", type=int, default=1000)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)

    corpus = load_corpus(args.corpus)
    train = [e for e in corpus if not e["held_out"]]
    held_out = [e for e in corpus if e["held_out"]]
    vocab_ids = sorted(set(SPECIAL_IDS).union(i for e in corpus for i in e["ids"]))
    to_compact = {t: i for i, t in enumerate(vocab_ids)}
    config = Config()
    model = DeepSeek2(config, vocab_ids)
    n_params = sum(p.numel() for p in model.parameters())
    print("%d train / %d held-out entries, %d distinct tokens, %d parameters (compact)" %
          (len(train), len(held_out), len(vocab_ids), n_params), flush=True)

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))
    moe_layers = [m for m in model.modules() if isinstance(m, Moe)]

    start = time.time()
    tokens_seen, window_loss, window_steps = 0, 0.0, 0
    with open(args.log, "w") as log:
        log.write("# %s\n" % json.dumps(vars(args)))
        log.write("step\ttokens\ttrain_loss\theld_out_loss\tseconds\n")
        order = []
        for step in range(1, args.steps + 1):
            if len(order) < args.batch:
                order = list(range(len(train)))
                rng.shuffle(order)
            picked = [train[order.pop()] for _ in range(args.batch)]
            lr = args.lr * min(1.0, step / args.warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / args.steps)))
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss, n = batch_loss(model, make_batch(picked, to_compact, args.max_len))
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            with torch.no_grad():
                for moe in moe_layers:
                    load = moe.last_load
                    moe.selection_bias += args.bias_rate * torch.sign(load.mean() - load)
            tokens_seen += int(n)
            window_loss += loss.item()
            window_steps += 1
            held = ""
            if step % args.eval_every == 0 or step == args.steps:
                held = "%.4f" % evaluate(model, held_out, to_compact, args.max_len)
            if step % args.log_every == 0 or held:
                line = "%d\t%d\t%.4f\t%s\t%.0f" % (step, tokens_seen, window_loss / window_steps, held, time.time() - start)
                log.write(line + "\n")
                log.flush()
                print(line, flush=True)
                window_loss, window_steps = 0.0, 0
    torch.save({"config": config.to_dict(), "vocab_ids": vocab_ids, "state": model.state_dict(),
                "args": vars(args)}, args.out)
    print("saved %s after %.0f s" % (args.out, time.time() - start), flush=True)


if __name__ == "__main__":
    main()
