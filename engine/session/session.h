// A generation session: one conversation's token history and the backend's KV cache that
// matches it, turned into streamed text.
//
// One turn (generate / generate_tokens):
//   1. prefix reuse: the new prompt is compared with the tokens already cached; the cache is cut
//      back to the longest common prefix and only the rest is evaluated. At least the last
//      prompt token is always re-evaluated so there are logits to sample from. A follow-up
//      turn therefore evaluates only its new tokens; an edit of an earlier message re-evaluates
//      from the edit on.
//   2. prefill in chunks of prefill_chunk tokens; cancellation is checked before each chunk.
//   3. decode: sample → end of turn? → stream text → stop string? → max tokens? → cancelled?
//      → context full? → evaluate the token, and again. Cancellation is checked between any
//      two tokens.
// The cache and tokens() always hold exactly the tokens fully evaluated: the last sampled token
// is not evaluated when generation stops (the next turn's prompt brings it back and prefix
// reuse evaluates it then), a cancelled prefill keeps the chunks it finished, and a backend
// error leaves the cache as it was before the failed batch.
//
// One thread drives a session; only the cancel flag may be set from another thread.
//
// Nothing a caller or a model does makes generate() throw: a prompt longer than the context, a
// full context, a backend failure, an exception from on_piece are all reported through
// GenerationResult::reason and ::message, and the session stays usable.
//
// A model file that changed on disk (checked before each request; a truncation during the
// request is caught by the backend, see core/mapping_faults.h) ends the request with reason
// Error, model_file_changed set and a message starting "the model file changed on disk; reload
// it"; the session then forgets everything it held, and every later request fails the same way
// until the model is loaded again.
#pragma once

#include "backend/backend.h"
#include "chat/chat_format.h"
#include "sampling/sampler.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace latent {

// Why a generation ended.
enum class StopReason {
    EndOfTurn,   // the model produced an end-of-generation token (EOS, the format's end of turn)
    StopString,  // the text reached one of GenerationParams::stop_strings
    MaxTokens,   // GenerationParams::max_new_tokens were generated
    ContextFull, // the KV cache is full, or the prompt alone does not fit
    Cancelled,   // the caller's cancel flag was set
    Error,       // the backend (or the piece callback) threw; see GenerationResult::message
};

// "end_of_turn", "stop_string", "max_tokens", "context_full", "cancelled", "error".
std::string_view stop_reason_name(StopReason reason);

struct GenerationParams {
    latent::sampling::SamplerParams sampling; // how the next token is chosen (seeded anew each turn)
    int32_t max_new_tokens = 512;             // tokens to sample at most (<= 0: none)
    std::vector<std::string> stop_strings;    // generation ends before the first occurrence of any
    uint32_t prefill_chunk = 256;             // prompt tokens per backend call (0 is taken as 1)
    std::optional<bool> think_prefix;         // open "<think>\n" after the generation prompt;
                                              // nullopt: as the model's chat format says (R1)
};

struct GenerationStats {
    uint32_t n_prompt_tokens = 0;         // tokens of the whole prompt
    uint32_t n_reused = 0;                // prompt tokens whose cache rows were kept from earlier turns
    uint32_t n_prompt_evaluated = 0;      // prompt tokens evaluated this turn (n_prompt_tokens − n_reused unless cut short)
    uint32_t n_generated = 0;             // tokens sampled (including a final end-of-turn token)
    double time_to_first_token_ms = 0.0;  // from the call (formatting included) until the first token was sampled
    double prompt_ms = 0.0;               // prefill time
    double generation_ms = 0.0;           // from the first sampled token to the last
    double prompt_tokens_per_s = 0.0;     // n_prompt_evaluated / prompt_ms (0 when nothing was evaluated)
    double generation_tokens_per_s = 0.0; // (n_generated − 1) / generation_ms: the decode rate (0 with fewer than two)
};

struct GenerationResult {
    std::string text;                  // the streamed text: exactly the concatenation of the pieces
    StopReason reason = StopReason::Error;
    std::string message;               // human readable reason, e.g. "context full: 4096 tokens"
    GenerationStats stats;
    std::vector<int32_t> tokens;       // ids sampled this turn, in order (including an end-of-turn id)
    bool started_in_reasoning = false; // the prompt opened a think block: pass to chat::split_reasoning
    bool model_file_changed = false;   // reason Error because the model's file changed on disk (message names
                                       // it): this model is unusable until loaded again
};

// Receives UTF-8-complete text pieces as they are generated (never empty).
using PieceCallback = std::function<void(std::string_view piece)>;

class Session {
public:
    // The backend owns the cache; the session decides what it holds. Whatever the cache held
    // before is unknown to the session, so it is emptied here.
    explicit Session(Backend& backend);
    Session(const Session&) = delete; // two sessions on one cache would disagree about its contents
    Session& operator=(const Session&) = delete;

    const Model& model() const { return backend_->model(); }
    Backend& backend() { return *backend_; }

    // The conversation → prompt ids exactly as generate() evaluates them (the model's chat format
    // with its BOS rule and the generation prompt; the think prefix as params say).
    std::vector<int32_t> prompt_tokens(const std::vector<chat::ChatMessage>& messages, const GenerationParams& params) const;
    // Whether that prompt opens a think block (R1).
    bool opens_reasoning(const GenerationParams& params) const;

    // One assistant turn for a conversation (the last message is usually the user's).
    GenerationResult generate(const std::vector<chat::ChatMessage>& messages, const GenerationParams& params,
                              const PieceCallback& on_piece, const std::atomic<bool>* cancel = nullptr);
    // The same for a raw prompt (already tokenized; no chat format applied).
    GenerationResult generate_tokens(const std::vector<int32_t>& prompt, const GenerationParams& params,
                                     const PieceCallback& on_piece, const std::atomic<bool>* cancel = nullptr);

    // Brings the cache to `prompt` (with prefix reuse) and returns the logits after its last
    // token (n_vocab floats), for tools that inspect logits. Throws latent::Error for an empty or
    // too long prompt or a backend failure (ModelFileChanged when the model's file changed),
    // latent::Cancelled when cancelled between chunks.
    std::vector<float> evaluate_prompt(const std::vector<int32_t>& prompt, uint32_t prefill_chunk = 256,
                                       const std::atomic<bool>* cancel = nullptr);

    // Forgets the conversation and empties the cache.
    void reset();
    // The tokens whose cache rows the backend holds, in position order.
    const std::vector<int32_t>& tokens() const { return history_; }

private:
    // Cuts history_ and the cache back to the common prefix with `prompt`, keeping at least the
    // last prompt token to evaluate. Returns the number of tokens kept.
    uint32_t reuse_prefix(const std::vector<int32_t>& prompt);
    // Evaluates prompt[history_.size(), end) in chunks; the last row's logits land in logits_.
    // Returns false if cancelled before a chunk.
    bool prefill(const std::vector<int32_t>& prompt, uint32_t chunk, const std::atomic<bool>* cancel);
    // Makes history_ agree with the backend after an interruption (they only ever differ if the
    // backend was used behind the session's back or broke its contract).
    void sync_with_backend();
    bool ends_turn(int32_t token) const;

    GenerationResult run(const std::vector<int32_t>& prompt, const GenerationParams& params, const PieceCallback& on_piece,
                         const std::atomic<bool>* cancel, std::chrono::steady_clock::time_point start, bool started_in_reasoning);

    Backend* backend_;
    std::vector<int32_t> history_;        // tokens at cache positions [0, n_cached)
    std::vector<float> logits_;           // (n_vocab) logits after the last evaluated token
    std::vector<int32_t> end_of_turn_ids_; // sorted: the tokenizer's EOG ids plus the format's end-of-turn token
};

} // namespace latent
