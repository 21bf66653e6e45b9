// `latent make-model --shape PRESET --type SCHEME --out FILE [--seed S]`: a random-weight model
// of a real shape with valid blocks of the requested types, so performance can be measured at
// real sizes without downloading weights. Text generated with it is gibberish.
#include "cli_args.h"
#include "cli_files.h"
#include "commands.h"

#include "core/error.h"
#include "model/model_builder.h"

#include <chrono>
#include <cstdio>
#include <unistd.h>

namespace latent::cli {
namespace {

const std::vector<OptionSpec> kOptions = {
    {"--shape", "-s", true, "tiny, tiny-v3, tiny-legacy, v2-lite (the real DeepSeek-V2-Lite shape), v3-small (alias v3: V3-style, scaled down)"},
    {"--type", "", true, "f32, f32e, f16, bf16, q8_0, q4_0, q4_k_m (llama.cpp's Q4_K_M rules)"},
    {"--out", "-o", true, "output .gguf file"},
    {"--seed", "", true, "random seed, 0 … 2^64-1 (default 1); the file is a pure function of shape, type and seed"},
    {"--help", "-h", false, "show this help"},
};

std::string join(const std::vector<std::string_view>& names) {
    std::string out;
    for (auto n : names) out += (out.empty() ? "" : ", ") + std::string(n);
    return out;
}

} // namespace

int run_make_model(const std::vector<std::string>& argv) {
    const Args args = Args::parse("make-model", kOptions, argv);
    if (args.flag("--help")) {
        std::fputs(usage_text("make-model", "--shape PRESET --type SCHEME --out FILE [--seed S]", kOptions).c_str(), stdout);
        return 0;
    }
    std::string shape_name = args.require("--shape");
    if (shape_name == "v3") shape_name = "v3-small"; // V3 itself (671 B parameters) is not a benchmark file
    const auto shape = model_shape_preset(shape_name);
    if (!shape) throw Error("unknown shape '" + shape_name + "' (" + join(model_shape_preset_names()) + ")");
    const std::string type_name = args.require("--type");
    const auto scheme = weight_scheme_from_name(type_name);
    if (!scheme) throw Error("unknown type '" + type_name + "' (" + join(weight_scheme_names()) + ")");
    const uint64_t seed = args.get_u64("--seed", 1);
    const std::string out = args.require("--out");
    check_output_file(out, "--out");

    BuildOptions options;
    options.scheme = *scheme;
    options.seed = seed;
    const bool tty = isatty(STDERR_FILENO) != 0;
    int last_percent = -1;
    options.progress = [&](uint64_t done, uint64_t total) {
        const int percent = total ? static_cast<int>(100.0 * static_cast<double>(done) / static_cast<double>(total)) : 100;
        if (percent == last_percent || (!tty && percent % 10 != 0)) return;
        last_percent = percent;
        std::fprintf(stderr, tty ? "\rwriting: %3d%%" : "writing: %d%%\n", percent);
        std::fflush(stderr);
    };
    const auto start = std::chrono::steady_clock::now();
    const BuildResult result = build_model_file(*shape, options, out);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (tty) std::fputc('\n', stderr);
    std::printf("wrote %s: shape %s, type %s, %llu tensors, %.3f B parameters, %.2f GiB of tensor data in %.1f s\n", out.c_str(), shape_name.c_str(),
                type_name.c_str(), static_cast<unsigned long long>(result.tensor_count), static_cast<double>(result.parameter_count) / 1e9,
                static_cast<double>(result.data_bytes) / (1024.0 * 1024.0 * 1024.0), seconds);
    return 0;
}

} // namespace latent::cli
