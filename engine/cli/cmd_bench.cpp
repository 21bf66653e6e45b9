// `latent bench -m MODEL [-p 512] [-n 128] [-t THREADS] [--backend …] [--json]`: prompt
// processing and generation speed (median of repetitions), and the memory bandwidth that
// generation achieves: bytes of active weights + KV cache read per token × tokens/s, against
// the machine's measured copy bandwidth.
#include "run_options.h"
#include "cli_args.h"
#include "cpu/section_profile.h"
#include "cpu/vector_math.h"
#include "commands.h"

#include "backend/backend_common.h"
#include "core/error.h"
#include "core/json_writer.h"
#include "core/mapped_file.h"
#include "core/huge_pages.h"
#include "cuda/gpu_plugin.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <optional>
#include <thread>

namespace latent::cli {
namespace {

const std::vector<OptionSpec> kOptions = with_gpu_options({
    {"--model", "-m", true, "GGUF model file"},
    {"--prompt", "-p", true, "prompt tokens evaluated in one batch, 0 … 1048576 (default 512; 0 skips)"},
    {"--gen", "-n", true, "tokens generated one at a time, 0 … 1048576 (default 128; 0 skips)"},
    {"--depth", "-d", true, "context already cached before the generation test, 0 … 1048576 (default 0)"},
    {"--reps", "-r", true, "repetitions, 1 … 1000; the median is reported (default 3)"},
    {"--warmup", "-w", true, "1 (default): evaluate one prompt token and one generated token, untimed, before the runs (as llama-bench does); 0: none"},
    {"--threads", "-t", true, "CPU threads, 0 … 1024 (default 0: all)"},
    {"--backend", "-b", true, "auto (default), cuda, cpu or ref"},
    {"--cache-type", "", true, "f16 (default), bf16 (cuda) or f32"},
    {"--kernels", "", false, "cuda: also time one decode step kernel family by kernel family"},
    {"--profile", "", false, "cpu: time the prompt and generation runs section by section (time and bytes read per token)"},
    {"--probe-around", "", true, "cpu: 1 (default) also measures the read bandwidth right before and after each generation run (untimed) and compares the run with the higher; 0: only after all runs"},
    {"--json", "", false, "print one JSON object"},
    {"--help", "-h", false, "show this help"},
});

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
}

// Bytes per second when `threads` threads each run share(t, chunk) over their chunk =
// bytes / threads of a buffer, the threads started and joined per pass; best of `passes`.
template <class Share>
double best_threaded_rate(size_t bytes, unsigned threads, int passes, Share&& share) {
    const size_t chunk = bytes / threads;
    double best = 0.0;
    for (int rep = 0; rep < passes; ++rep) {
        const auto start = std::chrono::steady_clock::now();
        std::vector<std::thread> pool;
        for (unsigned t = 0; t < threads; ++t) pool.emplace_back([&share, t, chunk] { share(t, chunk); });
        for (auto& th : pool) th.join();
        best = std::max(best, static_cast<double>(chunk * threads) / seconds_since(start));
    }
    return best;
}

// memcpy bandwidth (bytes copied per second; STREAM's "Copy" counts read + write, twice this)
// of a buffer far larger than the caches, with `threads` threads; best of 5.
double copy_bandwidth(unsigned threads) {
    const size_t bytes = size_t{1} << 30;
    std::vector<uint8_t> src, dst; // in 2 MiB pages where the system allows, as the model's map asks
    resize_scratch(src, bytes);
    resize_scratch(dst, bytes);
    std::fill(src.begin(), src.end(), uint8_t{1});
    return best_threaded_rate(bytes, threads, 5, [&](unsigned t, size_t chunk) { std::memcpy(dst.data() + t * chunk, src.data() + t * chunk, chunk); });
}

// Read-only bandwidth (bytes read per second) of a buffer far larger than the caches, with
// `threads` threads: the limit for generation, which only reads weights and cache. Best of
// `passes` passes over the buffer, each thread summing its share with the widest loads the CPU
// has (cpu::sum_words: plain 64-bit loads under-read this VM's memory by a quarter).
class ReadProbe {
public:
    ReadProbe(size_t bytes, unsigned threads) : threads_(threads), sums_(threads) {
        resize_scratch(buffer_, bytes / 8 / threads * threads); // in 2 MiB pages where the system allows, as the model's map asks
        std::fill(buffer_.begin(), buffer_.end(), uint64_t{1});
    }
    double best_of(int passes) {
        const double best = best_threaded_rate(buffer_.size() * 8, threads_, passes, [this](unsigned t, size_t chunk) {
            sums_[t] = cpu::sum_words(reinterpret_cast<const uint8_t*>(buffer_.data()) + t * chunk, chunk);
        });
        if (std::accumulate(sums_.begin(), sums_.end(), uint64_t{0}) != buffer_.size()) {
            throw Error("bench: the read probe summed its buffer wrongly");
        }
        return best;
    }

private:
    unsigned threads_;
    std::vector<uint64_t> buffer_, sums_;
};

// The whole-run figure: 1 GiB, best of 5, after the runs.
double read_bandwidth(unsigned threads) { return ReadProbe(size_t{1} << 30, threads).best_of(5); }

// Time-matched figure: on a machine whose memory bandwidth drifts between runs (virtual
// machines sharing a host: the same VM read 37 and 67 GB/s twenty minutes apart), generation is
// compared with what the memory gave at the time: 256 MiB (far beyond any L3), best of 3,
// right before and right after each timed generation run, the higher of the two (the first
// probe after loading a model can read a third less than the next one a few seconds later).
constexpr size_t kAroundProbeBytes = size_t{256} << 20;
constexpr int kAroundProbePasses = 3;

} // namespace

int run_bench(const std::vector<std::string>& argv) {
    const Args args = Args::parse("bench", kOptions, argv);
    if (args.flag("--help")) {
        std::fputs(usage_text("bench", "-m MODEL [-p 512] [-n 128] [-t THREADS] [-d DEPTH] [-w 0|1] [--backend auto|cuda|cpu|ref] [--kernels] [--profile] [--probe-around 0|1] [--json]", kOptions).c_str(), stdout);
        return 0;
    }
    constexpr int64_t kMaxBenchTokens = int64_t{1} << 20;
    const int64_t n_prompt = args.get_int("--prompt", 512, 0, kMaxBenchTokens), n_gen = args.get_int("--gen", 128, 0, kMaxBenchTokens);
    const int64_t depth = args.get_int("--depth", 0, 0, kMaxBenchTokens), reps = args.get_int("--reps", 3, 1, 1000);
    const uint32_t threads_arg = threads_from(args);
    const unsigned threads = threads_arg > 0 ? threads_arg : std::max(1u, std::thread::hardware_concurrency());
    const KvCacheType cache_type = cache_type_from(args, KvCacheType::F16);

    const auto load_start = std::chrono::steady_clock::now();
    const auto model = Model::load(args.require("--model"));
    BackendOptions options;
    options.n_ctx = static_cast<uint32_t>(std::max(n_prompt, depth + n_gen) + 1);
    options.n_threads = threads;
    options.cache_type = cache_type;
    apply_gpu_options(args, options);
    const std::string backend_name = args.get("--backend").value_or("auto");
    const auto backend = make_backend(*model, backend_name, options);
    const double load_s = seconds_since(load_start);

    // Token ids do not change the cost; use ordinary ones spread over the vocabulary.
    const int32_t n_vocab = static_cast<int32_t>(model->config().n_vocab);
    auto token = [&](int64_t i) { return static_cast<int32_t>((i * 7919 + 13) % n_vocab); };
    std::vector<float> logits(static_cast<size_t>(n_vocab));

    const bool profile = args.flag("--profile");
    if (profile && backend->name() == "cuda") throw Error("--profile is for the cpu backend; --kernels times the cuda backend");
    cpu::SectionProfile sections;        // the last repetition's generation run, with --profile
    cpu::SectionProfile prompt_sections; // and its prompt run
    std::vector<double> pp_runs, tg_runs;
    // The CPU backend's generation runs, each with the read bandwidth measured around it.
    const bool probe_around = n_gen > 0 && backend->name() != "cuda" && args.get_int("--probe-around", 1, 0, 1) == 1;
    std::optional<ReadProbe> around_probe;
    if (probe_around) around_probe.emplace(kAroundProbeBytes, threads);
    std::vector<double> around_gb_per_s; // per generation run: the higher of the probes before and after it
    const bool warmup = args.get_int("--warmup", 1, 0, 1) == 1;
    if (warmup) {
        // As llama-bench: one prompt token and one generated token first, so the timed runs do
        // not pay for first use (page faults of fresh buffers, pool start-up, cold code).
        const int32_t t = token(0);
        const uint32_t row = 0;
        backend->truncate(0);
        if (n_prompt > 0) backend->evaluate(std::span<const int32_t>(&t, 1), std::span<const uint32_t>(&row, 1), logits.data());
        if (n_gen > 0) backend->evaluate(std::span<const int32_t>(&t, 1), std::span<const uint32_t>(&row, 1), logits.data());
        backend->truncate(0);
    }
    for (int64_t rep = 0; rep < reps; ++rep) {
        if (n_prompt > 0) {
            backend->truncate(0);
            std::vector<int32_t> tokens(static_cast<size_t>(n_prompt));
            for (int64_t i = 0; i < n_prompt; ++i) tokens[static_cast<size_t>(i)] = token(i);
            const uint32_t last = static_cast<uint32_t>(n_prompt - 1);
            if (profile && rep + 1 == reps) cpu::SectionProfile::activate(&prompt_sections);
            const auto start = std::chrono::steady_clock::now();
            backend->evaluate(tokens, std::span<const uint32_t>(&last, 1), logits.data());
            pp_runs.push_back(static_cast<double>(n_prompt) / seconds_since(start));
            cpu::SectionProfile::activate(nullptr);
        }
        if (n_gen > 0) {
            backend->truncate(0);
            for (int64_t done = 0; done < depth;) {
                const int64_t chunk = std::min<int64_t>(512, depth - done);
                std::vector<int32_t> tokens(static_cast<size_t>(chunk));
                for (int64_t i = 0; i < chunk; ++i) tokens[static_cast<size_t>(i)] = token(done + i);
                backend->evaluate(tokens, {}, nullptr);
                done += chunk;
            }
            const uint32_t row = 0;
            const double before = around_probe ? around_probe->best_of(kAroundProbePasses) : 0.0;
            if (profile && rep + 1 == reps) cpu::SectionProfile::activate(&sections);
            const auto start = std::chrono::steady_clock::now();
            for (int64_t i = 0; i < n_gen; ++i) {
                const int32_t t = token(depth + i);
                backend->evaluate(std::span<const int32_t>(&t, 1), std::span<const uint32_t>(&row, 1), logits.data());
            }
            tg_runs.push_back(static_cast<double>(n_gen) / seconds_since(start));
            cpu::SectionProfile::activate(nullptr);
            if (around_probe) around_gb_per_s.push_back(std::max(before, around_probe->best_of(kAroundProbePasses)) / 1e9);
        }
    }
    const double pp = median(pp_runs), tg = median(tg_runs);
    // Bytes per generated token at the middle of the generation run.
    const uint64_t bytes_at_start = bytes_read_per_token(*model, static_cast<uint32_t>(depth + n_gen / 2), options.cache_type);
    const double tg_gb_per_s = tg * static_cast<double>(bytes_at_start) / 1e9;
    // On the GPU the bound is the device's own copy bandwidth (bytes read + written per second).
    const GpuPlugin* plugin = backend->name() == "cuda" ? gpu_plugin() : nullptr;
    const double copy_gb_per_s = n_gen <= 0 ? 0.0 : plugin ? plugin->copy_bandwidth_gbs() : copy_bandwidth(threads) / 1e9;
    const double read_gb_per_s = n_gen <= 0 ? 0.0 : plugin ? copy_gb_per_s : read_bandwidth(threads) / 1e9;
    std::vector<KernelTiming> kernel_times;
    if (args.flag("--kernels")) {
        if (plugin == nullptr) throw Error("--kernels needs the cuda backend");
        backend->truncate(std::min<uint32_t>(backend->n_cached(), static_cast<uint32_t>(depth)));
        kernel_times = plugin->decode_kernel_times(*backend);
    }
    const double limit_tokens_per_s = copy_gb_per_s * 1e9 / static_cast<double>(bytes_at_start);
    // Per generation run: its GB/s over the bandwidth measured around it; the median run's share.
    std::vector<double> around_percent;
    for (size_t i = 0; i < around_gb_per_s.size() && i < tg_runs.size(); ++i) {
        if (around_gb_per_s[i] > 0) around_percent.push_back(100.0 * tg_runs[i] * static_cast<double>(bytes_at_start) / 1e9 / around_gb_per_s[i]);
    }
    const double around_read = median(around_gb_per_s), around_share = median(around_percent);
    // The share of the weights' file maps in 2 MiB pages (after the runs): a quarter of the
    // generation speed depends on it.
    std::vector<const void*> weight_addresses;
    for (const gguf::TensorInfo& t : model->files().tensors()) weight_addresses.push_back(t.data);
    const HugePageUse pages = huge_page_use(weight_addresses);
    const double huge_percent = pages.mapped_bytes > 0 ? 100.0 * static_cast<double>(pages.huge_bytes) / static_cast<double>(pages.mapped_bytes) : -1.0;

    if (args.flag("--json")) {
        JsonWriter j;
        j.begin_object()
            .key("model").value(args.require("--model"))
            .key("backend").value(backend->name())
            .key("threads").value(static_cast<uint64_t>(threads))
            .key("n_prompt").value(n_prompt)
            .key("n_gen").value(n_gen)
            .key("depth").value(depth)
            .key("reps").value(reps)
            .key("warmup").value(warmup)
            .key("pp_tokens_per_s").value(pp, 6)
            .key("tg_tokens_per_s").value(tg, 6)
            .key("tg_bytes_per_token").value(bytes_at_start)
            .key("tg_gb_per_s").value(tg_gb_per_s, 6)
            .key("copy_gb_per_s").value(copy_gb_per_s, 6)
            .key("tg_percent_of_copy_bandwidth").value(copy_gb_per_s > 0 ? 100.0 * tg_gb_per_s / copy_gb_per_s : 0.0, 4)
            .key("read_gb_per_s").value(read_gb_per_s, 6)
            .key("tg_percent_of_read_bandwidth").value(read_gb_per_s > 0 ? 100.0 * tg_gb_per_s / read_gb_per_s : 0.0, 4)
            .key("read_gb_per_s_around_runs").value(around_read, 6)
            .key("tg_percent_of_read_bandwidth_around_runs").value(around_share, 4)
            .key("pp_speedup_per_token_vs_tg").value(tg > 0 ? pp / tg : 0.0, 4)
            .key("load_s").value(load_s, 4)
            .key("model_huge_page_percent").value(huge_percent, 4);
        const auto profile_json = [&](const char* key, const cpu::SectionProfile& p, int64_t tokens) {
            if (p.sections().empty()) return;
            j.key(key).begin_array();
            for (const cpu::SectionTotals& t : p.sections()) {
                j.begin_object().key("name").value(t.name).key("us_per_token").value(t.microseconds / static_cast<double>(tokens), 4)
                    .key("bytes_per_token").value(t.bytes / static_cast<uint64_t>(tokens)).end_object();
            }
            j.end_array();
        };
        profile_json("prompt_profile", prompt_sections, n_prompt);
        profile_json("decode_profile", sections, n_gen);
        if (!kernel_times.empty()) {
            j.key("decode_kernels").begin_array();
            for (const KernelTiming& k : kernel_times) {
                j.begin_object().key("name").value(k.name).key("launches").value(static_cast<uint64_t>(k.launches)).key("us").value(k.microseconds, 4).end_object();
            }
            j.end_array();
        }
        j.end_object();
        std::printf("%s\n", j.str().c_str());
        return 0;
    }
    if (plugin != nullptr) std::printf("device:     %s plugin; copy bandwidth %.1f GB/s (read + write)\n", plugin->kind, copy_gb_per_s);
    std::printf("model:      %s (%s, %s backend, %u threads)\n", args.require("--model").c_str(), model->config().name.c_str(), std::string(backend->name()).c_str(), threads);
    if (n_prompt > 0) std::printf("prompt:     %lld tokens in one batch: %.2f tokens/s (median of %lld)\n", static_cast<long long>(n_prompt), pp, static_cast<long long>(reps));
    if (n_gen > 0) {
        std::printf("generation: %lld tokens at depth %lld: %.2f tokens/s (median of %lld)\n", static_cast<long long>(n_gen), static_cast<long long>(depth), tg,
                    static_cast<long long>(reps));
        std::printf("bandwidth:  %.3f GB read per token (active weights + KV cache) -> %.2f GB/s\n", static_cast<double>(bytes_at_start) / 1e9, tg_gb_per_s);
        std::printf("machine:    memcpy %.2f GB/s copied (%u threads): %.1f%%, limit %.2f tokens/s; read-only %.2f GB/s: %.1f%%, limit %.2f tokens/s\n",
                    copy_gb_per_s, threads, 100.0 * tg_gb_per_s / copy_gb_per_s, limit_tokens_per_s, read_gb_per_s, 100.0 * tg_gb_per_s / read_gb_per_s,
                    read_gb_per_s * 1e9 / static_cast<double>(bytes_at_start));
        if (!around_percent.empty()) {
            std::printf("around:     read-only %.2f GB/s, the higher of the probes right before and after each generation run (%d passes over %zu MiB each): %.1f%% (median of %zu runs)\n",
                        around_read, kAroundProbePasses, kAroundProbeBytes >> 20, around_share, around_percent.size());
        }
    }
    if (n_prompt > 0 && n_gen > 0) std::printf("prompt vs generation: %.1fx faster per token\n", pp / tg);
    if (huge_percent >= 0) {
        std::printf("pages:      %.0f%% of the model file's map in 2 MiB pages%s\n", huge_percent,
                    huge_percent < 90 ? " (the page cache held the file in small pages and loading could not read it back in 2 MiB pages: a kernel before 6.7, a file system without large folios, or a model larger than the memory; see README, CPU speed)" : "");
    }
    cpu::print_sections(stdout, "prompt by section (last run, per prompt token; GB/s = bytes read / section time):", prompt_sections, static_cast<double>(n_prompt));
    char title[160];
    std::snprintf(title, sizeof title, "generation by section (last run, per token; GB/s = bytes read / section time; %.2f GB/s read-only measured):",
                  read_gb_per_s);
    cpu::print_sections(stdout, title, sections, static_cast<double>(n_gen));
    if (!kernel_times.empty()) {
        double total = 0;
        for (const KernelTiming& k : kernel_times) total += k.microseconds;
        std::printf("decode step at depth %u, by kernel family (eager launches, events around each):\n", backend->n_cached());
        for (const KernelTiming& k : kernel_times) {
            std::printf("  %-22s %5u launches %10.1f us  %5.1f%%\n", k.name.c_str(), k.launches, k.microseconds, total > 0 ? 100.0 * k.microseconds / total : 0.0);
        }
        std::printf("  %-22s %16s %10.1f us\n", "total", "", total);
    }
    return 0;
}

} // namespace latent::cli
