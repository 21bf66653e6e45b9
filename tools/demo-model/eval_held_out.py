"""How often the demo model's greedy answer for a held-out word (never trained on) shares a
content word with WordNet's true definition, and a few transcripts.

  /usr/bin/python3 tools/demo-model/eval_held_out.py --checkpoint demo.pt --corpus corpus.jsonl \
      --vocab vocab.gguf [--limit N] [--train-sample N] [--out report.json]

Greedy decoding in PyTorch (deepseek2.py, full vocabulary), up to 64 tokens or the
end-of-sentence token. The answer is decoded with `latent detokenize`-free byte-level decoding
of the vocabulary's token strings. Content words: lower-case alphabetic words of 3+ letters that
are not in a small stop list and are not the asked word itself. For scale, the same count with
each answer set against the next entry's definition (a wrong one) is reported as the chance level:
generic words ("person", "act") are shared by chance too.
"""
import argparse
import json
import re

import torch

import gguf_writer as gw
from deepseek2 import Config, DeepSeek2

STOP = set("""the and for with that this from which are was were has have had not but its into any one
some such than then them they their there these those who whom what when where how all can may
being been also more most other used use using make made very about over under between out""".split())


def byte_decoder():
    """GPT-2 byte-level map (deepseek2-gguf.md §5.4), inverted: code point -> byte."""
    keep = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    mapping, n = {}, 0
    for b in range(256):
        if b in keep:
            mapping[chr(b)] = b
        else:
            mapping[chr(0x100 + n)] = b
            n += 1
    return mapping


def read_tokens(vocab_path):
    """tokenizer.ggml.tokens of a GGUF file."""
    import struct
    for key, record in gw.read_kv_records(vocab_path):
        if key != "tokenizer.ggml.tokens":
            continue
        pos = 8 + len(key.encode()) + 4
        _, count = struct.unpack_from("<IQ", record, pos)
        pos += 12
        tokens = []
        for _ in range(count):
            (n,) = struct.unpack_from("<Q", record, pos)
            tokens.append(record[pos + 8: pos + 8 + n].decode("utf-8"))
            pos += 8 + n
        return tokens
    raise SystemExit("%s: no tokenizer.ggml.tokens" % vocab_path)


def content_words(text, word):
    asked = set(word.lower().split())
    return {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) >= 3 and w not in STOP and w not in asked}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--vocab", required=True)
    parser.add_argument("--limit", type=int, default=0, help="evaluate only the first N held-out entries")
    parser.add_argument("--train-sample", type=int, default=0, help="also score N trained entries, evenly spaced")
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    torch.set_num_threads(1)

    checkpoint = torch.load(args.checkpoint)
    c = Config(**checkpoint["config"])
    vocab_ids = checkpoint["vocab_ids"]
    model = DeepSeek2(c, vocab_ids)
    model.load_state_dict(checkpoint["state"])
    model.eval()
    to_compact = {t: i for i, t in enumerate(vocab_ids)}
    tokens, decoder = read_tokens(args.vocab), byte_decoder()

    def decode(ids):
        raw = bytearray()
        for i in ids:
            raw += bytes(decoder[ch] for ch in tokens[i] if ch in decoder)
        return raw.decode("utf-8", errors="replace")

    with open(args.corpus, encoding="utf-8") as f:
        held = [e for e in map(json.loads, f) if e["held_out"]]
    if args.limit:
        held = held[: args.limit]
    def evaluate(entries):
        """Greedy answers for entries, the ones sharing a content word with their definition, and
        the chance level (against the next entry's definition)."""
        results, hits = [], 0
        with torch.no_grad():
            for e in entries:
                seq = [to_compact[i] for i in e["ids"][: e["n_prompt"]]]
                out = []
                for _ in range(64):
                    # Greedy over the full vocabulary: ids without a row have logit 0.
                    logits = model(torch.tensor([seq]))[0, -1]
                    best = int(torch.argmax(logits))
                    real = vocab_ids[best] if logits[best] > 0 or len(vocab_ids) == c.n_vocab else None
                    if real is None:  # a zero-row id wins: the lowest such id, as argmax over the full row picks
                        real = next(i for i in range(c.n_vocab) if i not in to_compact)
                    if real == 1 or real not in to_compact:
                        break
                    out.append(real)
                    seq.append(to_compact[real])
                answer = decode(out)
                shared = content_words(answer, e["word"]) & content_words(e["definition"], e["word"])
                hits += bool(shared)
                results.append({"word": e["word"], "answer": answer, "truth": e["answer"], "shared": sorted(shared)})
        chance = sum(bool(content_words(r["answer"], r["word"]) & content_words(entries[(i + 1) % len(entries)]["definition"], r["word"]))
                     for i, r in enumerate(results))
        return results, hits, chance

    results, hits, chance_hits = evaluate(held)
    rate, chance = hits / max(len(results), 1), chance_hits / max(len(results), 1)
    print("held-out entries: %d, answers sharing a content word with the true definition: %d (%.1f%%); "
          "with the next entry's definition (chance): %d (%.1f%%)" % (len(results), hits, 100 * rate, chance_hits, 100 * chance))
    for r in results[:5]:
        print("Q: What does \"%s\" mean?\nA: %s\n   (WordNet: %s)\n" % (r["word"], r["answer"], r["truth"]))
    report = {"entries": len(results), "sharing": hits, "rate": rate, "chance_sharing": chance_hits, "chance_rate": chance,
              "results": results}
    if args.train_sample:
        # Words it was trained on, evenly spaced through the corpus: what the demo knows.
        with open(args.corpus, encoding="utf-8") as f:
            trained = [e for e in map(json.loads, f) if not e["held_out"]]
        sample = trained[:: max(1, len(trained) // args.train_sample)][: args.train_sample]
        t_results, t_hits, t_chance = evaluate(sample)
        print("trained entries: %d, sharing a content word with the true definition: %d (%.1f%%); chance: %d (%.1f%%)" %
              (len(t_results), t_hits, 100 * t_hits / len(t_results), t_chance, 100 * t_chance / len(t_results)))
        report["trained"] = {"entries": len(t_results), "sharing": t_hits, "chance_sharing": t_chance, "results": t_results}
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
