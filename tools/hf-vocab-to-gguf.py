#!/usr/bin/env python3
"""Writes a vocabulary-only GGUF from a Hugging Face tokenizer (tokenizer.json, optionally
tokenizer_config.json beside it), the way llama.cpp's converter lays out a byte-level BPE
vocabulary (deepseek2-gguf.md §5.1):

  tokenizer.ggml.model = "gpt2", tokenizer.ggml.pre = --pre, tokens by id (ids without a token
  become "[PAD<id>]", type UNUSED), token types (added tokens marked special: CONTROL, other
  added tokens: USER_DEFINED, the rest NORMAL), merges as "left right" strings in rank order,
  BOS/EOS ids and add_bos/add_eos from tokenizer_config.json, and its chat template.

  tools/hf-vocab-to-gguf.py tokenizer.json --pre deepseek-v3 --out vocab.gguf [--vocab-size N]

The file loads wherever a model's vocabulary does (`latent tokenize -m vocab.gguf ...`). Only
the Python standard library is used.
"""
import argparse
import json
import os
import struct
import sys

GGUF_TYPE_UINT32, GGUF_TYPE_INT32, GGUF_TYPE_BOOL, GGUF_TYPE_STRING, GGUF_TYPE_ARRAY = 4, 5, 7, 8, 9
TOKEN_NORMAL, TOKEN_CONTROL, TOKEN_USER_DEFINED, TOKEN_UNUSED = 1, 3, 4, 5


def gguf_string(text):
    raw = text.encode("utf-8")
    return struct.pack("<Q", len(raw)) + raw


class KvWriter:
    def __init__(self):
        self.parts = []
        self.count = 0

    def _key(self, key, value_type):
        self.parts.append(gguf_string(key) + struct.pack("<I", value_type))
        self.count += 1

    def string(self, key, value):
        self._key(key, GGUF_TYPE_STRING)
        self.parts.append(gguf_string(value))

    def uint32(self, key, value):
        self._key(key, GGUF_TYPE_UINT32)
        self.parts.append(struct.pack("<I", value))

    def boolean(self, key, value):
        self._key(key, GGUF_TYPE_BOOL)
        self.parts.append(struct.pack("<?", bool(value)))

    def strings(self, key, values):
        self._key(key, GGUF_TYPE_ARRAY)
        self.parts.append(struct.pack("<IQ", GGUF_TYPE_STRING, len(values)))
        self.parts.append(b"".join(gguf_string(v) for v in values))

    def int32s(self, key, values):
        self._key(key, GGUF_TYPE_ARRAY)
        self.parts.append(struct.pack("<IQ", GGUF_TYPE_INT32, len(values)))
        self.parts.append(struct.pack("<%di" % len(values), *values))

    def write(self, path):
        with open(path, "wb") as out:
            out.write(b"GGUF" + struct.pack("<IQQ", 3, 0, self.count))
            for part in self.parts:
                out.write(part)


def token_text(value):
    """A tokenizer_config.json special-token entry: a string or {"content": ...}."""
    if isinstance(value, dict):
        return value.get("content")
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tokenizer_json")
    parser.add_argument("--config", help="tokenizer_config.json (default: beside tokenizer.json, if present)")
    parser.add_argument("--pre", required=True, help="tokenizer.ggml.pre: deepseek-llm, deepseek-v3 or deepseek-coder")
    parser.add_argument("--name", default="", help="general.name")
    parser.add_argument("--vocab-size", type=int, default=0, help="pad the vocabulary to this many ids (the model's vocab_size)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    with open(args.tokenizer_json, encoding="utf-8") as f:
        tok = json.load(f)
    model = tok.get("model", {})
    if model.get("type") != "BPE":
        sys.exit("error: %s: model type %r, only byte-level BPE is supported" % (args.tokenizer_json, model.get("type")))
    config_path = args.config or os.path.join(os.path.dirname(os.path.abspath(args.tokenizer_json)), "tokenizer_config.json")
    config = {}
    if os.path.exists(config_path):
        with open(config_path, encoding="utf-8") as f:
            config = json.load(f)

    by_id = {}
    for text, index in model["vocab"].items():
        by_id[index] = text
    special = {}
    for added in tok.get("added_tokens", []):
        by_id[added["id"]] = added["content"]
        special[added["id"]] = bool(added.get("special"))
    size = max(max(by_id) + 1, args.vocab_size)
    tokens, types = [], []
    for i in range(size):
        if i not in by_id:
            tokens.append("[PAD%d]" % i)
            types.append(TOKEN_UNUSED)
        elif i in special:
            tokens.append(by_id[i])
            types.append(TOKEN_CONTROL if special[i] else TOKEN_USER_DEFINED)
        else:
            tokens.append(by_id[i])
            types.append(TOKEN_NORMAL)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]

    ids = {text: i for i, text in enumerate(tokens)}
    kv = KvWriter()
    kv.string("general.architecture", "deepseek2")
    kv.string("general.name", args.name or os.path.basename(os.path.dirname(os.path.abspath(args.tokenizer_json))))
    kv.string("tokenizer.ggml.model", "gpt2")
    kv.string("tokenizer.ggml.pre", args.pre)
    kv.strings("tokenizer.ggml.tokens", tokens)
    kv.int32s("tokenizer.ggml.token_type", types)
    kv.strings("tokenizer.ggml.merges", merges)
    for key, name in (("bos_token", "bos"), ("eos_token", "eos"), ("pad_token", "padding")):
        text = token_text(config.get(key))
        if text is not None and text in ids:
            kv.uint32("tokenizer.ggml.%s_token_id" % name, ids[text])
    kv.boolean("tokenizer.ggml.add_bos_token", config.get("add_bos_token", True))
    kv.boolean("tokenizer.ggml.add_eos_token", config.get("add_eos_token", False))
    if isinstance(config.get("chat_template"), str):
        kv.string("tokenizer.chat_template", config["chat_template"])
    kv.write(args.out)
    print("wrote %s: %d tokens (%d added), %d merges, pre %s" % (args.out, len(tokens), len(special), len(merges), args.pre))


if __name__ == "__main__":
    main()
