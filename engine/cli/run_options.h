// Options shared by the commands that load a model and generate: model, backend, context,
// threads and sampling.
#pragma once

#include "cli_args.h"

#include "session/backend_factory.h"
#include "session/session.h"

#include <memory>
#include <vector>

namespace latent::cli {

// Appends the shared option specs (model, backend, context, threads, cache type, sampling).
void add_run_options(std::vector<OptionSpec>& specs);

// A backend by --backend name ("auto", "ref", "cpu", "cuda"); a fallback (e.g. cuda not built)
// is logged as a warning.
std::unique_ptr<Backend> make_backend(const Model& model, const std::string& name, const BackendOptions& options);

// The ranges of the numeric options, one place for every command (README lists them).
inline constexpr int64_t kMaxContextOption = int64_t{1} << 24; // --ctx: 1 … 16777216 positions
inline constexpr int64_t kMaxThreadsOption = 1024;             // --threads: 0 (all) … 1024
inline constexpr int64_t kMaxTokensOption = int64_t{1} << 24;  // -n / --n-predict: 0 … 16777216
inline constexpr int64_t kMaxTopKOption = 1000000;             // --top-k: 0 (off) … 1000000
inline constexpr double kMaxTemperatureOption = 100.0;         // --temp: 0 (greedy) … 100
inline constexpr double kMaxPenaltyOption = 100.0;             // --repeat-penalty 0.01 … 100, --presence-penalty −100 … 100

// The options of the cuda backend: --experts-on-cpu N|all, --no-gpu-graphs.
std::vector<OptionSpec> gpu_option_specs();
// `specs` with the GPU options inserted before its last entry (--help).
std::vector<OptionSpec> with_gpu_options(std::vector<OptionSpec> specs);
// Applies them (and checks their ranges) to `options`.
void apply_gpu_options(const Args& args, BackendOptions& options);

BackendOptions backend_options_from(const Args& args, uint32_t default_ctx);
// --threads in 0 … kMaxThreadsOption (0: one per hardware thread).
uint32_t threads_from(const Args& args);
// --cache-type: "f16" or "f32", else a UsageError; `fallback` when absent.
KvCacheType cache_type_from(const Args& args, KvCacheType fallback);
// The sampling options and --seed (−1 or absent: a random seed; else 0 … 2^64 − 1).
GenerationParams generation_params_from(const Args& args);
// -n / --n-predict in 0 … kMaxTokensOption.
int32_t max_new_tokens_from(const Args& args, int32_t fallback);

} // namespace latent::cli
