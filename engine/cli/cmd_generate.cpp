// `latent run` (one prompt, streamed) and `latent chat` (interactive, multi-turn, reusing the
// KV cache across turns). Text goes to stdout as it is generated; statistics and the stop
// reason go to stderr.
#include "cli_files.h"
#include "commands.h"
#include "docs_support.h"
#include "run_options.h"

#include "core/error.h"
#include "model/demo_model.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>

namespace latent::cli {
namespace {

std::atomic<bool> g_cancel{false};
std::atomic<bool> g_generating{false};

void on_sigint(int) {
    if (g_generating.load()) {
        g_cancel.store(true); // stop this answer; a second Ctrl+C while idle quits
    } else {
        std::signal(SIGINT, SIG_DFL);
        std::raise(SIGINT);
    }
}

void print_piece(std::string_view piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
}

void print_stats(const GenerationResult& r) {
    const GenerationStats& s = r.stats;
    std::fprintf(stderr, "\n[%s%s%s | prompt %u tokens (%u reused) at %.1f tokens/s | %u generated at %.2f tokens/s | first token after %.0f ms]\n",
                 std::string(stop_reason_name(r.reason)).c_str(), r.message.empty() ? "" : ": ", r.message.c_str(), s.n_prompt_tokens, s.n_reused,
                 s.prompt_tokens_per_s, s.n_generated, s.generation_tokens_per_s, s.time_to_first_token_ms);
}

// -m MODEL, or without it the built-in demo model, saying so and what it is.
std::unique_ptr<Model> load_model(const Args& args, std::string_view command) {
    ModelLoadOptions options;
    options.chat_format = args.get("--chat-format").value_or("");
    if (const auto path = args.get("--model")) return Model::load(*path, options);
    const auto demo = find_demo_model();
    if (!demo) {
        std::string looked;
        for (const auto& candidate : demo_model_candidates()) looked += (looked.empty() ? "" : ", ") + candidate.string();
        throw UsageError("'latent " + std::string(command) + "' needs --model (-m) MODEL; the built-in demo model is not installed (looked for " +
                         looked + ")");
    }
    std::fprintf(stderr, "No model given (-m): using the built-in demo model, %s.\n%s.\n", demo->c_str(), std::string(kDemoModelLabel).c_str());
    return Model::load(*demo, options);
}

// Resident memory split into anonymous (our own allocations: KV cache, buffers) and file-backed
// (pages of the mapped model), from /proc/self/status. Logged with -v.
void log_memory() {
    std::ifstream status("/proc/self/status");
    std::string line, out;
    while (std::getline(status, line)) {
        if (line.rfind("RssAnon:", 0) == 0 || line.rfind("RssFile:", 0) == 0 || line.rfind("VmHWM:", 0) == 0) {
            out += (out.empty() ? "" : ", ") + line.substr(0, line.find(':')) + " " + line.substr(line.find_first_not_of(" \t", line.find(':') + 1));
        }
    }
    spdlog::debug("memory: {}", out);
}

// The exit status of `run` for how the answer ended, with a line on stderr for every failure.
int run_exit_status(const GenerationResult& r) {
    switch (r.reason) {
    case StopReason::EndOfTurn:
    case StopReason::StopString:
    case StopReason::MaxTokens: return kExitOk;
    case StopReason::ContextFull:
        std::fprintf(stderr, "latent run: error: %s (raise --ctx or shorten the prompt)\n", r.message.c_str());
        return kExitContextFull;
    case StopReason::Cancelled: return kExitCancelled;
    case StopReason::Error: break;
    }
    std::fprintf(stderr, "latent run: error: %s\n", r.message.c_str());
    return kExitFailed;
}

// Without --ctx the context is 4096 positions, or the model's trained context when smaller.
BackendOptions with_default_context(const Args& args, BackendOptions options, const Model& model) {
    if (!args.get("--ctx")) options.n_ctx = std::min<uint32_t>(4096, model.config().n_ctx_train ? model.config().n_ctx_train : 4096);
    return options;
}

// --docs: refused before the model loads when this build has no document library or the index
// is missing.
std::optional<std::string> docs_option(const Args& args) {
    const auto docs = args.get("--docs");
    if (!docs) return std::nullopt;
    if (!documents_available()) ground_with_documents(*docs, "", {}, 0); // throws the reason
    if (!std::filesystem::is_regular_file(*docs)) throw Error("--docs: no document index at " + *docs + " (create one with 'latent docs index')");
    return docs;
}

size_t count_tokens(const Model& model, std::string_view text) { return model.tokenizer().encode(text, false, false).size(); }

// The tokens a list of messages takes, roughly (contents only; the format adds a few per turn).
size_t history_tokens(const Model& model, const std::vector<chat::ChatMessage>& messages) {
    size_t n = 0;
    for (const chat::ChatMessage& m : messages) n += count_tokens(model, m.content) + 8;
    return n;
}

void print_sources(const DocsQuestion& q) {
    if (q.source_lines.empty()) return;
    std::fputs("\n\nSources:\n", stdout);
    for (const std::string& line : q.source_lines) std::printf("%s\n", line.c_str());
    std::fflush(stdout);
}

constexpr size_t kTurnOverheadTokens = 64; // chat-format markers and the instruction's slack

} // namespace

int run_run(const std::vector<std::string>& argv) {
    std::vector<OptionSpec> specs = {
        {"--prompt", "-p", true, "the prompt text"},
        {"--file", "-f", true, "read the prompt from a file (at most 64 MiB; a FIFO or /dev/stdin is fine)"},
        {"--n-predict", "-n", true, "tokens to generate at most, 0 … 16777216 (default 256)"},
        {"--chat", "", false, "wrap the prompt as one user turn in the model's chat format"},
        {"--system", "", true, "system prompt (with --chat)"},
        {"--docs", "", true, "answer from this document index (latent docs index), citing its passages as [n]; implies --chat"},
        {"--help", "-h", false, "show this help"},
    };
    add_run_options(specs);
    const Args args = Args::parse("run", specs, argv);
    if (args.flag("--help")) {
        std::fputs(usage_text("run", "[-m MODEL] (-p TEXT | --file F) [-n N] [--temp T] [--top-k K] [--top-p P] [--min-p P] [--seed S] [--chat]", specs).c_str(), stdout);
        return 0;
    }
    const size_t sources = (args.get("--file") ? 1u : 0u) + (args.get("--prompt") ? 1u : 0u) + args.positional().size();
    if (sources != 1) throw UsageError("give the prompt once: with -p TEXT, --file F or as the one argument");
    // Every option is checked before the prompt is read or the model loaded.
    GenerationParams params = generation_params_from(args);
    params.max_new_tokens = max_new_tokens_from(args, 256);
    const BackendOptions backend_options = backend_options_from(args, 4096);
    std::string prompt;
    if (const auto file = args.get("--file")) {
        prompt = read_input_file(*file, "--file");
    } else if (const auto p = args.get("--prompt")) {
        prompt = *p;
    } else {
        prompt = args.positional().front();
    }
    const std::optional<std::string> docs = docs_option(args);
    const auto model = load_model(args, "run");
    const auto backend = make_backend(*model, args.get("--backend").value_or("auto"), with_default_context(args, backend_options, *model));
    Session session(*backend);

    std::signal(SIGINT, on_sigint);
    GenerationResult result;
    DocsQuestion grounded;
    if (args.flag("--chat") || docs) {
        std::vector<chat::ChatMessage> messages;
        if (const auto system = args.get("--system")) messages.push_back({chat::ChatMessage::System, *system});
        if (docs) {
            const size_t reserve = static_cast<size_t>(params.max_new_tokens) + history_tokens(*model, messages) + kTurnOverheadTokens;
            const size_t budget = backend->context_size() > reserve ? backend->context_size() - reserve : 0;
            grounded = ground_with_documents(*docs, prompt, [&](std::string_view t) { return count_tokens(*model, t); }, budget);
            messages.push_back({chat::ChatMessage::User, grounded.content});
        } else {
            messages.push_back({chat::ChatMessage::User, prompt});
        }
        g_generating = true;
        result = session.generate(messages, params, print_piece, &g_cancel);
    } else {
        // A raw prompt: BOS as the model asks, special-token texts parsed (so a hand-written
        // template works).
        g_generating = true;
        result = session.generate_tokens(model->tokenizer().encode(prompt, true, true), params, print_piece, &g_cancel);
    }
    g_generating = false;
    print_sources(grounded);
    print_stats(result);
    log_memory();
    return run_exit_status(result);
}

int run_chat(const std::vector<std::string>& argv) {
    std::vector<OptionSpec> specs = {
        {"--system", "", true, "system prompt"},
        {"--n-predict", "-n", true, "tokens per answer at most, 0 … 16777216 (default 1024)"},
        {"--docs", "", true, "answer from this document index (latent docs index), citing its passages as [n]"},
        {"--help", "-h", false, "show this help"},
    };
    add_run_options(specs);
    const Args args = Args::parse("chat", specs, argv);
    if (args.flag("--help")) {
        std::fputs(usage_text("chat", "[-m MODEL] [--system TEXT] [sampling options]", specs).c_str(), stdout);
        return 0;
    }
    GenerationParams params = generation_params_from(args);
    params.max_new_tokens = max_new_tokens_from(args, 1024);
    const BackendOptions backend_options = backend_options_from(args, 4096);
    const std::optional<std::string> docs = docs_option(args);
    const auto model = load_model(args, "chat");
    const auto backend = make_backend(*model, args.get("--backend").value_or("auto"), with_default_context(args, backend_options, *model));
    Session session(*backend);

    std::vector<chat::ChatMessage> messages;
    if (const auto system = args.get("--system")) messages.push_back({chat::ChatMessage::System, *system});
    std::fprintf(stderr, "%s: %s chat format, %u-token context on the %s backend. Type a message and press Enter; /reset starts over, "
                         "/exit or Ctrl+D quits, Ctrl+C stops an answer.\n",
                 model->config().name.c_str(), chat::describe_chat_format_choice(model->chat_format()).c_str(), backend->context_size(),
                 std::string(backend->name()).c_str());
    std::signal(SIGINT, on_sigint);
    std::string line;
    while (true) {
        std::fputs("> ", stderr);
        std::fflush(stderr);
        if (!read_input_line(stdin, line)) break;
        if (line == "/exit" || line == "/quit") break;
        if (line == "/reset") {
            messages.erase(std::remove_if(messages.begin(), messages.end(), [](const auto& m) { return m.role != chat::ChatMessage::System; }), messages.end());
            session.reset();
            std::fputs("(conversation cleared)\n", stderr);
            continue;
        }
        if (line.empty()) continue;
        DocsQuestion grounded;
        if (docs) {
            // Passages get at least a third of the context: the oldest turns go first.
            const size_t context = backend->context_size();
            const size_t fixed = static_cast<size_t>(params.max_new_tokens) + kTurnOverheadTokens + count_tokens(*model, line);
            const auto first_turn = [&] { return messages.begin() + (!messages.empty() && messages.front().role == chat::ChatMessage::System ? 1 : 0); };
            while (first_turn() != messages.end() && fixed + history_tokens(*model, messages) + context / 3 > context) {
                messages.erase(first_turn(), std::min(first_turn() + 2, messages.end()));
            }
            const size_t used = fixed + history_tokens(*model, messages);
            grounded = ground_with_documents(*docs, line, [&](std::string_view t) { return count_tokens(*model, t); }, context > used ? context - used : 0);
        }
        messages.push_back({chat::ChatMessage::User, docs ? grounded.content : line});
        g_cancel = false;
        g_generating = true;
        const GenerationResult result = session.generate(messages, params, print_piece, &g_cancel);
        g_generating = false;
        // The history keeps the question; its passages were for this turn.
        if (docs) messages.back().content = line;
        print_sources(grounded);
        print_stats(result);
        if (result.model_file_changed) throw Error(result.message); // every later turn would fail the same way
        if (result.reason == StopReason::ContextFull && result.text.empty()) {
            messages.pop_back();
            std::fputs("(the conversation no longer fits the context; /reset to start over or use a larger --ctx)\n", stderr);
            continue;
        }
        // Keep the answer as the model will see it again: without its reasoning.
        messages.push_back({chat::ChatMessage::Assistant, chat::split_reasoning(result.text, result.started_in_reasoning).answer});
    }
    return 0;
}

} // namespace latent::cli
