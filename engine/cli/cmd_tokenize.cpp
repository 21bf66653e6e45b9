// `latent tokenize -m MODEL (--file F | TEXT) [--add-bos] [--parse-special]`: the token ids of
// a text as a JSON array on one line. Only the vocabulary is read, so vocabulary-only GGUF
// files work too.
#include "cli_args.h"
#include "cli_files.h"
#include "commands.h"

#include "core/error.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>

namespace latent::cli {
namespace {

const std::vector<OptionSpec> kOptions = {
    {"--model", "-m", true, "GGUF model (or vocabulary-only GGUF) file"},
    {"--file", "-f", true, "read the text from this file (byte for byte, at most 64 MiB) instead of the argument"},
    {"--add-bos", "", false, "prepend the BOS token"},
    {"--parse-special", "", false, "match special-token texts such as <｜User｜> as single tokens"},
    {"--pre", "", true, "override the pre-tokenizer (deepseek-llm, deepseek-v3, deepseek-coder)"},
    {"--help", "-h", false, "show this help"},
};

} // namespace

int run_tokenize(const std::vector<std::string>& argv) {
    const Args args = Args::parse("tokenize", kOptions, argv);
    if (args.flag("--help")) {
        std::fputs(usage_text("tokenize", "-m MODEL (--file F | TEXT) [--add-bos] [--parse-special]", kOptions).c_str(), stdout);
        return 0;
    }
    std::string text;
    if (const auto file = args.get("--file")) {
        if (!args.positional().empty()) throw Error("give the text either as an argument or with --file, not both");
        text = read_input_file(*file, "--file");
    } else {
        if (args.positional().size() != 1) throw Error("give exactly one TEXT argument (quote it), or --file F");
        text = args.positional().front();
    }
    const auto files = gguf::ModelFiles::open(args.require("--model"));
    const auto start = std::chrono::steady_clock::now();
    tokenizer::Vocabulary vocabulary = tokenizer::load_vocabulary(files->main());
    if (const auto pre = args.get("--pre")) vocabulary.pre = *pre;
    const tokenizer::Tokenizer tok(std::move(vocabulary));
    const auto loaded = std::chrono::steady_clock::now();

    std::vector<int32_t> ids = tok.encode(text, false, args.flag("--parse-special"));
    if (args.flag("--add-bos")) {
        if (!tok.bos()) throw Error("--add-bos: the vocabulary has no BOS token");
        ids.insert(ids.begin(), *tok.bos());
    }
    const auto done = std::chrono::steady_clock::now();
    spdlog::debug("vocabulary loaded in {:.1f} ms, {} bytes tokenized into {} ids in {:.2f} ms",
                  std::chrono::duration<double, std::milli>(loaded - start).count(), text.size(), ids.size(),
                  std::chrono::duration<double, std::milli>(done - loaded).count());
    std::string out = "[";
    for (size_t i = 0; i < ids.size(); ++i) {
        if (i) out += ',';
        out += std::to_string(ids[i]);
    }
    out += "]\n";
    std::fputs(out.c_str(), stdout);
    return 0;
}

} // namespace latent::cli
