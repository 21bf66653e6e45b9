#include "server/openai_request.h"

#include "server/json_value.h"

#include <cmath>
#include <random>

namespace latent::server {
namespace {

using Type = JsonValue::Type;

[[noreturn]] void invalid(const std::string& param, const std::string& message) {
    throw ApiError(400, "invalid_request_error", message, param);
}

void expect(const JsonValue& v, Type type, const std::string& param) {
    if (v.type() != type) {
        invalid(param, "'" + param + "' must be a " + std::string(JsonValue::type_name(type)) + ", got " + std::string(JsonValue::type_name(v.type())));
    }
}

std::string describe(double x) {
    std::string s = std::to_string(x);
    while (s.size() > 1 && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
}

// A number field in [lo, hi]; absent or null leaves `out` unchanged.
void number_field(const JsonValue& body, const char* name, double lo, double hi, float& out) {
    const JsonValue* v = body.find(name);
    if (!v || v->is_null()) return;
    expect(*v, Type::Number, name);
    const double x = v->as_number();
    if (!(x >= lo && x <= hi)) invalid(name, std::string("'") + name + "' must be from " + describe(lo) + " to " + describe(hi) + ", got " + describe(x));
    out = static_cast<float>(x);
}

// An integer field in [lo, hi]; absent or null → nullopt.
std::optional<int64_t> integer_field(const JsonValue& body, const char* name, int64_t lo, int64_t hi) {
    const JsonValue* v = body.find(name);
    if (!v || v->is_null()) return std::nullopt;
    if (!v->is_integer()) {
        if (v->is_number() && v->as_number() == std::floor(v->as_number()) && std::abs(v->as_number()) < 9e15) {
            // 5.0 is an integer to JavaScript clients
        } else {
            invalid(name, std::string("'") + name + "' must be an integer, got " +
                              (v->is_number() ? describe(v->as_number()) : std::string(JsonValue::type_name(v->type()))));
        }
    }
    const int64_t x = v->is_integer() ? v->as_integer() : static_cast<int64_t>(v->as_number());
    if (x < lo || x > hi) invalid(name, std::string("'") + name + "' must be from " + std::to_string(lo) + " to " + std::to_string(hi) + ", got " + std::to_string(x));
    return x;
}

bool bool_field(const JsonValue& body, const char* name) {
    const JsonValue* v = body.find(name);
    if (!v || v->is_null()) return false;
    expect(*v, Type::Bool, name);
    return v->as_bool();
}

// A message's content: a string, or an array of {"type": "text", "text": …} parts.
std::string content_text(const JsonValue& content, const std::string& param) {
    if (content.is_string()) return content.as_string();
    if (!content.is_array()) invalid(param, "'" + param + "' must be a string or an array of text parts");
    std::string out;
    for (size_t i = 0; i < content.items().size(); ++i) {
        const JsonValue& part = content.items()[i];
        const std::string p = param + "[" + std::to_string(i) + "]";
        expect(part, Type::Object, p);
        const JsonValue* type = part.find("type");
        if (!type || !type->is_string()) invalid(p + ".type", "'" + p + ".type' must be a string");
        if (type->as_string() != "text") invalid(p + ".type", "content parts of type '" + type->as_string() + "' are not supported (text only)");
        const JsonValue* text = part.find("text");
        if (!text) invalid(p + ".text", "'" + p + ".text' is required");
        expect(*text, Type::String, p + ".text");
        out += text->as_string();
    }
    return out;
}

std::vector<chat::ChatMessage> parse_messages(const JsonValue& body, const RequestLimits& limits) {
    const JsonValue* messages = body.find("messages");
    if (!messages) invalid("messages", "'messages' is required");
    expect(*messages, Type::Array, "messages");
    if (messages->items().empty()) invalid("messages", "'messages' must hold at least one message");
    if (messages->items().size() > limits.max_messages) {
        invalid("messages", "too many messages: " + std::to_string(messages->items().size()) + " (this server takes at most " + std::to_string(limits.max_messages) + ")");
    }
    std::vector<chat::ChatMessage> out;
    for (size_t i = 0; i < messages->items().size(); ++i) {
        const JsonValue& m = messages->items()[i];
        const std::string p = "messages[" + std::to_string(i) + "]";
        expect(m, Type::Object, p);
        const JsonValue* role = m.find("role");
        if (!role) invalid(p + ".role", "'" + p + ".role' is required");
        expect(*role, Type::String, p + ".role");
        chat::ChatMessage message;
        const std::string& r = role->as_string();
        if (r == "system" || r == "developer") message.role = chat::ChatMessage::System;
        else if (r == "user") message.role = chat::ChatMessage::User;
        else if (r == "assistant") message.role = chat::ChatMessage::Assistant;
        else invalid(p + ".role", "unknown role '" + r + "' in " + p + " (system, developer, user or assistant)");
        const JsonValue* content = m.find("content");
        if (!content || content->is_null()) {
            if (message.role != chat::ChatMessage::Assistant) invalid(p + ".content", "'" + p + ".content' is required");
        } else {
            message.content = content_text(*content, p + ".content");
        }
        if (const JsonValue* calls = m.find("tool_calls"); calls && !calls->is_null()) invalid(p + ".tool_calls", "tool calls are not supported");
        out.push_back(std::move(message));
    }
    return out;
}

std::vector<std::string> parse_stop(const JsonValue& body, const RequestLimits& limits) {
    const JsonValue* stop = body.find("stop");
    if (!stop || stop->is_null()) return {};
    std::vector<std::string> out;
    auto add = [&](const JsonValue& v, const std::string& param) {
        expect(v, Type::String, param);
        if (v.as_string().empty()) invalid(param, "'" + param + "' must not be empty");
        if (v.as_string().size() > limits.max_stop_bytes) invalid(param, "'" + param + "' is longer than " + std::to_string(limits.max_stop_bytes) + " bytes");
        out.push_back(v.as_string());
    };
    if (stop->is_string()) {
        add(*stop, "stop");
    } else if (stop->is_array()) {
        if (stop->items().size() > limits.max_stop_strings) invalid("stop", "at most " + std::to_string(limits.max_stop_strings) + " stop strings");
        for (size_t i = 0; i < stop->items().size(); ++i) add(stop->items()[i], "stop[" + std::to_string(i) + "]");
    } else {
        invalid("stop", "'stop' must be a string or an array of strings");
    }
    return out;
}

// Fields whose presence with a non-default value asks for something this server does not do.
void refuse_unsupported(const JsonValue& body, bool chat) {
    auto present = [&](const char* name) {
        const JsonValue* v = body.find(name);
        return v && !v->is_null() && !(v->is_bool() && !v->as_bool()) && !(v->is_array() && v->items().empty()) &&
               !(v->is_object() && v->members().empty());
    };
    for (const char* name : {"tools", "functions", "logit_bias", "suffix", "audio", "prediction"}) {
        if (present(name)) invalid(name, std::string("'") + name + "' is not supported by this server");
    }
    if (present("logprobs") || present("top_logprobs")) invalid("logprobs", "log probabilities are not supported by this server");
    if (!chat && present("echo")) invalid("echo", "'echo' is not supported by this server");
    if (const JsonValue* format = body.find("response_format"); format && !format->is_null()) {
        const JsonValue* type = format->is_object() ? format->find("type") : nullptr;
        if (!type || !type->is_string() || type->as_string() != "text") invalid("response_format", "only response_format {\"type\": \"text\"} is supported");
    }
    if (const JsonValue* modalities = body.find("modalities"); modalities && modalities->is_array()) {
        for (const JsonValue& m : modalities->items()) {
            if (!m.is_string() || m.as_string() != "text") invalid("modalities", "only the text modality is supported");
        }
    }
}

} // namespace

CompletionRequest parse_completion_request(std::string_view text, bool chat, const RequestLimits& limits) {
    JsonValue body;
    try {
        body = parse_json(text);
    } catch (const Error& e) {
        throw ApiError(400, "invalid_request_error", std::string("the request body is not valid JSON: ") + e.what());
    }
    if (!body.is_object()) invalid("", "the request body must be a JSON object");

    CompletionRequest r;
    r.chat = chat;
    if (const JsonValue* model = body.find("model"); model && !model->is_null()) {
        expect(*model, Type::String, "model");
        r.model = model->as_string();
    }
    if (chat) {
        r.messages = parse_messages(body, limits);
    } else {
        const JsonValue* prompt = body.find("prompt");
        if (!prompt) invalid("prompt", "'prompt' is required");
        if (prompt->is_array()) {
            if (prompt->items().size() != 1 || !prompt->items()[0].is_string()) invalid("prompt", "'prompt' must be a string (or an array of exactly one string)");
            r.prompt = prompt->items()[0].as_string();
        } else {
            expect(*prompt, Type::String, "prompt");
            r.prompt = prompt->as_string();
        }
        if (r.prompt.empty()) invalid("prompt", "'prompt' must not be empty");
    }
    refuse_unsupported(body, chat);

    r.stream = bool_field(body, "stream");
    r.ignore_eos = bool_field(body, "ignore_eos");
    if (const JsonValue* options = body.find("stream_options"); options && !options->is_null()) {
        expect(*options, Type::Object, "stream_options");
        if (!r.stream) invalid("stream_options", "'stream_options' is only allowed when 'stream' is true");
        if (const JsonValue* usage = options->find("include_usage"); usage && !usage->is_null()) {
            expect(*usage, Type::Bool, "stream_options.include_usage");
            r.include_usage = usage->as_bool();
        }
    }
    if (const auto n = integer_field(body, "n", 1, 128); n && *n != 1) invalid("n", "only n = 1 is supported (one choice per request)");
    if (const auto best_of = integer_field(body, "best_of", 1, 128); best_of && *best_of != 1) invalid("best_of", "only best_of = 1 is supported");

    sampling::SamplerParams& s = r.params.sampling;
    number_field(body, "temperature", 0.0, 2.0, s.temperature);
    number_field(body, "top_p", 0.0, 1.0, s.top_p);
    number_field(body, "min_p", 0.0, 1.0, s.min_p);
    number_field(body, "presence_penalty", -2.0, 2.0, s.presence_penalty);
    number_field(body, "frequency_penalty", -2.0, 2.0, s.frequency_penalty);
    number_field(body, "repetition_penalty", 0.01, 10.0, s.repeat_penalty);
    if (const auto k = integer_field(body, "top_k", -1, 1000000)) s.top_k = static_cast<int32_t>(std::max<int64_t>(*k, 0));
    if (const auto seed = integer_field(body, "seed", INT64_MIN, INT64_MAX)) {
        s.seed = static_cast<uint64_t>(*seed);
        r.seeded = true;
    } else {
        s.seed = (static_cast<uint64_t>(std::random_device{}()) << 32) | std::random_device{}();
    }
    const auto max_tokens = integer_field(body, "max_tokens", 1, limits.max_tokens);
    const auto max_completion = integer_field(body, "max_completion_tokens", 1, limits.max_tokens);
    r.params.max_new_tokens = static_cast<int32_t>(max_completion.value_or(max_tokens.value_or(limits.default_max_tokens)));
    r.params.stop_strings = parse_stop(body, limits);
    return r;
}

} // namespace latent::server
