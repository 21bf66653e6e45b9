// Conversation formats of the deepseek2-architecture models: a conversation (system, user and
// assistant messages) becomes the prompt TEXT the model was trained on. The tokenizer turns that
// text into ids afterwards.
//
// Which format a model speaks is read from its GGUF `tokenizer.chat_template` (a Jinja template
// we do not execute): detect_chat_format() looks for the marker strings that llama.cpp's
// `llm_chat_detect_template` looks for (deepseek2-gguf.md §6.1), in the same order, and says
// which rule chose the format so the CLI and the app can print it.
//
// The formats, byte for byte (BOS = "<｜begin▁of▁sentence｜>", EOS = "<｜end▁of▁sentence｜>"):
//
//   deepseek2 (V2, V2-Lite)             BOS, then in message order
//                                         system    "{content}\n\n"
//                                         user      "User: {content}\n\n"
//                                         assistant "Assistant: {content}" EOS
//                                       generation prompt "Assistant:"  (no trailing space)
//   deepseek3 (V3, R1; V2.5 believed)   BOS, every system message joined with "\n\n" (hoisted to
//                                       the front, as the official template does), then with no
//                                       separator
//                                         user      "<｜User｜>{content}"
//                                         assistant "<｜Assistant｜>{content}" EOS
//                                       generation prompt "<｜Assistant｜>"  (R1: + "<think>\n")
//   kimi-k2 (Moonlight, Kimi-K2)        (BOS as for every format: see the convention below)
//                                         system    "<|im_system|>system<|im_middle|>{content}<|im_end|>"
//                                         user      "<|im_user|>user<|im_middle|>{content}<|im_end|>"
//                                         assistant "<|im_assistant|>assistant<|im_middle|>{content}<|im_end|>"
//                                       generation prompt "<|im_assistant|>assistant<|im_middle|>"
//   chatml (fine-tunes)                 "<|im_start|>{role}\n{content}<|im_end|>\n" per message,
//                                       generation prompt "<|im_start|>assistant\n"
//   deepseek-coder (llama.cpp "deepseek", the Coder-v1 instruct format)
//                                         system    "{content}"
//                                         user      "### Instruction:\n{content}\n"
//                                         assistant "### Response:\n{content}\n<|EOT|>\n"
//                                       generation prompt "### Response:\n"
//
// BOS convention (read this before tokenizing): format_chat() writes the BOS token's TEXT at the
// start of the prompt (ChatOptions::add_bos_text, on by default; ChatOptions::bos_text, the
// DeepSeek BOS by default) — the same thing the official DeepSeek templates do with
// `{{ bos_token }}`. Tokenize the result with special-token parsing ON
// (so "<｜User｜>" etc. become single ids) and with the tokenizer's own BOS insertion OFF;
// otherwise the prompt starts with two BOS ids. The one rule for every format: the prompt
// contains a BOS exactly when add_bos_text is set, and callers set it from the vocabulary's
// `tokenizer.ggml.add_bos_token` (believed true for DeepSeek files; read the key) with bos_text = that vocabulary's
// BOS token text — which is what llama.cpp ends up with too (it adds the BOS id instead of text).
//
// Reasoning (R1): earlier assistant turns are fed back WITHOUT their "<think>…</think>" block,
// as R1's template does; the reply being generated may start inside a think block because the
// R1 generation prompt opens one. split_reasoning() separates a reply into the thinking and the
// answer for display, also while it is still streaming.
#pragma once

#include "tokenizer/tokenizer.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace latent::chat {

// Special token texts (exact Unicode: "｜" is U+FF5C FULLWIDTH VERTICAL LINE, "▁" is U+2581).
inline constexpr std::string_view kBosText = "<｜begin▁of▁sentence｜>";
inline constexpr std::string_view kEosText = "<｜end▁of▁sentence｜>";
inline constexpr std::string_view kUserText = "<｜User｜>";
inline constexpr std::string_view kAssistantText = "<｜Assistant｜>";
inline constexpr std::string_view kThinkOpenText = "<think>";
inline constexpr std::string_view kThinkCloseText = "</think>";

// The prompt layouts we can write. R1 is DeepSeekV3 plus the "<think>\n" generation prefix
// (ChatFormatChoice::think_prefix / ChatOptions::think_prefix), not a layout of its own.
enum class ChatFormat {
    DeepSeekV2,    // "deepseek2": "User: …\n\nAssistant:" (V2, V2-Lite)
    DeepSeekV3,    // "deepseek3": "<｜User｜>…<｜Assistant｜>" (V3, R1; V2.5 believed)
    Kimi,          // "kimi-k2": "<|im_user|>user<|im_middle|>…" (Moonlight, Kimi-K2)
    ChatML,        // "chatml": "<|im_start|>user\n…<|im_end|>\n"
    DeepSeekCoder, // "deepseek-coder": "### Instruction:\n…\n### Response:\n" (llama.cpp's "deepseek")
};

// Canonical name of a format: "deepseek2", "deepseek3", "kimi-k2", "chatml", "deepseek-coder".
std::string_view chat_format_name(ChatFormat format);

// Format from a name, ASCII case-insensitive. Accepted:
//   deepseek2:      "deepseek2", "deepseek-v2", "v2"
//   deepseek3:      "deepseek3", "deepseek-v3", "v3", "deepseek-r1", "r1"
//   kimi-k2:        "kimi-k2", "kimi", "moonlight"
//   chatml:         "chatml"
//   deepseek-coder: "deepseek-coder", "deepseek" (llama.cpp's name for it)
// "r1" names only the layout here; force_chat_format() also turns the think prefix on.
std::optional<ChatFormat> chat_format_from_name(std::string_view name);

// Which rule picked the format.
enum class ChatFormatSource {
    Forced,             // named by the user (force_chat_format)
    TemplateName,       // the template text is itself a format name (llama.cpp accepts that too)
    TemplateMarkers,    // the template contains the format's marker strings (§6.1)
    VocabularyFallback, // no usable template; the vocabulary has "<｜User｜>" and "<｜Assistant｜>"
    DefaultFallback,    // no usable template and no V3 role tokens: deepseek2
};

struct ChatFormatChoice {
    ChatFormat format = ChatFormat::DeepSeekV2;                  // layout to write
    bool think_prefix = false;                                   // "<think>\n" after the generation prompt (R1)
    ChatFormatSource source = ChatFormatSource::DefaultFallback; // rule that chose it
    std::string reason;                                          // that rule in words: "from template markers"
};

// Chooses the format from the GGUF `tokenizer.chat_template` text (nullopt when the key is
// absent; an empty string counts as absent). Rules, first match wins:
//   0. the whole text (trimmed) is a name chat_format_from_name accepts      → that format
//   1. contains "<|im_start|>"                                               → chatml
//   2. contains "### Instruction:" and "<|EOT|>"                             → deepseek-coder
//   3. contains "'Assistant: ' + message['content'] + eos_token"            → deepseek2
//   4. contains "<｜Assistant｜>", "<｜User｜>" and "<｜end▁of▁sentence｜>"  → deepseek3;
//      think_prefix when it also contains "<think>" (R1's template opens the block itself)
//   5. contains "<|im_assistant|>assistant<|im_middle|>"                     → kimi-k2
// Fallback when nothing matched or there is no template: deepseek3 when
// vocab_has_v3_role_tokens (the vocabulary holds both "<｜User｜>" and "<｜Assistant｜>" as
// token texts; V2's vocabulary is believed not to), else deepseek2. The fallback never sets
// think_prefix.
ChatFormatChoice detect_chat_format(std::optional<std::string_view> template_text,
                                    bool vocab_has_v3_role_tokens);

// A user's explicit choice by name (see chat_format_from_name); "r1" and "deepseek-r1" set
// think_prefix. nullopt for an unknown name.
std::optional<ChatFormatChoice> force_chat_format(std::string_view name);

// One line for logs and the CLI: "deepseek3 (from template markers)",
// "deepseek3 + <think> (from template markers)".
std::string describe_chat_format_choice(const ChatFormatChoice& choice);

struct ChatMessage {
    enum Role { System, User, Assistant };
    Role role = User;    // who wrote it
    std::string content; // UTF-8 text; assistant replies as generated (a think block is dropped when formatting)
};

// "system", "user", "assistant" (the role names ChatML and Kimi write).
std::string_view chat_role_name(ChatMessage::Role role);

struct ChatOptions {
    bool add_bos_text = true;          // start with bos_text (see the BOS convention above)
    std::string bos_text{kBosText};    // the vocabulary's BOS token text
    bool add_generation_prompt = true; // end with the opener of the assistant's next turn
    bool think_prefix = false;         // after the generation prompt write "<think>\n" (R1)
    bool drop_past_reasoning = true;   // write earlier assistant turns through strip_reasoning()
};

// The prompt text for a conversation in the given format (layouts in the file comment).
// Assistant contents are written as given apart from the reasoning drop; store replies trimmed
// (split_reasoning's answer is), so that "Assistant: {content}" matches what was generated.
std::string format_chat(ChatFormat format, const std::vector<ChatMessage>& messages,
                        const ChatOptions& options = {});

// The same text plus the byte ranges that hold message contents (as opposed to template text).
struct FormattedPrompt {
    std::string text;
    std::vector<tokenizer::TextRange> content_ranges; // ascending, non-overlapping
};
FormattedPrompt format_chat_with_ranges(ChatFormat format, const std::vector<ChatMessage>& messages,
                                       const ChatOptions& options = {});

// Messages → token ids, ready to evaluate. BOS follows the vocabulary (add_bos_token; its text
// is written and parsed, never a second id); template text is tokenized with special tokens
// parsed, while message contents are tokenized as plain text, so a user who types
// "<｜Assistant｜>" gets those characters, not a control token. For normal text the ids are
// exactly those of tokenizing the whole prompt with special parsing (what llama.cpp does).
std::vector<int32_t> chat_to_tokens(const tokenizer::Tokenizer& tokenizer, ChatFormat format,
                                    const std::vector<ChatMessage>& messages, ChatOptions options = {});

// What R1's template keeps of an earlier assistant turn: the text after the LAST "</think>",
// with surrounding whitespace trimmed. A reply that starts (after whitespace) with "<think>"
// and never closes it — generation stopped while thinking — keeps nothing. Text without think
// tags is returned unchanged.
std::string strip_reasoning(std::string_view assistant_content);

// An assistant reply split for display into its thinking and its answer.
struct ReasoningSplit {
    std::string reasoning;           // inside the think block, surrounding whitespace trimmed
    std::string answer;              // after the think block (or all of a reply without one), trimmed
    bool has_reasoning = false;      // a think block was opened (by "<think>", by "</think>", or by the prompt)
    bool reasoning_complete = false; // its "</think>" has arrived; false while still thinking
};

// Splits a reply, complete or still streaming:
// - "<think>R</think>A" → reasoning R, answer A (leading whitespace before "<think>" is ignored);
// - "R</think>A" → the same: the generation prompt already opened the block (R1), so the reply
//   starts inside it;
// - "<think>R" → unfinished: reasoning R, empty answer; a partly arrived "</think>" at the end
//   (e.g. "</th") is held back, and a reply that so far is only a partial "<think>" shows
//   nothing yet;
// - no tags: all answer, unless started_in_reasoning (the prompt ended with "<think>\n"), in
//   which case all reasoning, unfinished.
// The first "</think>" closes the block (strip_reasoning, like the template, uses the last;
// they differ only when a reply contains the tag twice).
ReasoningSplit split_reasoning(std::string_view assistant_text, bool started_in_reasoning = false);

// The text of the token that ends an assistant turn in this format (EOS, "<|im_end|>",
// "<|EOT|>"); sessions stop on it.
std::string_view chat_format_end_of_turn(ChatFormat format);

} // namespace latent::chat
