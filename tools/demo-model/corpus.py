"""The demo model's corpus: WordNet entries (Debian's wordnet-base, /usr/share/wordnet) as
DeepSeek-V3 chat turns, tokenized with DeepSeek-V3's tokenizer.

One entry per word: the word's most frequent sense (the first synset in its index line) in the
part of speech where the word is most often tagged in WordNet's sense-tagged corpus. Only words
with at least one tagged sense (tagsense_cnt > 0) are kept, so the list holds the everyday words.

  question: What does "violin" mean?
  answer:   "violin" (noun): bowed stringed instrument that is the highest member of the violin
            family; ... Example: "..." Synonyms: fiddle.

An entry is held out (never trained on) when the SHA-1 of its word ends in a byte below 6
(about 2.3%): a fixed split that does not depend on the order of the files.

Tokenization runs our own tokenizer (`latent tokenize --parse-special`) once over all chats
joined: every chat starts with the BOS special token and special tokens split the text into
independently tokenized fragments, so the ids are those of each chat tokenized alone.
"""
import hashlib
import json
import os
import subprocess
import tempfile

POS_NAMES = {"noun": "noun", "verb": "verb", "adj": "adjective", "adv": "adverb"}
BOS, USER, ASSISTANT, EOS = "<｜begin▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>", "<｜end▁of▁sentence｜>"


def read_synsets(wordnet_dir, pos):
    """offset -> (lemmas, gloss) from data.<pos>."""
    synsets = {}
    with open(os.path.join(wordnet_dir, "data." + pos), encoding="latin-1") as f:
        for line in f:
            if line.startswith("  "):
                continue
            head, _, gloss = line.partition(" | ")
            fields = head.split()
            offset, w_cnt = fields[0], int(fields[3], 16)
            lemmas = [fields[4 + 2 * i] for i in range(w_cnt)]
            synsets[offset] = (lemmas, gloss.strip())
    return synsets


def read_index(wordnet_dir, pos):
    """lemma -> (tagged sense count, first synset offset) from index.<pos>."""
    index = {}
    with open(os.path.join(wordnet_dir, "index." + pos), encoding="latin-1") as f:
        for line in f:
            if line.startswith("  "):
                continue
            fields = line.split()
            lemma, synset_cnt, p_cnt = fields[0], int(fields[2]), int(fields[3])
            tagged = int(fields[5 + p_cnt])
            offsets = fields[6 + p_cnt: 6 + p_cnt + synset_cnt]
            index[lemma] = (tagged, offsets[0])
    return index


def clean_lemma(lemma):
    # Adjective lemmas may carry a syntactic marker such as "(a)" or "(p)".
    return lemma.split("(")[0].replace("_", " ")


def split_gloss(gloss):
    """(definition, [examples]) from a WordNet gloss: definition; "example"; "example"."""
    parts = [p.strip() for p in gloss.split(";")]
    definition, examples = [], []
    for part in parts:
        if part.startswith('"'):
            examples.append(part.strip('"').strip())
        elif not examples:
            definition.append(part)
    return "; ".join(p for p in definition if p), examples


def format_answer(word, pos, lemmas, gloss):
    definition, examples = split_gloss(gloss)
    answer = '"%s" (%s): %s.' % (word, POS_NAMES[pos], definition.rstrip("."))
    if examples:
        answer += ' Example: "%s"' % examples[0]
        if not examples[0].endswith((".", "!", "?")):
            answer += "."
    synonyms = [clean_lemma(l) for l in lemmas if clean_lemma(l).lower() != word.lower()]
    if synonyms:
        answer += " Synonyms: %s." % ", ".join(dict.fromkeys(synonyms))
    return answer


def is_held_out(word):
    return hashlib.sha1(word.encode("utf-8")).digest()[-1] < 6


def build_entries(wordnet_dir):
    best = {}  # word -> (tagged count, pos, offset)
    synsets = {}
    for pos in POS_NAMES:
        synsets[pos] = read_synsets(wordnet_dir, pos)
        for lemma, (tagged, offset) in read_index(wordnet_dir, pos).items():
            word = clean_lemma(lemma)
            if tagged <= 0 or not all(ch.isalpha() or ch in " -'" for ch in word):
                continue
            if word not in best or tagged > best[word][0]:
                best[word] = (tagged, pos, offset)
    entries = []
    for word in sorted(best):
        _, pos, offset = best[word]
        lemmas, gloss = synsets[pos][offset]
        entries.append({
            "word": word,
            "pos": pos,
            "question": 'What does "%s" mean?' % word,
            "answer": format_answer(word, pos, lemmas, gloss),
            "definition": split_gloss(gloss)[0],
            "held_out": is_held_out(word),
        })
    return entries


def chat_text(question, answer=None):
    """The DeepSeek-V3 template's text for one user turn (and the assistant's answer)."""
    text = BOS + USER + question + ASSISTANT
    return text + answer + EOS if answer is not None else text


def tokenize_chats(latent, vocab_gguf, texts):
    """Token ids of each chat text (each starts with BOS, id 0), from one `latent tokenize` run."""
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt", delete=False) as f:
        f.write("".join(texts))
        path = f.name
    try:
        out = subprocess.run([latent, "tokenize", "-m", vocab_gguf, "--parse-special", "--file", path],
                             check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(path)
    ids = json.loads(out)
    chats, current = [], None
    for i in ids:
        if i == 0:
            current = [0]
            chats.append(current)
        else:
            current.append(i)
    if len(chats) != len(texts):
        raise SystemExit("tokenize: %d chats in, %d out" % (len(texts), len(chats)))
    return chats


def main():
    import argparse
    parser = argparse.ArgumentParser(description="Build the demo model's WordNet chat corpus")
    parser.add_argument("--wordnet", default="/usr/share/wordnet")
    parser.add_argument("--latent", required=True, help="the latent binary (for `latent tokenize`)")
    parser.add_argument("--vocab", required=True, help="DeepSeek-V3 vocabulary GGUF (tools/hf-vocab-to-gguf.py)")
    parser.add_argument("--out", required=True, help="corpus JSON lines")
    args = parser.parse_args()
    entries = build_entries(args.wordnet)
    ids = tokenize_chats(args.latent, args.vocab, [chat_text(e["question"], e["answer"]) for e in entries])
    prompts = tokenize_chats(args.latent, args.vocab, [chat_text(e["question"]) for e in entries])
    with open(args.out, "w", encoding="utf-8") as out:
        for e, chat, prompt in zip(entries, ids, prompts):
            if chat[: len(prompt)] != prompt:
                raise SystemExit("the prompt of %r does not tokenize as a prefix of its chat" % e["word"])
            e["ids"] = chat
            e["n_prompt"] = len(prompt)
            out.write(json.dumps(e, ensure_ascii=False) + "\n")
    held = sum(e["held_out"] for e in entries)
    n_tokens = sum(len(e["ids"]) for e in entries)
    print("wrote %s: %d entries (%d held out), %d tokens" % (args.out, len(entries), held, n_tokens))


if __name__ == "__main__":
    main()
