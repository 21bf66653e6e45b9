#!/usr/bin/env bash
# Side-by-side CPU speed: `latent bench` against another engine's llama-bench (ik_llama.cpp or
# llama.cpp, built by you outside this repository; this script never downloads or builds
# anything) on the same GGUF file, alternating the two engines run by run so that a noisy
# machine hits both alike, and printing the medians and our ratio for each test.
#
#   scripts/compare-peer.sh --peer /path/to/llama-bench -m model.gguf [-t 2] [-r 3]
#                           [--tests "pp512 tg128 tg128@4096 tg128@16384 pp4096"]
#                           [--latent build/bin/latent] [--peer-args "-fmoe 1"] [--json out.json]
#
# Tests: ppN = a prompt of N tokens in one batch (prompt tokens/s); tgN = N tokens generated one
# at a time at depth 0; tgN@D = the same after a context of D tokens (only the generation is
# timed: `latent bench -p 0 -n N -d D`, llama-bench `-gp D,N`). The peer runs with its own
# defaults (ik_llama.cpp: MLA, fused MoE and flash attention for DeepSeek models) plus
# --peer-args. Both warm up the same way before timing (one prompt token, one generated token).
# The machine's read bandwidth is the one `latent bench` measures in the same run, twice: right
# before and after each generation run, the higher of the two (the share printed first: a
# virtual machine's bandwidth drifts by tens of percent within minutes, and this compares each
# run with what the memory gave at the time), and once after all runs (best of 5 over 1 GiB, in
# brackets). The last line says how much of the model file latent found mapped in 2 MiB pages
# (the page cache both engines share: a low share slows both, see README).
set -euo pipefail
cd "$(dirname "$0")/.."

peer="" model="" threads=2 reps=3 latent=build/bin/latent peer_args="" json_out=""
tests="pp512 tg128 tg128@4096 tg128@16384 pp4096"
while [ $# -gt 0 ]; do
    case "$1" in
        --peer) peer=$2; shift 2 ;;
        -m|--model) model=$2; shift 2 ;;
        -t|--threads) threads=$2; shift 2 ;;
        -r|--reps) reps=$2; shift 2 ;;
        --tests) tests=$2; shift 2 ;;
        --latent) latent=$2; shift 2 ;;
        --peer-args) peer_args=$2; shift 2 ;;
        --json) json_out=$2; shift 2 ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "compare-peer: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[ -n "$peer" ] && [ -x "$peer" ] || { echo "compare-peer: --peer must name an executable llama-bench" >&2; exit 2; }
[ -n "$model" ] && [ -f "$model" ] || { echo "compare-peer: -m must name a GGUF file" >&2; exit 2; }
[ -x "$latent" ] || { echo "compare-peer: $latent not found (build first)" >&2; exit 2; }

results=$(mktemp)
trap 'rm -f "$results"' EXIT

# One measurement of one engine: prints "tokens_per_s read_gb_per_s" (read bandwidth: ours only).
run_latent() { # kind n depth
    local kind=$1 n=$2 depth=$3 args
    if [ "$kind" = pp ]; then args=(-p "$n" -n 0); else args=(-p 0 -n "$n" -d "$depth"); fi
    "$latent" bench -m "$model" -t "$threads" -r 1 --backend cpu "${args[@]}" --json 2>/dev/null |
        python3 -c 'import json,sys; j=json.load(sys.stdin); k=sys.argv[1]
print(j["pp_tokens_per_s" if k=="pp" else "tg_tokens_per_s"], j.get("read_gb_per_s", 0), j.get("tg_gb_per_s", 0),
      j.get("model_huge_page_percent", -1), j.get("read_gb_per_s_around_runs", 0))' "$kind"
}
run_peer() { # kind n depth
    local kind=$1 n=$2 depth=$3 args
    if [ "$kind" = pp ]; then args=(-p "$n" -n 0); elif [ "$depth" = 0 ]; then args=(-p 0 -n "$n"); else args=(-p 0 -n 0 -gp "$depth,$n"); fi
    # shellcheck disable=SC2086
    "$peer" -m "$model" -t "$threads" -r 1 "${args[@]}" $peer_args -o json 2>/dev/null |
        python3 -c 'import json,sys; rows=json.load(sys.stdin); print(rows[-1]["avg_ts"])'
}

echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB"
echo "model:   $model"
echo "latent:  $latent ($(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo "peer:    $peer $peer_args"
echo "threads: $threads, $reps alternating runs per test, medians"
for test in $tests; do
    kind=${test%%[0-9]*}; rest=${test#"$kind"}; n=${rest%@*}; depth=0
    [[ "$rest" == *@* ]] && depth=${rest#*@}
    for r in $(seq 1 "$reps"); do
        # Alternate which engine goes first.
        if [ $((r % 2)) = 1 ]; then
            ours=$(run_latent "$kind" "$n" "$depth"); theirs=$(run_peer "$kind" "$n" "$depth")
        else
            theirs=$(run_peer "$kind" "$n" "$depth"); ours=$(run_latent "$kind" "$n" "$depth")
        fi
        echo "$test $ours $theirs" >> "$results"
        echo "  $test run $r: latent $(echo "$ours" | cut -d' ' -f1) tokens/s, peer $theirs tokens/s" >&2
    done
done
python3 - "$results" "$json_out" <<'EOF'
import json, statistics, sys
rows = {}
order = []
for line in open(sys.argv[1]):
    test, ours, read_bw, tg_bw, huge, around, theirs = line.split()
    if test not in rows:
        rows[test] = []
        order.append(test)
    rows[test].append((float(ours), float(read_bw), float(tg_bw), float(theirs), float(huge), float(around)))
out = []
print("\n| test | latent tokens/s | peer tokens/s | ratio | latent GB/s read: % of the machine's around each run [after all runs] |")
print("|---|---|---|---|---|")
for test in order:
    r = rows[test]
    ours = statistics.median(x[0] for x in r)
    theirs = statistics.median(x[3] for x in r)
    machine = statistics.median(x[1] for x in r)
    tg_bw = statistics.median(x[2] for x in r)
    # Each run against the bandwidth measured around it, then the median run.
    shares = [100 * x[2] / x[5] for x in r if x[5] > 0]
    share = statistics.median(shares) if shares else 0
    around = statistics.median(x[5] for x in r if x[5] > 0) if shares else 0
    bw = "-"
    if test.startswith("tg") and machine:
        bw = "%.1f: %.0f%% of %.1f [%.0f%% of %.1f]" % (tg_bw, share, around, 100 * tg_bw / machine, machine)
    print("| %s | %.2f | %.2f | %.2fx | %s |" % (test, ours, theirs, ours / theirs if theirs else 0, bw))
    out.append({"test": test, "latent": ours, "peer": theirs, "ratio": ours / theirs if theirs else None,
                "latent_gb_per_s": tg_bw, "machine_read_gb_per_s": machine, "machine_read_gb_per_s_around_runs": around,
                "latent_percent_of_read_around_runs": share, "runs": r})
# Both engines read the same page cache: how much of the file it maps in 2 MiB pages moves both
# engines' generation speed by ~30% (README, How inference works on the CPU).
huge = [x[4] for r in rows.values() for x in r if x[4] >= 0]
if huge:
    print("\nmodel file in 2 MiB pages during latent's runs: %.0f-%.0f%%" % (min(huge), max(huge)))
if sys.argv[2]:
    json.dump(out, open(sys.argv[2], "w"), indent=1)
EOF
