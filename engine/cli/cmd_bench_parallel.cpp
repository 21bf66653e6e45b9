// `latent bench-parallel -m MODEL [--parallel 1,2,4,8] [-p 64] [-n 32]`: generation throughput of
// N sequences decoded together by the multi-sequence backend (what `latent serve --parallel N`
// does in every step), against one sequence alone. Each sequence first gets its own prompt of
// -p tokens (one prefill call each, not timed), then -n decode steps evaluate one token of every
// sequence in one batch; tokens are chosen greedily, so MoE routing is that of real text.
// The last repetition of each count also records the bytes every step reads (weights and KV
// cache, from the cpu backend's section profile): N tokens share the attention, shared-expert and
// output weights but each picks its own routed experts, so the bytes per token, not the batch
// kernel, set how far batching can go on a bandwidth-bound machine. The "bandwidth ceiling" is the
// first row's bytes per token over this row's: the ratio a step reading at the same GB/s reaches.
#include "cli_args.h"
#include "commands.h"
#include "run_options.h"

#include "backend/multi_sequence.h"
#include "core/error.h"
#include "core/json_writer.h"
#include "cpu/section_profile.h"
#include "engine.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

namespace latent::cli {
namespace {

const std::vector<OptionSpec> kOptions = {
    {"--model", "-m", true, "GGUF model file"},
    {"--parallel", "", true, "comma-separated sequence counts, each 1 … 64 (default 1,2,4,8)"},
    {"--prompt", "-p", true, "prompt tokens per sequence before decoding, 1 … 65536 (default 64)"},
    {"--gen", "-n", true, "decode steps timed, 1 … 65536 (default 32)"},
    {"--reps", "-r", true, "repetitions per count, 1 … 100; the median is reported (default 3)"},
    {"--threads", "-t", true, "CPU threads, 0 … 1024 (default 0: all)"},
    {"--profile", "", false, "print each count's decode step section by section (last repetition, per step)"},
    {"--json", "", false, "print one JSON object"},
    {"--help", "-h", false, "show this help"},
};

int32_t argmax(const float* row, size_t n) { return static_cast<int32_t>(std::max_element(row, row + n) - row); }

// Tokens per second of `n_seq` sequences decoding `n_gen` steps together; the timed steps are
// recorded into `profile` when one is given.
double run_once(const Model& model, const BackendOptions& options, uint32_t n_seq, uint32_t n_prompt, uint32_t n_gen,
                cpu::SectionProfile* profile) {
    auto backend = create_cpu_multi_backend(model, options, n_seq);
    const size_t n_vocab = model.config().n_vocab;
    std::vector<float> logits(n_seq * n_vocab);
    std::vector<int32_t> next(n_seq);
    for (uint32_t s = 0; s < n_seq; ++s) {
        std::vector<int32_t> prompt(n_prompt);
        for (uint32_t i = 0; i < n_prompt; ++i) prompt[i] = static_cast<int32_t>((static_cast<uint64_t>(i + 1) * 7919 + s * 104729 + 13) % n_vocab);
        const SequenceSlice slice{s, prompt, true};
        backend->evaluate(std::span<const SequenceSlice>(&slice, 1), logits.data());
        next[s] = argmax(logits.data(), n_vocab);
    }
    std::vector<SequenceSlice> slices(n_seq);
    if (profile) cpu::SectionProfile::activate(profile);
    const auto start = std::chrono::steady_clock::now();
    for (uint32_t step = 0; step < n_gen; ++step) {
        for (uint32_t s = 0; s < n_seq; ++s) slices[s] = SequenceSlice{s, std::span<const int32_t>(&next[s], 1), true};
        backend->evaluate(slices, logits.data());
        for (uint32_t s = 0; s < n_seq; ++s) next[s] = argmax(logits.data() + s * n_vocab, n_vocab);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (profile) cpu::SectionProfile::activate(nullptr);
    return static_cast<double>(n_seq) * n_gen / seconds;
}

} // namespace

int run_bench_parallel(const std::vector<std::string>& argv) {
    const Args args = Args::parse("bench-parallel", kOptions, argv);
    if (args.flag("--help")) {
        std::fputs(usage_text("bench-parallel", "-m MODEL [--parallel 1,2,4,8] [-p 64] [-n 32] [-r 3] [--profile] [--json]", kOptions).c_str(), stdout);
        return 0;
    }
    std::vector<uint32_t> counts;
    const std::string list = args.get("--parallel").value_or("1,2,4,8");
    size_t at = 0;
    while (at <= list.size()) {
        const size_t comma = std::min(list.find(',', at), list.size());
        const std::string item = list.substr(at, comma - at);
        char* end = nullptr;
        const long v = std::strtol(item.c_str(), &end, 10);
        if (item.empty() || *end != '\0' || v < 1 || v > 64) throw UsageError("--parallel must list counts from 1 to 64, got '" + item + "'");
        counts.push_back(static_cast<uint32_t>(v));
        at = comma + 1;
    }
    const auto n_prompt = static_cast<uint32_t>(args.get_int("--prompt", 64, 1, 65536));
    const auto n_gen = static_cast<uint32_t>(args.get_int("--gen", 32, 1, 65536));
    const auto reps = static_cast<int>(args.get_int("--reps", 3, 1, 100));
    const auto model = Model::load(args.require("--model"));
    BackendOptions options;
    options.n_ctx = n_prompt + n_gen + 1;
    options.n_threads = threads_from(args);

    JsonWriter json;
    json.begin_object().key("model").value(args.require("--model")).key("prompt").value(n_prompt).key("gen").value(n_gen).key("results").begin_array();
    double first = 0.0;                // total tokens/s of the first count
    double first_bytes_per_token = 0.0; // bytes read per token of the first count
    for (const uint32_t n : counts) {
        std::vector<double> runs;
        cpu::SectionProfile profile; // the last repetition's steps
        for (int r = 0; r < reps; ++r) runs.push_back(run_once(*model, options, n, n_prompt, n_gen, r + 1 == reps ? &profile : nullptr));
        std::sort(runs.begin(), runs.end());
        const double tps = runs[runs.size() / 2];
        if (first == 0.0) first = tps;
        const double ratio = tps / first;
        uint64_t bytes = 0, experts = 0; // experts: every expert section (routed and shared)
        double microseconds = 0;
        for (const cpu::SectionTotals& t : profile.sections()) {
            bytes += t.bytes;
            microseconds += t.microseconds;
            // Routed and shared experts: below the batch-kernel size one fused section has both.
            if (t.name.starts_with("MoE: routed") || t.name.starts_with("MoE: experts") || t.name.starts_with("MoE: shared")) experts += t.bytes;
        }
        const double steps = n_gen;
        const double gb_per_step = static_cast<double>(bytes) / steps / 1e9;
        const double bytes_per_token = static_cast<double>(bytes) / (steps * n);
        if (first_bytes_per_token == 0.0) first_bytes_per_token = bytes_per_token;
        const double ceiling = bytes_per_token > 0 ? first_bytes_per_token / bytes_per_token : 0.0;
        const double gb_per_s = microseconds > 0 ? static_cast<double>(bytes) / (microseconds * 1e3) : 0.0;
        json.begin_object().key("parallel").value(n).key("tokens_per_s").value(tps, 4).key("runs").begin_array();
        for (double x : runs) json.value(x, 4);
        json.end_array()
            .key("gb_read_per_step").value(gb_per_step, 4)
            .key("gb_experts_per_step").value(static_cast<double>(experts) / steps / 1e9, 4)
            .key("gb_per_s").value(gb_per_s, 3)
            .key("bandwidth_ceiling").value(ceiling, 3)
            .end_object();
        if (!args.flag("--json")) {
            std::printf("parallel %2u: %8.2f tokens/s (median of %d: ", n, tps, reps);
            for (size_t i = 0; i < runs.size(); ++i) std::printf("%s%.2f", i ? ", " : "", runs[i]);
            std::printf(")  %.2fx the first row's total\n", ratio);
            std::printf("             reads %.1f MB per step (experts, routed and shared: %.1f MB), %.1f MB per token, %.2f GB/s; bandwidth ceiling %.2fx\n",
                        gb_per_step * 1e3, static_cast<double>(experts) / steps / 1e6, bytes_per_token / 1e6, gb_per_s, ceiling);
            if (args.flag("--profile")) {
                char title[96];
                std::snprintf(title, sizeof title, "parallel %u, one decode step by section (last run, per step):", n);
                cpu::print_sections(stdout, title, profile, steps);
            }
            std::fflush(stdout);
        }
    }
    json.end_array().end_object();
    if (args.flag("--json")) std::printf("%s\n", json.str().c_str());
    return kExitOk;
}

} // namespace latent::cli
