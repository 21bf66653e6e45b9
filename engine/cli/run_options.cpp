#include "run_options.h"

#include "core/error.h"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <random>

namespace latent::cli {

void add_run_options(std::vector<OptionSpec>& specs) {
    const std::vector<OptionSpec> shared = {
        {"--model", "-m", true, "GGUF model file (default: the built-in demo model, a tiny dictionary model)"},
        {"--backend", "-b", true, "auto (default), cuda, cpu or ref"},
        {"--ctx", "-c", true, "context length in tokens, 1 … 16777216 (default 4096, at most the model's)"},
        {"--threads", "-t", true, "CPU threads, 0 … 1024 (default 0: all)"},
        {"--cache-type", "", true, "KV cache element type: f16 (default), bf16 (cuda) or f32"},
        {"--temp", "", true, "temperature, 0 … 100 (default 0.8; 0 = greedy)"},
        {"--top-k", "", true, "keep the k most likely tokens, 0 … 1000000 (default 40; 0 = off)"},
        {"--top-p", "", true, "nucleus sampling threshold, 0 … 1 (default 0.95; 1 = off)"},
        {"--min-p", "", true, "drop tokens below this fraction of the best, 0 … 1 (default 0.05; 0 = off)"},
        {"--repeat-penalty", "", true, "penalty for recent tokens, 0.01 … 100 (default 1.0 = off)"},
        {"--presence-penalty", "", true, "subtracted from recent tokens' logits, -100 … 100 (default 0)"},
        {"--seed", "", true, "random seed, 0 … 2^64-1 (default or -1: random)"},
        {"--chat-format", "", true, "force a chat format: deepseek2, deepseek3, r1, kimi-k2, chatml, deepseek-coder"},
    };
    specs.insert(specs.begin(), shared.begin(), shared.end());
    const std::vector<OptionSpec> gpu = gpu_option_specs();
    specs.insert(specs.begin() + static_cast<std::ptrdiff_t>(shared.size()), gpu.begin(), gpu.end());
}

std::vector<OptionSpec> gpu_option_specs() {
    return {
        {"--experts-on-cpu", "", true, "cuda: routed experts of the first N MoE layers stay in host memory and run on the CPU, "
                                       "0 … 4096 or all (default: as many as the GPU's memory needs)"},
        {"--layers-on-cpu", "", true, "cuda: the first N layers run whole on the CPU, 0 … 4096 (default: none unless the model "
                                      "does not fit even with every MoE layer's experts on the CPU)"},
        {"--no-gpu-graphs", "", false, "cuda: launch every decode kernel eagerly instead of replaying a CUDA graph"},
    };
}

std::vector<OptionSpec> with_gpu_options(std::vector<OptionSpec> specs) {
    const std::vector<OptionSpec> gpu = gpu_option_specs();
    specs.insert(specs.empty() ? specs.end() : specs.end() - 1, gpu.begin(), gpu.end());
    return specs;
}

void apply_gpu_options(const Args& args, BackendOptions& options) {
    if (const auto experts = args.get("--experts-on-cpu")) {
        if (*experts == "all") options.experts_on_cpu = kAllExpertsOnCpu;
        else options.experts_on_cpu = static_cast<int32_t>(args.get_int("--experts-on-cpu", 0, 0, 4096));
    }
    if (args.get("--layers-on-cpu")) options.layers_on_cpu = static_cast<int32_t>(args.get_int("--layers-on-cpu", 0, 0, 4096));
    if (args.flag("--no-gpu-graphs")) options.gpu_graphs = false;
}

std::unique_ptr<Backend> make_backend(const Model& model, const std::string& name, const BackendOptions& options) {
    const auto kind = backend_kind_from_name(name);
    if (!kind) throw Error("unknown backend '" + name + "' (auto, cpu, ref or cuda)");
    std::string note;
    auto backend = create_backend(model, *kind, options, &note);
    if (note.empty()) return backend;
    // A fallback is a warning; the GPU's placement when it is used is information.
    if (backend->name() == name || note.find("using cuda on") != std::string::npos) spdlog::info("{}", note);
    else spdlog::warn("{}", note);
    return backend;
}

BackendOptions backend_options_from(const Args& args, uint32_t default_ctx) {
    BackendOptions options;
    options.n_ctx = static_cast<uint32_t>(args.get_int("--ctx", default_ctx, 1, kMaxContextOption));
    options.n_threads = threads_from(args);
    options.cache_type = cache_type_from(args, KvCacheType::F16);
    apply_gpu_options(args, options);
    return options;
}

uint32_t threads_from(const Args& args) { return static_cast<uint32_t>(args.get_int("--threads", 0, 0, kMaxThreadsOption)); }

KvCacheType cache_type_from(const Args& args, KvCacheType fallback) {
    const auto cache = args.get("--cache-type");
    if (!cache) return fallback;
    if (*cache == "f16") return KvCacheType::F16;
    if (*cache == "f32") return KvCacheType::F32;
    if (*cache == "bf16") return KvCacheType::BF16;
    throw UsageError("--cache-type must be f16, bf16 (cuda backend) or f32, got '" + *cache + "'");
}

GenerationParams generation_params_from(const Args& args) {
    GenerationParams p;
    auto& s = p.sampling;
    const auto number = [&](std::string_view name, float fallback, double min, double max) {
        return static_cast<float>(args.get_number(name, fallback, min, max));
    };
    s.temperature = number("--temp", s.temperature, 0.0, kMaxTemperatureOption);
    s.top_k = static_cast<int32_t>(args.get_int("--top-k", s.top_k, 0, kMaxTopKOption));
    s.top_p = number("--top-p", s.top_p, 0.0, 1.0);
    s.min_p = number("--min-p", s.min_p, 0.0, 1.0);
    s.repeat_penalty = number("--repeat-penalty", s.repeat_penalty, 0.01, kMaxPenaltyOption);
    s.presence_penalty = number("--presence-penalty", s.presence_penalty, -kMaxPenaltyOption, kMaxPenaltyOption);
    const std::string seed = args.get("--seed").value_or("-1");
    if (seed == "-1") {
        std::random_device random;
        s.seed = (uint64_t{random()} << 32) ^ uint64_t{random()};
    } else {
        try {
            s.seed = args.get_u64("--seed", 0);
        } catch (const UsageError&) {
            throw UsageError("--seed must be -1 (random) or an integer from 0 to " + std::to_string(UINT64_MAX) + ", got '" + seed + "'");
        }
    }
    sampling::Sampler check(s); // the sampler's own validation, naming a bad field
    return p;
}

int32_t max_new_tokens_from(const Args& args, int32_t fallback) {
    return static_cast<int32_t>(args.get_int("--n-predict", fallback, 0, kMaxTokensOption));
}

} // namespace latent::cli
