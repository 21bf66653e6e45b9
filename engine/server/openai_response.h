// The JSON bodies `latent serve` answers with, shaped as OpenAI's API documents them (and as
// llama-server, vLLM and SGLang send them): completion objects, streaming chunks, usage, the
// model list and error objects. Text is escaped by JsonWriter (invalid UTF-8 becomes U+FFFD).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace latent::server {

struct ResponseIdentity {
    std::string id;      // "chatcmpl-…" or "cmpl-…"
    int64_t created = 0; // Unix seconds
    std::string model;   // the model id the client named (or ours)
    bool chat = true;    // chat.completion(.chunk) or text_completion
};

struct Usage {
    uint32_t prompt_tokens = 0;
    uint32_t completion_tokens = 0;
};

// {"error": {"message", "type", "param", "code"}} (param and code null when empty).
std::string error_body(std::string_view message, std::string_view type, std::string_view param = {}, std::string_view code = {});

// One streaming chunk. Chat: choices[0].delta holds role (when given), content and
// reasoning_content (each only when non-empty); completions: choices[0].text. finish_reason is
// null when empty.
std::string stream_chunk(const ResponseIdentity& id, std::string_view role, std::string_view content, std::string_view reasoning,
                         std::string_view finish_reason);
// The last chunk of stream_options.include_usage: empty choices and the usage.
std::string usage_chunk(const ResponseIdentity& id, const Usage& usage);
// The whole (non-streaming) response.
std::string full_response(const ResponseIdentity& id, std::string_view content, std::string_view reasoning, std::string_view finish_reason,
                          const Usage& usage);
// GET /v1/models.
std::string models_body(std::string_view model_id, int64_t created);

} // namespace latent::server
