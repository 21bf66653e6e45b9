#include "chat/chat_format.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <utility>

namespace latent::chat {

// The constants are written as UTF-8 source text; a compiler reading the source in another
// charset would change their bytes. EOS is 27 bytes (deepseek2-gguf.md §6).
static_assert(kEosText.size() == 27, "source must be compiled as UTF-8");
static_assert(kBosText.size() == 29, "source must be compiled as UTF-8");

namespace {

// Whitespace as Python's str.strip() sees it in ASCII; replies never need Unicode spaces trimmed.
constexpr std::string_view kWhitespace = " \t\n\r\f\v";

std::string_view trim_left(std::string_view text) {
    const size_t first = text.find_first_not_of(kWhitespace);
    return first == std::string_view::npos ? std::string_view{} : text.substr(first);
}

std::string_view trim(std::string_view text) {
    text = trim_left(text);
    const size_t last = text.find_last_not_of(kWhitespace);
    return last == std::string_view::npos ? std::string_view{} : text.substr(0, last + 1);
}

bool contains(std::string_view text, std::string_view needle) {
    return text.find(needle) != std::string_view::npos;
}

// True when `text` is a non-empty proper prefix of `token`: the start of a tag still arriving.
bool is_partial_tag(std::string_view text, std::string_view token) {
    return !text.empty() && text.size() < token.size() && token.starts_with(text);
}

// Length of the longest proper prefix of `token` that `text` ends with (0 when none).
size_t partial_tag_suffix(std::string_view text, std::string_view token) {
    for (size_t n = std::min(text.size(), token.size() - 1); n > 0; --n) {
        if (text.ends_with(token.substr(0, n))) return n;
    }
    return 0;
}

char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equals_ignoring_ascii_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    }
    return true;
}

struct FormatName {
    std::string_view name;
    ChatFormat format;
    bool think_prefix; // the name means R1: open the think block in the generation prompt
};

// Canonical names first: chat_format_name() returns the first entry of each format.
constexpr std::array kFormatNames{
    FormatName{"deepseek2", ChatFormat::DeepSeekV2, false},
    FormatName{"deepseek3", ChatFormat::DeepSeekV3, false},
    FormatName{"kimi-k2", ChatFormat::Kimi, false},
    FormatName{"chatml", ChatFormat::ChatML, false},
    FormatName{"deepseek-coder", ChatFormat::DeepSeekCoder, false},
    FormatName{"deepseek-v2", ChatFormat::DeepSeekV2, false},
    FormatName{"v2", ChatFormat::DeepSeekV2, false},
    FormatName{"deepseek-v3", ChatFormat::DeepSeekV3, false},
    FormatName{"v3", ChatFormat::DeepSeekV3, false},
    FormatName{"deepseek-r1", ChatFormat::DeepSeekV3, true},
    FormatName{"r1", ChatFormat::DeepSeekV3, true},
    FormatName{"kimi", ChatFormat::Kimi, false},
    FormatName{"moonlight", ChatFormat::Kimi, false},
    FormatName{"deepseek", ChatFormat::DeepSeekCoder, false},
};

const FormatName* find_format_name(std::string_view name) {
    for (const FormatName& entry : kFormatNames) {
        if (equals_ignoring_ascii_case(entry.name, name)) return &entry;
    }
    return nullptr;
}

ChatFormatChoice choose(ChatFormat format, bool think_prefix, ChatFormatSource source,
                        std::string reason) {
    return ChatFormatChoice{format, think_prefix, source, std::move(reason)};
}

// The prompt under construction: template text is appended with +=, message contents with
// content(), which records where each content lies so that tokenization can keep special-token
// texts typed by the user from becoming control tokens.
struct PromptBuilder {
    std::string text;
    std::vector<tokenizer::TextRange> content_ranges;

    PromptBuilder& operator+=(std::string_view s) {
        text += s;
        return *this;
    }
    PromptBuilder& operator+=(char c) {
        text += c;
        return *this;
    }
    void content(std::string_view s) {
        if (s.empty()) return;
        content_ranges.push_back({text.size(), text.size() + s.size()});
        text += s;
    }
};

// An earlier assistant turn as it is fed back to the model.
std::string past_assistant_content(std::string_view content, const ChatOptions& options) {
    return options.drop_past_reasoning ? strip_reasoning(content) : std::string(content);
}

void append_generation_prompt(PromptBuilder& out, std::string_view opener, const ChatOptions& options) {
    if (!options.add_generation_prompt) return;
    out += opener;
    if (options.think_prefix) {
        out += kThinkOpenText;
        out += '\n';
    }
}

void format_deepseek_v2(PromptBuilder& out, const std::vector<ChatMessage>& messages,
                        const ChatOptions& options) {
    for (const ChatMessage& message : messages) {
        switch (message.role) {
        case ChatMessage::System:
            out.content(message.content);
            out += "\n\n";
            break;
        case ChatMessage::User:
            out += "User: ";
            out.content(message.content);
            out += "\n\n";
            break;
        case ChatMessage::Assistant:
            out += "Assistant: ";
            out.content(past_assistant_content(message.content, options));
            out += kEosText;
            break;
        }
    }
    append_generation_prompt(out, "Assistant:", options);
}

void format_deepseek_v3(PromptBuilder& out, const std::vector<ChatMessage>& messages,
                        const ChatOptions& options) {
    // The official template gathers every system message, wherever it sits, into one prompt
    // right after BOS; llama.cpp's built-in variant adds "\n\n" after it, the template does not.
    bool first_system = true;
    for (const ChatMessage& message : messages) {
        if (message.role != ChatMessage::System) continue;
        if (!first_system) out += "\n\n";
        out.content(message.content);
        first_system = false;
    }
    for (const ChatMessage& message : messages) {
        switch (message.role) {
        case ChatMessage::System:
            break;
        case ChatMessage::User:
            out += kUserText;
            out.content(message.content);
            break;
        case ChatMessage::Assistant:
            out += kAssistantText;
            out.content(past_assistant_content(message.content, options));
            out += kEosText;
            break;
        }
    }
    append_generation_prompt(out, kAssistantText, options);
}

void format_kimi(PromptBuilder& out, const std::vector<ChatMessage>& messages, const ChatOptions& options) {
    for (const ChatMessage& message : messages) {
        switch (message.role) {
        case ChatMessage::System:
            out += "<|im_system|>system<|im_middle|>";
            out.content(message.content);
            break;
        case ChatMessage::User:
            out += "<|im_user|>user<|im_middle|>";
            out.content(message.content);
            break;
        case ChatMessage::Assistant:
            out += "<|im_assistant|>assistant<|im_middle|>";
            out.content(past_assistant_content(message.content, options));
            break;
        }
        out += "<|im_end|>";
    }
    append_generation_prompt(out, "<|im_assistant|>assistant<|im_middle|>", options);
}

void format_chatml(PromptBuilder& out, const std::vector<ChatMessage>& messages, const ChatOptions& options) {
    for (const ChatMessage& message : messages) {
        out += "<|im_start|>";
        out += chat_role_name(message.role);
        out += '\n';
        out += message.role == ChatMessage::Assistant ? past_assistant_content(message.content, options)
                                                      : message.content;
        out += "<|im_end|>\n";
    }
    append_generation_prompt(out, "<|im_start|>assistant\n", options);
}

// llama.cpp's built-in "deepseek" format (deepseek-coder-instruct); the HF template also adds
// a default system prompt when there is none, which we leave to the caller.
void format_deepseek_coder(PromptBuilder& out, const std::vector<ChatMessage>& messages,
                           const ChatOptions& options) {
    for (const ChatMessage& message : messages) {
        switch (message.role) {
        case ChatMessage::System:
            out.content(message.content);
            break;
        case ChatMessage::User:
            out += "### Instruction:\n";
            out.content(message.content);
            out += '\n';
            break;
        case ChatMessage::Assistant:
            out += "### Response:\n";
            out.content(past_assistant_content(message.content, options));
            out += "\n<|EOT|>\n";
            break;
        }
    }
    append_generation_prompt(out, "### Response:\n", options);
}

} // namespace

std::string_view chat_format_name(ChatFormat format) {
    for (const FormatName& entry : kFormatNames) {
        if (entry.format == format) return entry.name;
    }
    assert(false && "every ChatFormat has a name");
    return "unknown";
}

std::optional<ChatFormat> chat_format_from_name(std::string_view name) {
    const FormatName* entry = find_format_name(name);
    if (!entry) return std::nullopt;
    return entry->format;
}

ChatFormatChoice detect_chat_format(std::optional<std::string_view> template_text,
                                    bool vocab_has_v3_role_tokens) {
    const bool have_template = template_text.has_value() && !template_text->empty();
    if (have_template) {
        const std::string_view text = *template_text;
        if (const FormatName* entry = find_format_name(trim(text))) {
            return choose(entry->format, entry->think_prefix, ChatFormatSource::TemplateName,
                          "template names it");
        }
        // §6.1, in llama.cpp's order: ChatML is tested first of all, so a template carrying
        // both "<|im_start|>" and DeepSeek markers is ChatML.
        if (contains(text, "<|im_start|>")) {
            return choose(ChatFormat::ChatML, false, ChatFormatSource::TemplateMarkers,
                          "from template markers");
        }
        if (contains(text, "### Instruction:") && contains(text, "<|EOT|>")) {
            return choose(ChatFormat::DeepSeekCoder, false, ChatFormatSource::TemplateMarkers,
                          "from template markers");
        }
        if (contains(text, "'Assistant: ' + message['content'] + eos_token")) {
            return choose(ChatFormat::DeepSeekV2, false, ChatFormatSource::TemplateMarkers,
                          "from template markers");
        }
        if (contains(text, kAssistantText) && contains(text, kUserText) && contains(text, kEosText)) {
            // R1's template writes "<think>\n" after its generation prompt; V3's has no <think>.
            return choose(ChatFormat::DeepSeekV3, contains(text, kThinkOpenText),
                          ChatFormatSource::TemplateMarkers, "from template markers");
        }
        if (contains(text, "<|im_assistant|>assistant<|im_middle|>")) {
            return choose(ChatFormat::Kimi, false, ChatFormatSource::TemplateMarkers,
                          "from template markers");
        }
    }
    const std::string what = have_template ? "unrecognised chat template" : "no chat template";
    if (vocab_has_v3_role_tokens) {
        return choose(ChatFormat::DeepSeekV3, false, ChatFormatSource::VocabularyFallback,
                      what + "; vocabulary has <｜User｜> and <｜Assistant｜>");
    }
    return choose(ChatFormat::DeepSeekV2, false, ChatFormatSource::DefaultFallback,
                  what + "; default");
}

std::optional<ChatFormatChoice> force_chat_format(std::string_view name) {
    const FormatName* entry = find_format_name(name);
    if (!entry) return std::nullopt;
    return choose(entry->format, entry->think_prefix, ChatFormatSource::Forced,
                  "forced by name '" + std::string(name) + "'");
}

std::string describe_chat_format_choice(const ChatFormatChoice& choice) {
    std::string text(chat_format_name(choice.format));
    if (choice.think_prefix) text += " + <think>";
    text += " (";
    text += choice.reason;
    text += ')';
    return text;
}

std::string_view chat_role_name(ChatMessage::Role role) {
    switch (role) {
    case ChatMessage::System: return "system";
    case ChatMessage::User: return "user";
    case ChatMessage::Assistant: return "assistant";
    }
    assert(false && "unknown role");
    return "user";
}

FormattedPrompt format_chat_with_ranges(ChatFormat format, const std::vector<ChatMessage>& messages,
                                       const ChatOptions& options) {
    PromptBuilder out;
    if (options.add_bos_text) out += options.bos_text;
    switch (format) {
    case ChatFormat::DeepSeekV2: format_deepseek_v2(out, messages, options); break;
    case ChatFormat::DeepSeekV3: format_deepseek_v3(out, messages, options); break;
    case ChatFormat::Kimi: format_kimi(out, messages, options); break;
    case ChatFormat::ChatML: format_chatml(out, messages, options); break;
    case ChatFormat::DeepSeekCoder: format_deepseek_coder(out, messages, options); break;
    }
    return FormattedPrompt{std::move(out.text), std::move(out.content_ranges)};
}

std::string format_chat(ChatFormat format, const std::vector<ChatMessage>& messages,
                        const ChatOptions& options) {
    return format_chat_with_ranges(format, messages, options).text;
}

std::vector<int32_t> chat_to_tokens(const tokenizer::Tokenizer& tokenizer, ChatFormat format,
                                    const std::vector<ChatMessage>& messages, ChatOptions options) {
    // BOS is emitted as text (parsed back to its id below) exactly when the vocabulary asks for
    // it, so the prompt never carries two BOS ids.
    options.add_bos_text = tokenizer.add_bos() && tokenizer.bos().has_value();
    if (options.add_bos_text) options.bos_text = tokenizer.token_text(*tokenizer.bos());
    const FormattedPrompt prompt = format_chat_with_ranges(format, messages, options);
    return tokenizer.encode_with_literal_ranges(prompt.text, prompt.content_ranges);
}

std::string strip_reasoning(std::string_view assistant_content) {
    const size_t close = assistant_content.rfind(kThinkCloseText);
    if (close != std::string_view::npos) {
        return std::string(trim(assistant_content.substr(close + kThinkCloseText.size())));
    }
    if (trim_left(assistant_content).starts_with(kThinkOpenText)) return {}; // stopped while thinking
    return std::string(assistant_content);
}

ReasoningSplit split_reasoning(std::string_view assistant_text, bool started_in_reasoning) {
    ReasoningSplit split;
    std::string_view body = assistant_text;
    bool opened = started_in_reasoning;
    const std::string_view head = trim_left(assistant_text);
    if (head.starts_with(kThinkOpenText)) {
        body = head.substr(kThinkOpenText.size());
        opened = true;
    } else if (!started_in_reasoning && is_partial_tag(head, kThinkOpenText)) {
        return split; // "<thi" so far: could become a think block, show nothing yet
    }

    const size_t close = body.find(kThinkCloseText);
    if (close != std::string_view::npos) {
        split.reasoning = trim(body.substr(0, close));
        split.answer = trim(body.substr(close + kThinkCloseText.size()));
        split.has_reasoning = true;
        split.reasoning_complete = true;
    } else if (opened) {
        body.remove_suffix(partial_tag_suffix(body, kThinkCloseText));
        split.reasoning = trim(body);
        split.has_reasoning = true;
    } else {
        split.answer = trim(body);
    }
    return split;
}

std::string_view chat_format_end_of_turn(ChatFormat format) {
    switch (format) {
    case ChatFormat::DeepSeekV2:
    case ChatFormat::DeepSeekV3: return kEosText;
    case ChatFormat::Kimi:
    case ChatFormat::ChatML: return "<|im_end|>";
    case ChatFormat::DeepSeekCoder: return "<|EOT|>";
    }
    assert(false && "unknown format");
    return kEosText;
}

} // namespace latent::chat
