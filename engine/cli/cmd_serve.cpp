// `latent serve -m MODEL`: the OpenAI-compatible HTTP server (engine/server/). Options are all
// checked before the model is loaded; the line "listening on http://HOST:PORT" on stdout says
// the server is ready (with --port 0, which port it got).
#include "cli_args.h"
#include "commands.h"
#include "run_options.h"

#include "backend/multi_sequence.h"
#include "core/error.h"
#include "engine.h"
#include "server/http_security.h"
#include "server/http_server.h"
#include "server/scheduler.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

namespace latent::cli {
namespace {

std::vector<std::string> split_commas(const std::string& s) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= s.size()) {
        const size_t comma = std::min(s.find(',', start), s.size());
        if (comma > start) out.push_back(s.substr(start, comma - start));
        start = comma + 1;
    }
    return out;
}

} // namespace

int run_serve(const std::vector<std::string>& argv) {
    const std::vector<OptionSpec> specs = {
        {"--model", "-m", true, "GGUF model file"},
        {"--backend", "-b", true, "cpu (default; batches all sequences in one pass) or ref (the float32 oracle, one sequence after another)"},
        {"--parallel", "-np", true, "sequences served at once, each with its own KV cache, 1 … 64 (default 4)"},
        {"--ctx", "-c", true, "context length of each sequence, 16 … 16777216 (default 4096, at most the model's)"},
        {"--threads", "-t", true, "CPU threads, 0 … 1024 (default 0: all)"},
        {"--cache-type", "", true, "KV cache element type: f16 (default) or f32"},
        {"--chat-format", "", true, "force a chat format: deepseek2, deepseek3, r1, kimi-k2, chatml, deepseek-coder"},
        {"--host", "", true, "address to listen on (default 127.0.0.1; anything else needs --api-key or --no-auth)"},
        {"--port", "", true, "TCP port, 0 … 65535 (default 8080; 0: any free port, printed)"},
        {"--api-key", "", true, "the key clients must send (Authorization: Bearer KEY); also read from LATENT_API_KEY"},
        {"--no-auth", "", false, "serve a non-loopback --host without a key (anyone who can reach the port can use it)"},
        {"--allow-host", "", true, "extra names accepted in the Host header, comma-separated (e.g. the machine's DNS name)"},
        {"--cors", "", true, "allow cross-origin requests from this one origin (e.g. http://localhost:3000), or * for any"},
        {"--alias", "", true, "the model name /v1/models lists (default: the file name without .gguf)"},
        {"--max-queue", "", true, "requests waiting for a free sequence before 429, 0 … 4096 (default 16)"},
        {"--max-connections", "", true, "open connections before 503, 1 … 65536 (default 256)"},
        {"--max-body", "", true, "largest request body in bytes before 413, 1024 … 268435456 (default 4194304)"},
        {"--max-messages", "", true, "messages per chat request, 1 … 100000 (default 1024)"},
        {"--max-tokens", "", true, "largest max_tokens a request may ask for, 1 … 16777216 (default 4096)"},
        {"--default-max-tokens", "", true, "max_tokens when a request does not say, 1 … 16777216 (default 1024)"},
        {"--max-prompt-tokens", "", true, "prompt tokens per request, 1 … context − 1 (default context − 1)"},
        {"--idle-timeout", "", true, "seconds a client may stay silent while sending a request, 1 … 3600 (default 30)"},
        {"--request-timeout", "", true, "seconds one generation may run, 1 … 86400 (default 600)"},
        {"--prefill-chunk", "", true, "prompt tokens per prefill step, 1 … 4096 (default 256)"},
        {"--sse-ping-ms", "", true, "SSE comment ping interval while a stream waits, 10 … 600000 (default 5000)"},
        {"--help", "-h", false, "show this help"},
    };
    const Args args = Args::parse("serve", specs, argv);
    if (args.flag("--help")) {
        std::fputs(usage_text("serve", "-m MODEL [--parallel N] [--host ADDR --api-key KEY] [--port P]", specs).c_str(), stdout);
        return 0;
    }

    server::ServerOptions options;
    options.host = args.get("--host").value_or("127.0.0.1");
    options.port = static_cast<uint16_t>(args.get_int("--port", 8080, 0, 65535));
    options.api_key = args.get("--api-key").value_or("");
    if (options.api_key.empty()) {
        if (const char* env = std::getenv("LATENT_API_KEY")) options.api_key = env;
    }
    const bool no_auth = args.flag("--no-auth");
    if (no_auth && !options.api_key.empty()) throw UsageError("--no-auth and an API key contradict each other; give one");
    if (!server::is_loopback_host(options.host) && options.api_key.empty() && !no_auth) {
        throw UsageError("--host " + options.host + " makes the server reachable from other machines: give --api-key KEY (or LATENT_API_KEY), or --no-auth to serve without a key");
    }
    if (args.get("--allow-host")) options.allowed_hosts = split_commas(*args.get("--allow-host"));
    options.cors_origin = args.get("--cors").value_or("");
    options.max_connections = static_cast<uint32_t>(args.get_int("--max-connections", 256, 1, 65536));
    options.max_body_bytes = static_cast<size_t>(args.get_int("--max-body", 4 << 20, 1024, 256 << 20));
    options.idle_seconds = static_cast<uint32_t>(args.get_int("--idle-timeout", 30, 1, 3600));
    options.max_request_seconds = static_cast<uint32_t>(args.get_int("--request-timeout", 600, 1, 86400));
    options.sse_ping_ms = static_cast<uint32_t>(args.get_int("--sse-ping-ms", 5000, 10, 600000));
    options.limits.max_messages = static_cast<uint32_t>(args.get_int("--max-messages", 1024, 1, 100000));
    options.limits.max_tokens = static_cast<int32_t>(args.get_int("--max-tokens", 4096, 1, 1 << 24));
    options.limits.default_max_tokens = static_cast<int32_t>(std::min<int64_t>(args.get_int("--default-max-tokens", 1024, 1, 1 << 24), options.limits.max_tokens));
    server::SchedulerOptions scheduler_options;
    scheduler_options.max_queue = static_cast<uint32_t>(args.get_int("--max-queue", 16, 0, 4096));
    scheduler_options.prefill_chunk = static_cast<uint32_t>(args.get_int("--prefill-chunk", 256, 1, 4096));
    scheduler_options.max_prompt_tokens = static_cast<uint32_t>(args.get_int("--max-prompt-tokens", 0, 1, 1 << 24));
    const auto n_parallel = static_cast<uint32_t>(args.get_int("--parallel", 4, 1, 64));
    const std::string backend_name = args.get("--backend").value_or("cpu");
    if (backend_name != "cpu" && backend_name != "ref") throw UsageError("--backend must be cpu or ref for latent serve, got '" + backend_name + "'");
    BackendOptions backend_options = backend_options_from(args, 4096);
    if (backend_options.n_ctx < 16) throw UsageError("--ctx must be at least 16 for latent serve");

    ModelLoadOptions load_options;
    load_options.chat_format = args.get("--chat-format").value_or("");
    const std::string model_path = args.require("--model");
    const auto model = Model::load(model_path, load_options);
    if (!args.get("--ctx")) backend_options.n_ctx = std::min<uint32_t>(4096, model->config().n_ctx_train ? model->config().n_ctx_train : 4096);
    options.model_id = args.get("--alias").value_or(std::filesystem::path(model_path).stem().string());

    std::unique_ptr<MultiSequenceBackend> backend;
    if (backend_name == "cpu") {
        backend = create_cpu_multi_backend(*model, backend_options, n_parallel);
    } else {
        std::vector<std::unique_ptr<Backend>> singles;
        for (uint32_t i = 0; i < n_parallel; ++i) singles.push_back(create_ref_backend(*model, backend_options));
        backend = create_sequential_multi_backend(std::move(singles));
    }
    server::Scheduler scheduler(*backend, scheduler_options);
    server::HttpServer http(scheduler, options);
    if (no_auth && !server::is_loopback_host(options.host)) {
        spdlog::warn("serving on {} WITHOUT an API key (--no-auth): anyone who can reach port {} can use this model", options.host, http.port());
    }
    const std::string shown_host = options.host.find(':') != std::string::npos ? "[" + options.host + "]" : options.host;
    std::printf("latent serve: listening on http://%s:%u (model %s, %u sequences of %u tokens, %s backend%s)\n", shown_host.c_str(), http.port(),
                options.model_id.c_str(), n_parallel, backend_options.n_ctx, backend_name.c_str(), options.api_key.empty() ? ", no API key" : ", API key required");
    std::fflush(stdout);
    http.run();
    scheduler.stop();
    std::printf("latent serve: stopped\n");
    return kExitOk;
}

} // namespace latent::cli
