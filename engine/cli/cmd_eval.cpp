// `latent eval -m MODEL --file PROMPT [--top N] [--greedy N] [--backend auto|cuda|cpu|ref]`: logits of
// a prompt evaluated in one batch, as one JSON object in the conformance kit's shape:
//   {"tokens": [...], "positions": [{"lse": L, "top": [[id, logit], ...]}, ...], "greedy": [...]}
// positions[i] describes the logits after tokens 0..i; greedy continues one token at a time.
#include "run_options.h"
#include "cli_args.h"
#include "cli_files.h"
#include "commands.h"

#include "core/error.h"
#include "core/json_writer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

namespace latent::cli {
namespace {

const std::vector<OptionSpec> kOptions = with_gpu_options({
    {"--model", "-m", true, "GGUF model file"},
    {"--file", "-f", true, "prompt text file, at most 64 MiB (tokenized with BOS per the model and special tokens parsed)"},
    {"--top", "", true, "logits listed per position, 1 … 1000000 (default 8)"},
    {"--greedy", "", true, "greedy continuation tokens, 0 … 65536 (default 24)"},
    {"--backend", "-b", true, "auto (default), cuda, cpu or ref"},
    {"--threads", "-t", true, "CPU threads, 0 … 1024 (default 0: all)"},
    {"--cache-type", "", true, "KV cache element type: f32 (default here), f16 or bf16 (cuda)"},
    {"--help", "-h", false, "show this help"},
});

double log_sum_exp(const float* v, size_t n) {
    const float max = *std::max_element(v, v + n);
    double sum = 0.0;
    for (size_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(v[i]) - max);
    return max + std::log(sum);
}

} // namespace

int run_eval(const std::vector<std::string>& argv) {
    const Args args = Args::parse("eval", kOptions, argv);
    if (args.flag("--help")) {
        std::fputs(usage_text("eval", "-m MODEL --file PROMPT [--top N] [--greedy N] [--backend auto|cuda|cpu|ref]", kOptions).c_str(), stdout);
        return 0;
    }
    const int64_t top = args.get_int("--top", 8, 1, 1000000), greedy = args.get_int("--greedy", 24, 0, 65536);
    BackendOptions options;
    options.cache_type = cache_type_from(args, KvCacheType::F32);
    options.n_threads = threads_from(args);
    const std::string text = read_input_file(args.require("--file"), "--file");

    const auto model = Model::load(args.require("--model"));
    const std::vector<int32_t> tokens = model->tokenizer().encode(text, true, true);
    if (tokens.empty()) throw Error("the prompt is empty");
    const size_t n_vocab = model->config().n_vocab;
    // Every position's logits are kept: bound them (1 GiB of floats) before allocating.
    constexpr size_t kMaxLogits = size_t{1} << 28;
    if (tokens.size() > kMaxLogits / std::max<size_t>(n_vocab, 1) || tokens.size() + static_cast<size_t>(greedy) + 1 > static_cast<size_t>(kMaxContextOption)) {
        throw Error("the prompt is " + std::to_string(tokens.size()) + " tokens; eval lists logits for at most " +
                    std::to_string(std::min<size_t>(kMaxLogits / std::max<size_t>(n_vocab, 1), static_cast<size_t>(kMaxContextOption) - 1)) +
                    " positions of this model");
    }
    options.n_ctx = static_cast<uint32_t>(tokens.size() + static_cast<size_t>(greedy) + 1);
    apply_gpu_options(args, options);
    const auto backend = make_backend(*model, args.get("--backend").value_or("auto"), options);

    std::vector<uint32_t> rows(tokens.size());
    std::iota(rows.begin(), rows.end(), 0u);
    std::vector<float> logits(rows.size() * n_vocab);
    backend->evaluate(tokens, rows, logits.data());

    JsonWriter j;
    j.begin_object().key("tokens").begin_array();
    for (int32_t t : tokens) j.value(static_cast<int64_t>(t));
    j.end_array().key("positions").begin_array();
    std::vector<int32_t> order(n_vocab);
    const size_t k = std::min<size_t>(static_cast<size_t>(top), n_vocab);
    for (size_t p = 0; p < rows.size(); ++p) {
        const float* row = logits.data() + p * n_vocab;
        std::iota(order.begin(), order.end(), 0);
        std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(), [&](int32_t a, int32_t b) {
            return row[a] > row[b] || (row[a] == row[b] && a < b);
        });
        j.begin_object().key("lse").value(log_sum_exp(row, n_vocab), 8).key("top").begin_array();
        for (size_t i = 0; i < k; ++i) j.begin_array().value(static_cast<int64_t>(order[i])).value(static_cast<double>(row[order[i]]), 8).end_array();
        j.end_array().end_object();
    }
    j.end_array().key("greedy").begin_array();
    std::vector<float> last(logits.end() - static_cast<std::ptrdiff_t>(n_vocab), logits.end());
    const uint32_t zero = 0;
    for (int64_t g = 0; g < greedy; ++g) {
        const int32_t next = static_cast<int32_t>(std::max_element(last.begin(), last.end()) - last.begin());
        j.value(static_cast<int64_t>(next));
        if (g + 1 < greedy) backend->evaluate(std::span<const int32_t>(&next, 1), std::span<const uint32_t>(&zero, 1), last.data());
    }
    j.end_array().end_object();
    std::printf("%s\n", j.str().c_str());
    return 0;
}

} // namespace latent::cli
