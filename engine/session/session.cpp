#include "session/session.h"

#include "core/error.h"
#include "session/stop_strings.h"

#include <algorithm>
#include <exception>

namespace latent {

namespace {

using Clock = std::chrono::steady_clock;

double elapsed_ms(Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration<double, std::milli>(to - from).count();
}

double per_second(uint32_t count, double ms) { return ms > 0.0 ? 1000.0 * count / ms : 0.0; }

std::string context_full_message(uint32_t n_ctx) { return "context full: " + std::to_string(n_ctx) + " tokens"; }

} // namespace

std::string_view stop_reason_name(StopReason reason) {
    switch (reason) {
    case StopReason::EndOfTurn: return "end_of_turn";
    case StopReason::StopString: return "stop_string";
    case StopReason::MaxTokens: return "max_tokens";
    case StopReason::ContextFull: return "context_full";
    case StopReason::Cancelled: return "cancelled";
    case StopReason::Error: return "error";
    }
    return "unknown";
}

Session::Session(Backend& backend) : backend_(&backend) {
    const tokenizer::Tokenizer& tok = model().tokenizer();
    end_of_turn_ids_ = tok.eog_ids();
    if (auto id = tok.find_token(chat::chat_format_end_of_turn(model().chat_format().format))) end_of_turn_ids_.push_back(*id);
    std::sort(end_of_turn_ids_.begin(), end_of_turn_ids_.end());
    end_of_turn_ids_.erase(std::unique(end_of_turn_ids_.begin(), end_of_turn_ids_.end()), end_of_turn_ids_.end());
    logits_.resize(model().config().n_vocab);
    backend_->truncate(0);
}

bool Session::opens_reasoning(const GenerationParams& params) const {
    return params.think_prefix.value_or(model().chat_format().think_prefix);
}

std::vector<int32_t> Session::prompt_tokens(const std::vector<chat::ChatMessage>& messages, const GenerationParams& params) const {
    chat::ChatOptions options;
    options.think_prefix = opens_reasoning(params);
    return chat::chat_to_tokens(model().tokenizer(), model().chat_format().format, messages, options);
}

GenerationResult Session::generate(const std::vector<chat::ChatMessage>& messages, const GenerationParams& params,
                                   const PieceCallback& on_piece, const std::atomic<bool>* cancel) {
    const Clock::time_point start = Clock::now();
    std::vector<int32_t> prompt;
    try {
        prompt = prompt_tokens(messages, params);
    } catch (const std::exception& e) {
        GenerationResult result;
        result.reason = StopReason::Error;
        result.message = std::string("cannot format the conversation: ") + e.what();
        return result;
    }
    return run(prompt, params, on_piece, cancel, start, opens_reasoning(params));
}

GenerationResult Session::generate_tokens(const std::vector<int32_t>& prompt, const GenerationParams& params,
                                          const PieceCallback& on_piece, const std::atomic<bool>* cancel) {
    return run(prompt, params, on_piece, cancel, Clock::now(), false);
}

std::vector<float> Session::evaluate_prompt(const std::vector<int32_t>& prompt, uint32_t prefill_chunk,
                                            const std::atomic<bool>* cancel) {
    try {
        model().check_files_unchanged();
    } catch (const ModelFileChanged&) {
        reset();
        throw;
    }
    sync_with_backend();
    if (prompt.empty()) throw Error("empty prompt: nothing to evaluate");
    if (prompt.size() > backend_->context_size()) {
        throw Error("prompt is " + std::to_string(prompt.size()) + " tokens but the context holds " +
                    std::to_string(backend_->context_size()));
    }
    reuse_prefix(prompt);
    bool complete = false;
    try {
        complete = prefill(prompt, prefill_chunk, cancel);
    } catch (const ModelFileChanged&) {
        reset();
        throw;
    } catch (...) {
        sync_with_backend();
        throw;
    }
    if (!complete) throw Cancelled();
    return logits_;
}

void Session::reset() {
    history_.clear();
    backend_->truncate(0);
}

uint32_t Session::reuse_prefix(const std::vector<int32_t>& prompt) {
    const auto mismatch = std::mismatch(history_.begin(), history_.end(), prompt.begin(), prompt.end());
    const size_t common = static_cast<size_t>(mismatch.first - history_.begin());
    const auto keep = static_cast<uint32_t>(std::min(common, prompt.size() - 1));
    backend_->truncate(keep);
    history_.resize(keep);
    return keep;
}

bool Session::prefill(const std::vector<int32_t>& prompt, uint32_t chunk, const std::atomic<bool>* cancel) {
    chunk = std::max(chunk, 1u);
    while (history_.size() < prompt.size()) {
        if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) return false;
        const size_t begin = history_.size();
        const size_t count = std::min<size_t>(chunk, prompt.size() - begin);
        const std::span<const int32_t> batch(prompt.data() + begin, count);
        if (begin + count == prompt.size()) {
            const uint32_t last_row = static_cast<uint32_t>(count - 1);
            backend_->evaluate(batch, std::span<const uint32_t>(&last_row, 1), logits_.data());
        } else {
            backend_->evaluate(batch, {}, nullptr);
        }
        history_.insert(history_.end(), batch.begin(), batch.end());
    }
    return true;
}

void Session::sync_with_backend() {
    const uint32_t n_cached = backend_->n_cached();
    if (n_cached < history_.size()) {
        history_.resize(n_cached);
    } else if (n_cached > history_.size()) {
        backend_->truncate(static_cast<uint32_t>(history_.size())); // rows we did not put there
    }
}

bool Session::ends_turn(int32_t token) const {
    return std::binary_search(end_of_turn_ids_.begin(), end_of_turn_ids_.end(), token);
}

GenerationResult Session::run(const std::vector<int32_t>& prompt, const GenerationParams& params, const PieceCallback& on_piece,
                              const std::atomic<bool>* cancel, Clock::time_point start, bool started_in_reasoning) {
    GenerationResult result;
    result.started_in_reasoning = started_in_reasoning;
    GenerationStats& stats = result.stats;
    stats.n_prompt_tokens = static_cast<uint32_t>(prompt.size());
    const auto stop = [&](StopReason reason, std::string message) {
        result.reason = reason;
        result.message = std::move(message);
    };
    const auto emit = [&](const std::string& piece) {
        if (piece.empty()) return;
        result.text += piece;
        if (on_piece) on_piece(piece);
    };
    const auto cancelled = [&] { return cancel != nullptr && cancel->load(std::memory_order_relaxed); };

    tokenizer::StreamingDecoder decoder(model().tokenizer());
    StopStringFilter filter(params.stop_strings);
    bool in_prefill = false;
    Clock::time_point prefill_start{}, prefill_end{}, first_token{}, last_token{};

    try {
        model().check_files_unchanged();
        sync_with_backend();
        const uint32_t n_ctx = backend_->context_size();
        if (prompt.empty()) {
            stop(StopReason::Error, "empty prompt: nothing to generate from");
            return result;
        }
        if (prompt.size() > n_ctx) {
            stop(StopReason::ContextFull, "prompt is " + std::to_string(prompt.size()) + " tokens but the context holds " +
                                              std::to_string(n_ctx));
            return result;
        }

        stats.n_reused = reuse_prefix(prompt);
        in_prefill = true;
        prefill_start = Clock::now();
        const bool prefilled = prefill(prompt, params.prefill_chunk, cancel);
        prefill_end = Clock::now();
        in_prefill = false;
        stats.n_prompt_evaluated = static_cast<uint32_t>(history_.size()) - stats.n_reused;
        stats.prompt_ms = elapsed_ms(prefill_start, prefill_end);

        if (!prefilled) {
            stop(StopReason::Cancelled, "cancelled");
        } else {
            sampling::Sampler sampler(params.sampling);
            const auto max_new = static_cast<uint32_t>(std::max(params.max_new_tokens, 0));
            for (;;) {
                if (stats.n_generated >= max_new) {
                    stop(StopReason::MaxTokens, "max tokens: " + std::to_string(max_new));
                    break;
                }
                const int32_t token = sampler.sample(logits_, history_);
                last_token = Clock::now();
                if (stats.n_generated == 0) first_token = last_token;
                ++stats.n_generated;
                result.tokens.push_back(token);

                if (ends_turn(token)) {
                    stop(StopReason::EndOfTurn, "end of turn");
                    break;
                }
                emit(filter.push(decoder.feed(token)));
                if (filter.stopped()) {
                    stop(StopReason::StopString, "stop string \"" + filter.matched() + "\"");
                    break;
                }
                if (stats.n_generated >= max_new) {
                    stop(StopReason::MaxTokens, "max tokens: " + std::to_string(max_new));
                    break;
                }
                if (cancelled()) {
                    stop(StopReason::Cancelled, "cancelled");
                    break;
                }
                if (history_.size() >= n_ctx) {
                    stop(StopReason::ContextFull, context_full_message(n_ctx));
                    break;
                }
                const uint32_t row = 0;
                backend_->evaluate(std::span<const int32_t>(&token, 1), std::span<const uint32_t>(&row, 1), logits_.data());
                history_.push_back(token);
            }
        }
    } catch (const std::exception& e) {
        stop(StopReason::Error, e.what());
        if (in_prefill) {
            prefill_end = Clock::now();
            stats.n_prompt_evaluated = static_cast<uint32_t>(history_.size()) - stats.n_reused;
            stats.prompt_ms = elapsed_ms(prefill_start, prefill_end);
        }
        if (dynamic_cast<const ModelFileChanged*>(&e) != nullptr) {
            // The cache may hold rows computed from the lost pages: keep nothing.
            result.model_file_changed = true;
            reset();
        } else {
            sync_with_backend();
        }
    }

    // Generation is over: a partial stop string still held back is plain text after all.
    if (result.reason != StopReason::StopString) {
        try {
            emit(filter.push(decoder.flush()));
            emit(filter.finish());
        } catch (const std::exception& e) {
            if (result.reason != StopReason::Error) stop(StopReason::Error, e.what());
        }
    }

    if (stats.n_generated > 0) {
        stats.time_to_first_token_ms = elapsed_ms(start, first_token);
        stats.generation_ms = elapsed_ms(first_token, last_token);
        stats.generation_tokens_per_s = per_second(stats.n_generated - 1, stats.generation_ms);
    }
    stats.prompt_tokens_per_s = per_second(stats.n_prompt_evaluated, stats.prompt_ms);
    return result;
}

} // namespace latent
