// OpenAI-compatible request bodies (`POST /v1/chat/completions`, `POST /v1/completions`) →
// what the scheduler runs. Every field the server honours is type- and range-checked; fields
// it cannot honour (n > 1, tools, logprobs, logit_bias, images, unknown roles) are refused with
// a message naming the field, never silently ignored. Fields that do not change the output
// (user, metadata, …) are ignored. No parameter names a file or path.
#pragma once

#include "chat/chat_format.h"
#include "core/error.h"
#include "session/session.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace latent::server {

// An error to send as OpenAI's {"error": {"message", "type", "param", "code"}}.
class ApiError : public Error {
public:
    ApiError(int http_status, std::string error_type, const std::string& message, std::string error_param = {}, std::string error_code = {})
        : Error(message), status(http_status), type(std::move(error_type)), param(std::move(error_param)), code(std::move(error_code)) {}
    int status;        // HTTP status
    std::string type;  // "invalid_request_error", "authentication_error", …
    std::string param; // the offending field, or empty
    std::string code;  // a machine-readable code, or empty
};

// The limits a request must keep (command-line options of `latent serve`).
struct RequestLimits {
    uint32_t max_messages = 1024;       // messages in one chat request
    int32_t max_tokens = 4096;          // the largest max_tokens a client may ask for
    int32_t default_max_tokens = 1024;  // when the client does not say
    uint32_t max_stop_strings = 4;      // as OpenAI
    uint32_t max_stop_bytes = 256;      // each stop string
};

struct CompletionRequest {
    bool chat = true;                         // /v1/chat/completions (else /v1/completions)
    std::vector<chat::ChatMessage> messages;  // chat: the conversation
    std::string prompt;                       // completions: the raw prompt text
    std::string model;                        // as the client named it (echoed back)
    bool stream = false;
    bool include_usage = false;               // stream_options.include_usage
    bool seeded = false;                      // the client gave a seed
    bool ignore_eos = false;                  // keep generating past end-of-turn tokens (llama-server's and vLLM's
                                              // extension; benchmarks use it for fixed lengths)
    GenerationParams params;                  // sampling, max_new_tokens, stop strings
};

// Parses and checks a body. Throws ApiError (400, or 413-free: size is checked before) naming
// the field.
CompletionRequest parse_completion_request(std::string_view body, bool chat, const RequestLimits& limits);

} // namespace latent::server
