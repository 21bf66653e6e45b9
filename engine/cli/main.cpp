// `latent`: the command-line face of the engine, and the contract other tools and tests rely
// on. Results go to stdout; errors go to stderr with a non-zero exit status (commands.h: 1 a
// failure, 2 a wrong command line, 3 a bug, 4 a full context, 130 Ctrl+C); logging goes
// through spdlog to stderr (-v for debug).
#include "cli_args.h"
#include "commands.h"

#include "core/error.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

namespace {

struct Command {
    const char* name;
    const char* summary;
    int (*run)(const std::vector<std::string>&);
};

const Command kCommands[] = {
    {"info", "describe a model file: shapes, parameters, types, tokenizer, chat format, KV cache", latent::cli::run_info},
    {"tokenize", "print the token ids of a text as a JSON array", latent::cli::run_tokenize},
    {"dump", "write one tensor, decoded to little-endian float32, to stdout", latent::cli::run_dump},
    {"eval", "logits of a prompt evaluated in one batch, as JSON (conformance format)", latent::cli::run_eval},
    {"run", "generate text from a prompt, streamed", latent::cli::run_run},
    {"chat", "interactive multi-turn chat in the terminal", latent::cli::run_chat},
    {"bench", "prompt and generation tokens/s and achieved memory bandwidth", latent::cli::run_bench},
    {"devices", "list the NVIDIA GPUs this binary can use, or say why there are none", latent::cli::run_devices},
    {"bench-parallel", "generation tokens/s of 1, 2, 4, 8 sequences decoded together (as latent serve --parallel)", latent::cli::run_bench_parallel},
    {"serve", "OpenAI-compatible HTTP server: /v1/chat/completions, /v1/completions, many sequences batched", latent::cli::run_serve},
    {"make-model", "write a random-weight model of a real shape (for benchmarks and tests)", latent::cli::run_make_model},
    {"docs", "index files and folders, search them, list them (document Q&A; run/chat --docs; needs latent-chat)", latent::cli::run_docs},
};

void print_help() {
    std::printf("latent %s - run DeepSeek-architecture GGUF models locally\n\nusage: latent [-v] COMMAND [options]\n\ncommands:\n", LATENT_VERSION);
    for (const Command& c : kCommands) std::printf("  %-10s %s\n", c.name, c.summary);
    std::printf("\n'latent COMMAND --help' shows a command's options. -v logs debug messages to stderr.\n");
}

} // namespace

int main(int argc, char** argv) {
    auto logger = spdlog::stderr_color_mt("latent");
    spdlog::set_default_logger(logger);
    spdlog::set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");
    spdlog::set_level(spdlog::level::warn);

    std::vector<std::string> args(argv + 1, argv + argc);
    // Global flags before the command.
    while (!args.empty() && (args.front() == "-v" || args.front() == "--verbose")) {
        spdlog::set_level(spdlog::level::debug);
        args.erase(args.begin());
    }
    if (args.empty() || args.front() == "-h" || args.front() == "--help" || args.front() == "help") {
        print_help();
        return args.empty() ? latent::cli::kExitUsage : latent::cli::kExitOk;
    }
    if (args.front() == "--version") {
        std::printf("latent %s\n", LATENT_VERSION);
        return 0;
    }
    const std::string name = args.front();
    args.erase(args.begin());
    // -v is also accepted after the command.
    for (auto it = args.begin(); it != args.end();) {
        if (*it == "-v" || *it == "--verbose") {
            spdlog::set_level(spdlog::level::debug);
            it = args.erase(it);
        } else {
            ++it;
        }
    }
    for (const Command& c : kCommands) {
        if (name != c.name) continue;
        try {
            return c.run(args);
        } catch (const latent::cli::UsageError& e) {
            std::fprintf(stderr, "latent %s: error: %s\n", c.name, e.what());
            return latent::cli::kExitUsage;
        } catch (const latent::Error& e) {
            std::fprintf(stderr, "latent %s: error: %s\n", c.name, e.what());
            return latent::cli::kExitFailed;
        } catch (const std::bad_alloc&) {
            std::fprintf(stderr, "latent %s: error: out of memory\n", c.name);
            return latent::cli::kExitFailed;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "latent %s: internal error: %s\n", c.name, e.what());
            return latent::cli::kExitInternal;
        }
    }
    std::fprintf(stderr, "latent: unknown command '%s' (see latent --help)\n", name.c_str());
    return latent::cli::kExitUsage;
}
