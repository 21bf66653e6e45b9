#include "run_options.h"

#include "core/error.h"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <random>

namespace latent::cli {
namespace {

float parse_float(const Args& args, std::string_view name, float fallback) {
    const auto v = args.get(name);
    if (!v) return fallback;
    char* end = nullptr;
    const float f = std::strtof(v->c_str(), &end);
    if (v->empty() || *end != '\0') throw Error("option " + std::string(name) + " expects a number, got '" + *v + "'");
    return f;
}

} // namespace

void add_run_options(std::vector<OptionSpec>& specs) {
    const std::vector<OptionSpec> shared = {
        {"--model", "-m", true, "GGUF model file"},
        {"--backend", "-b", true, "auto (default), cpu, ref or cuda"},
        {"--ctx", "-c", true, "context length in tokens (default 4096, at most the model's)"},
        {"--threads", "-t", true, "CPU threads (default: all)"},
        {"--cache-type", "", true, "KV cache element type: f16 (default) or f32"},
        {"--temp", "", true, "temperature (default 0.8; 0 = greedy)"},
        {"--top-k", "", true, "keep the k most likely tokens (default 40; 0 = off)"},
        {"--top-p", "", true, "nucleus sampling threshold (default 0.95; 1 = off)"},
        {"--min-p", "", true, "drop tokens below this fraction of the best (default 0.05; 0 = off)"},
        {"--repeat-penalty", "", true, "penalty for recent tokens (default 1.0 = off)"},
        {"--presence-penalty", "", true, "subtracted from recent tokens' logits (default 0)"},
        {"--seed", "", true, "random seed (default: random)"},
        {"--chat-format", "", true, "force a chat format: deepseek2, deepseek3, r1, kimi-k2, chatml, deepseek-coder"},
    };
    specs.insert(specs.begin(), shared.begin(), shared.end());
}

std::unique_ptr<Backend> make_backend(const Model& model, const std::string& name, const BackendOptions& options) {
    const auto kind = backend_kind_from_name(name);
    if (!kind) throw Error("unknown backend '" + name + "' (auto, cpu, ref or cuda)");
    std::string note;
    auto backend = create_backend(model, *kind, options, &note);
    if (!note.empty()) spdlog::warn("{}", note);
    return backend;
}

BackendOptions backend_options_from(const Args& args, uint32_t default_ctx) {
    BackendOptions options;
    const int64_t ctx = args.get_int("--ctx", default_ctx);
    if (ctx < 1 || ctx > (int64_t{1} << 24)) throw Error("--ctx must be between 1 and 16777216");
    options.n_ctx = static_cast<uint32_t>(ctx);
    const int64_t threads = args.get_int("--threads", 0);
    if (threads < 0 || threads > 1024) throw Error("--threads must be between 0 and 1024");
    options.n_threads = static_cast<uint32_t>(threads);
    const std::string cache = args.get("--cache-type").value_or("f16");
    if (cache != "f16" && cache != "f32") throw Error("--cache-type must be f16 or f32");
    options.cache_type = cache == "f32" ? KvCacheType::F32 : KvCacheType::F16;
    return options;
}

GenerationParams generation_params_from(const Args& args) {
    GenerationParams p;
    auto& s = p.sampling;
    s.temperature = parse_float(args, "--temp", s.temperature);
    s.top_k = static_cast<int32_t>(args.get_int("--top-k", s.top_k));
    s.top_p = parse_float(args, "--top-p", s.top_p);
    s.min_p = parse_float(args, "--min-p", s.min_p);
    s.repeat_penalty = parse_float(args, "--repeat-penalty", s.repeat_penalty);
    s.presence_penalty = parse_float(args, "--presence-penalty", s.presence_penalty);
    if (args.get("--seed")) {
        const int64_t seed = args.get_int("--seed", 0);
        if (seed < 0) throw Error("--seed must not be negative");
        s.seed = static_cast<uint64_t>(seed);
    } else {
        s.seed = std::random_device{}();
    }
    sampling::Sampler check(s); // validates the values, naming a bad field
    return p;
}

} // namespace latent::cli
