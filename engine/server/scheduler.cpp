#include "server/scheduler.h"

#include "core/error.h"
#include "core/mapped_file.h"
#include "session/stop_strings.h"
#include "tokenizer/tokenizer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

namespace latent::server {

using Clock = std::chrono::steady_clock;

// One sequence of the backend and the request it serves.
struct Scheduler::Slot {
    uint32_t index = 0;
    std::vector<int32_t> history;   // tokens whose rows the sequence's cache holds, in order
    uint64_t last_used = 0;
    std::shared_ptr<Job> job;       // null when free

    // The running request.
    std::vector<int32_t> prompt;
    uint32_t generated = 0;
    std::optional<int32_t> pending; // sampled, not yet evaluated
    std::vector<float> logits;      // after the last evaluated token
    std::optional<sampling::Sampler> sampler;
    std::optional<tokenizer::StreamingDecoder> decoder;
    std::optional<StopStringFilter> filter;
    // Reasoning split (chat only): the raw text so far and how much of each part was sent.
    enum class Split { Undecided, Plain, Reasoning } split = Split::Plain;
    bool opened_reasoning = false;
    std::string raw;
    size_t sent_plain = 0;
    std::string sent_reasoning, sent_answer;
};

Scheduler::Scheduler(MultiSequenceBackend& backend, SchedulerOptions options) : backend_(backend), options_(options) {
    const Model& model = backend_.model();
    const tokenizer::Tokenizer& tok = model.tokenizer();
    end_of_turn_ids_ = tok.eog_ids();
    if (auto id = tok.find_token(chat::chat_format_end_of_turn(model.chat_format().format))) end_of_turn_ids_.push_back(*id);
    std::sort(end_of_turn_ids_.begin(), end_of_turn_ids_.end());
    end_of_turn_ids_.erase(std::unique(end_of_turn_ids_.begin(), end_of_turn_ids_.end()), end_of_turn_ids_.end());
    if (options_.max_prompt_tokens == 0 || options_.max_prompt_tokens >= backend_.context_size()) options_.max_prompt_tokens = backend_.context_size() - 1;
    options_.prefill_chunk = std::max(options_.prefill_chunk, 1u);
    for (uint32_t i = 0; i < backend_.n_sequences(); ++i) {
        auto slot = std::make_unique<Slot>();
        slot->index = i;
        backend_.truncate(i, 0);
        slots_.push_back(std::move(slot));
    }
    stats_.sequences = backend_.n_sequences();
    thread_ = std::thread([this] { run(); });
}

Scheduler::~Scheduler() { stop(); }

void Scheduler::stop() {
    {
        std::lock_guard lock(mutex_);
        if (stopping_ && !thread_.joinable()) return;
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

Scheduler::Submit Scheduler::submit(std::shared_ptr<Job> job) {
    {
        std::lock_guard lock(mutex_);
        if (stopping_ || broken_) return Submit::Unavailable;
        // Room: every free sequence plus max_queue waiting places.
        if (queue_.size() + stats_.active >= static_cast<size_t>(options_.max_queue) + slots_.size()) return Submit::QueueFull;
        queue_.push_back(std::move(job));
        stats_.queued = static_cast<uint32_t>(queue_.size());
    }
    wake_.notify_all();
    return Submit::Accepted;
}

void Scheduler::notify() {
    {
        std::lock_guard lock(mutex_);
        drop_cancelled();
    }
    wake_.notify_all();
}

SchedulerStats Scheduler::stats() const {
    std::lock_guard lock(mutex_);
    SchedulerStats s = stats_;
    const Clock::time_point now = Clock::now();
    uint64_t tokens = 0;
    Clock::time_point first = now;
    for (const auto& [t, n] : recent_steps_) {
        if (now - t > std::chrono::seconds(10)) continue;
        first = std::min(first, t);
        tokens += n;
    }
    const double seconds = std::chrono::duration<double>(now - first).count();
    s.generation_tokens_per_s = seconds > 0.05 ? static_cast<double>(tokens) / seconds : 0.0;
    return s;
}

void Scheduler::drop_cancelled() {
    const auto gone = std::remove_if(queue_.begin(), queue_.end(), [](const std::shared_ptr<Job>& j) { return j->cancelled.load(); });
    queue_.erase(gone, queue_.end());
    stats_.queued = static_cast<uint32_t>(queue_.size());
}

bool Scheduler::ends_turn(int32_t token) const { return std::binary_search(end_of_turn_ids_.begin(), end_of_turn_ids_.end(), token); }

void Scheduler::run() {
    std::unique_lock lock(mutex_);
    for (;;) {
        const auto busy = [&] { return std::any_of(slots_.begin(), slots_.end(), [](const auto& s) { return s->job != nullptr; }); };
        const auto has_free = [&] { return std::any_of(slots_.begin(), slots_.end(), [](const auto& s) { return s->job == nullptr; }); };
        wake_.wait(lock, [&] { return stopping_ || busy() || (!queue_.empty() && has_free()); });
        if (stopping_) break;
        admit(lock);
        lock.unlock();
        // Cancelled or late requests leave before the step.
        for (auto& slot : slots_) {
            if (!slot->job) continue;
            if (slot->job->cancelled.load()) {
                release(*slot);
                std::lock_guard stats_lock(mutex_);
                ++stats_.requests_cancelled;
            } else if (Clock::now() > slot->job->deadline) {
                fail(*slot, 408, "timeout_error", "the request took longer than this server's limit on total request time");
            }
        }
        try {
            prefill_step();
            decode_step();
        } catch (const ModelFileChanged& e) {
            fail_everything(503, std::string(e.what()));
            lock.lock();
            broken_ = true;
            continue;
        }
        lock.lock();
    }
    lock.unlock();
    fail_everything(503, "the server is shutting down");
}

void Scheduler::fail_everything(int status, const std::string& message) {
    for (auto& slot : slots_) {
        if (slot->job) fail(*slot, status, "server_error", message);
    }
    std::deque<std::shared_ptr<Job>> queued;
    {
        std::lock_guard lock(mutex_);
        queued.swap(queue_);
        stats_.queued = 0;
    }
    for (auto& job : queued) {
        JobEvent e;
        e.kind = JobEvent::Kind::Failed;
        e.status = status;
        e.error_type = "server_error";
        e.message = message;
        job->on_event(std::move(e));
    }
}

void Scheduler::admit(std::unique_lock<std::mutex>& lock) {
    drop_cancelled();
    while (!queue_.empty()) {
        Slot* free_slot = nullptr;
        for (auto& s : slots_) {
            if (!s->job) free_slot = s.get();
        }
        if (!free_slot) return;
        std::shared_ptr<Job> job = queue_.front();
        queue_.pop_front();
        stats_.queued = static_cast<uint32_t>(queue_.size());
        lock.unlock();

        const Model& model = backend_.model();
        std::vector<int32_t> prompt;
        std::optional<JobEvent> error;
        try {
            const CompletionRequest& r = job->request;
            if (r.chat) {
                chat::ChatOptions chat_options;
                chat_options.think_prefix = model.chat_format().think_prefix;
                prompt = chat::chat_to_tokens(model.tokenizer(), model.chat_format().format, r.messages, chat_options);
            } else {
                prompt = model.tokenizer().encode(r.prompt, true, true);
            }
            if (prompt.empty()) throw ApiError(400, "invalid_request_error", "the prompt has no tokens", r.chat ? "messages" : "prompt");
            if (prompt.size() > options_.max_prompt_tokens) {
                throw ApiError(400, "invalid_request_error",
                               "the prompt is " + std::to_string(prompt.size()) + " tokens; this server takes at most " +
                                   std::to_string(options_.max_prompt_tokens) + " per request",
                               r.chat ? "messages" : "prompt", "context_length_exceeded");
            }
        } catch (const ApiError& e) {
            error = JobEvent{JobEvent::Kind::Failed, {}, {}, 0, 0, {}, e.status, e.type, e.what()};
        } catch (const std::exception& e) {
            error = JobEvent{JobEvent::Kind::Failed, {}, {}, 0, 0, {}, 400, "invalid_request_error", std::string("cannot tokenize the prompt: ") + e.what()};
        }
        if (error) {
            job->on_event(std::move(*error));
        } else {
            // The free sequence sharing the longest prefix with the prompt, else the least recently used.
            Slot* best = nullptr;
            size_t best_common = 0;
            for (auto& s : slots_) {
                if (s->job) continue;
                const auto mismatch = std::mismatch(s->history.begin(), s->history.end(), prompt.begin(), prompt.end());
                const size_t common = static_cast<size_t>(mismatch.first - s->history.begin());
                if (!best || common > best_common || (common == best_common && s->last_used < best->last_used)) {
                    best = s.get();
                    best_common = common;
                }
            }
            start(*best, std::move(job), std::move(prompt));
        }
        lock.lock();
    }
}

void Scheduler::start(Slot& slot, std::shared_ptr<Job> job, std::vector<int32_t> prompt) {
    const auto mismatch = std::mismatch(slot.history.begin(), slot.history.end(), prompt.begin(), prompt.end());
    const size_t common = static_cast<size_t>(mismatch.first - slot.history.begin());
    // A shared prefix shorter than one prefill chunk is evaluated again: that costs less than a
    // chunk, and the request then computes exactly what it computes on a fresh sequence (the
    // batched kernels round differently for different groupings of the same tokens).
    const auto keep = common < options_.prefill_chunk ? 0u : static_cast<uint32_t>(std::min(common, prompt.size() - 1));
    backend_.truncate(slot.index, keep);
    slot.history.resize(keep);
    slot.last_used = ++clock_;
    slot.job = std::move(job);
    slot.prompt = std::move(prompt);
    slot.generated = 0;
    slot.pending.reset();
    slot.logits.assign(backend_.model().config().n_vocab, 0.0f);
    const GenerationParams& params = slot.job->request.params;
    slot.sampler.emplace(params.sampling);
    slot.decoder.emplace(backend_.model().tokenizer());
    slot.filter.emplace(params.stop_strings);
    slot.opened_reasoning = slot.job->request.chat && backend_.model().chat_format().think_prefix;
    slot.split = !slot.job->request.chat ? Slot::Split::Plain : slot.opened_reasoning ? Slot::Split::Reasoning : Slot::Split::Undecided;
    slot.raw.clear();
    slot.sent_plain = 0;
    slot.sent_reasoning.clear();
    slot.sent_answer.clear();
    {
        std::lock_guard lock(mutex_);
        stats_.prompt_tokens += slot.prompt.size();
        stats_.prompt_tokens_evaluated += slot.prompt.size() - keep;
        ++stats_.active;
    }
    JobEvent e;
    e.kind = JobEvent::Kind::Started;
    e.prompt_tokens = static_cast<uint32_t>(slot.prompt.size());
    slot.job->on_event(std::move(e));
}

void Scheduler::prefill_step() {
    // The longest-waiting prefilling sequence gets one chunk, evaluated alone.
    Slot* slot = nullptr;
    for (auto& s : slots_) {
        if (s->job && s->history.size() < s->prompt.size() && (!slot || s->last_used < slot->last_used)) slot = s.get();
    }
    if (!slot) return;
    const size_t begin = slot->history.size();
    const size_t count = std::min<size_t>(options_.prefill_chunk, slot->prompt.size() - begin);
    const bool last = begin + count == slot->prompt.size();
    const SequenceSlice slice{slot->index, std::span<const int32_t>(slot->prompt.data() + begin, count), last};
    try {
        backend_.evaluate(std::span<const SequenceSlice>(&slice, 1), last ? slot->logits.data() : nullptr);
    } catch (const ModelFileChanged&) {
        throw;
    } catch (const std::exception& e) {
        fail(*slot, 500, "server_error", std::string("evaluation failed: ") + e.what());
        return;
    }
    slot->history.insert(slot->history.end(), slice.tokens.begin(), slice.tokens.end());
    if (last) sample_next(*slot);
}

void Scheduler::decode_step() {
    std::vector<SequenceSlice> slices;
    std::vector<Slot*> members;
    for (auto& s : slots_) {
        if (s->job && s->pending) {
            slices.push_back(SequenceSlice{s->index, std::span<const int32_t>(&*s->pending, 1), true});
            members.push_back(s.get());
        }
    }
    if (slices.empty()) return;
    const size_t n_vocab = backend_.model().config().n_vocab;
    std::vector<float> logits(slices.size() * n_vocab);
    try {
        backend_.evaluate(slices, logits.data());
    } catch (const ModelFileChanged&) {
        throw;
    } catch (const std::exception& e) {
        for (Slot* s : members) fail(*s, 500, "server_error", std::string("evaluation failed: ") + e.what());
        return;
    }
    {
        std::lock_guard lock(mutex_);
        ++stats_.decode_steps;
        const Clock::time_point now = Clock::now();
        recent_steps_.emplace_back(now, static_cast<uint32_t>(slices.size()));
        std::erase_if(recent_steps_, [&](const auto& step) { return now - step.first > std::chrono::seconds(10); });
    }
    for (size_t k = 0; k < members.size(); ++k) {
        Slot& s = *members[k];
        s.history.push_back(*s.pending);
        s.pending.reset();
        std::copy_n(logits.data() + k * n_vocab, n_vocab, s.logits.data());
        sample_next(s);
    }
}

void Scheduler::sample_next(Slot& slot) {
    const GenerationParams& params = slot.job->request.params;
    int32_t token = 0;
    try {
        token = slot.sampler->sample(slot.logits, slot.history);
    } catch (const std::exception& e) {
        fail(slot, 500, "server_error", std::string("sampling failed: ") + e.what());
        return;
    }
    ++slot.generated;
    {
        std::lock_guard lock(mutex_);
        ++stats_.generated_tokens;
    }
    if (ends_turn(token) && !slot.job->request.ignore_eos) return finish(slot, "stop");
    emit_text(slot, slot.filter->push(slot.decoder->feed(token)), false);
    if (slot.filter->stopped()) return finish(slot, "stop");
    if (static_cast<int64_t>(slot.generated) >= params.max_new_tokens) return finish(slot, "length");
    if (slot.history.size() >= backend_.context_size()) return finish(slot, "length");
    slot.pending = token;
}

void Scheduler::emit_text(Slot& slot, std::string_view text, bool final) {
    slot.raw += text;
    JobEvent e;
    e.kind = JobEvent::Kind::Delta;
    if (slot.split == Slot::Split::Undecided) {
        const size_t first = slot.raw.find_first_not_of(" \t\r\n");
        const std::string_view rest = first == std::string::npos ? std::string_view() : std::string_view(slot.raw).substr(first);
        constexpr std::string_view open = "<think>";
        if (!final && (rest.empty() || (rest.size() < open.size() && open.starts_with(rest)))) return; // not decided yet
        slot.split = rest.starts_with(open) ? Slot::Split::Reasoning : Slot::Split::Plain;
    }
    if (slot.split == Slot::Split::Plain) {
        e.content = slot.raw.substr(slot.sent_plain);
        slot.sent_plain = slot.raw.size();
    } else {
        const chat::ReasoningSplit split = chat::split_reasoning(slot.raw, slot.opened_reasoning);
        // Trimming can hold back trailing whitespace; what was sent is always a prefix.
        if (split.reasoning.starts_with(slot.sent_reasoning)) {
            e.reasoning = split.reasoning.substr(slot.sent_reasoning.size());
            slot.sent_reasoning = split.reasoning;
        }
        if (split.answer.starts_with(slot.sent_answer)) {
            e.content = split.answer.substr(slot.sent_answer.size());
            slot.sent_answer = split.answer;
        }
    }
    if (!e.content.empty() || !e.reasoning.empty()) slot.job->on_event(std::move(e));
}

void Scheduler::finish(Slot& slot, const std::string& reason) {
    if (!slot.filter->stopped()) {
        try {
            emit_text(slot, slot.filter->push(slot.decoder->flush()), false);
            emit_text(slot, slot.filter->finish(), true);
        } catch (const std::exception& e) {
            return fail(slot, 500, "server_error", e.what());
        }
    } else {
        emit_text(slot, "", true);
    }
    JobEvent e;
    e.kind = JobEvent::Kind::Done;
    e.finish_reason = reason;
    e.prompt_tokens = static_cast<uint32_t>(slot.prompt.size());
    e.completion_tokens = slot.generated;
    slot.job->on_event(std::move(e));
    {
        std::lock_guard lock(mutex_);
        ++stats_.requests_done;
    }
    release(slot);
}

void Scheduler::fail(Slot& slot, int status, const std::string& type, const std::string& message) {
    JobEvent e;
    e.kind = JobEvent::Kind::Failed;
    e.status = status;
    e.error_type = type;
    e.message = message;
    slot.job->on_event(std::move(e));
    {
        std::lock_guard lock(mutex_);
        ++stats_.requests_failed;
    }
    release(slot);
}

void Scheduler::release(Slot& slot) {
    // The cache keeps every evaluated token: a follow-up turn reuses it.
    slot.history.resize(backend_.n_cached(slot.index));
    slot.job.reset();
    slot.pending.reset();
    slot.sampler.reset();
    slot.decoder.reset();
    slot.filter.reset();
    std::lock_guard lock(mutex_);
    --stats_.active;
}

} // namespace latent::server
