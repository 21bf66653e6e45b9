#include "server/openai_response.h"

#include "core/json_writer.h"

namespace latent::server {
namespace {

void head(JsonWriter& w, const ResponseIdentity& id, bool chunk) {
    w.begin_object();
    w.key("id").value(id.id);
    w.key("object").value(id.chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion");
    w.key("created").value(id.created);
    w.key("model").value(id.model);
    w.key("system_fingerprint").value("latent");
}

void optional_string(JsonWriter& w, std::string_view key, std::string_view value) {
    w.key(key);
    if (value.empty()) w.null();
    else w.value(value);
}

void usage_object(JsonWriter& w, const Usage& usage) {
    w.key("usage").begin_object();
    w.key("prompt_tokens").value(usage.prompt_tokens);
    w.key("completion_tokens").value(usage.completion_tokens);
    w.key("total_tokens").value(usage.prompt_tokens + usage.completion_tokens);
    w.end_object();
}

} // namespace

std::string error_body(std::string_view message, std::string_view type, std::string_view param, std::string_view code) {
    JsonWriter w;
    w.begin_object().key("error").begin_object();
    w.key("message").value(message);
    w.key("type").value(type);
    optional_string(w, "param", param);
    optional_string(w, "code", code);
    w.end_object().end_object();
    return w.str();
}

std::string stream_chunk(const ResponseIdentity& id, std::string_view role, std::string_view content, std::string_view reasoning,
                         std::string_view finish_reason) {
    JsonWriter w;
    head(w, id, true);
    w.key("choices").begin_array().begin_object();
    w.key("index").value(0);
    if (id.chat) {
        w.key("delta").begin_object();
        if (!role.empty()) w.key("role").value(role);
        if (!content.empty() || (!role.empty() && reasoning.empty())) w.key("content").value(content);
        if (!reasoning.empty()) w.key("reasoning_content").value(reasoning);
        w.end_object();
    } else {
        w.key("text").value(content);
        w.key("logprobs").null();
    }
    optional_string(w, "finish_reason", finish_reason);
    w.end_object().end_array();
    w.end_object();
    return w.str();
}

std::string usage_chunk(const ResponseIdentity& id, const Usage& usage) {
    JsonWriter w;
    head(w, id, true);
    w.key("choices").begin_array().end_array();
    usage_object(w, usage);
    w.end_object();
    return w.str();
}

std::string full_response(const ResponseIdentity& id, std::string_view content, std::string_view reasoning, std::string_view finish_reason,
                          const Usage& usage) {
    JsonWriter w;
    head(w, id, false);
    w.key("choices").begin_array().begin_object();
    w.key("index").value(0);
    if (id.chat) {
        w.key("message").begin_object();
        w.key("role").value("assistant");
        w.key("content").value(content);
        if (!reasoning.empty()) w.key("reasoning_content").value(reasoning);
        w.end_object();
    } else {
        w.key("text").value(content);
        w.key("logprobs").null();
    }
    w.key("finish_reason").value(finish_reason);
    w.end_object().end_array();
    usage_object(w, usage);
    w.end_object();
    return w.str();
}

std::string models_body(std::string_view model_id, int64_t created) {
    JsonWriter w;
    w.begin_object().key("object").value("list").key("data").begin_array();
    w.begin_object();
    w.key("id").value(model_id);
    w.key("object").value("model");
    w.key("created").value(created);
    w.key("owned_by").value("latent");
    w.end_object();
    w.end_array().end_object();
    return w.str();
}

} // namespace latent::server
