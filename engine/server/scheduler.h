// Continuous batching for `latent serve`: N sequences, each with its own latent KV cache in one
// MultiSequenceBackend, served from one thread. Every step evaluates at most one prefill chunk
// (a newly admitted request's prompt, alone, as a single session would) and then one decode
// batch holding the next token of every generating sequence, so the weights are read once per
// step for all of them. Requests join and leave between steps.
//
//   queue (bounded: submit() says QueueFull, the server answers 429)
//     → admission: the prompt is tokenized; the free sequence whose cache shares the longest
//       prefix with it is chosen (a follow-up turn of a conversation evaluates only its new
//       tokens), else the least recently used; a shared prefix shorter than one prefill chunk
//       is not reused, so a new conversation computes exactly what it would on a fresh server
//     → prefill in chunks → decode steps (sample → end of turn / stop string / max tokens /
//       context full → evaluate) → Done
// A job's cancel flag (client disconnect) or deadline is checked before every step: its sequence
// is freed at once, and its cache stays usable for prefix reuse.
//
// Events are delivered on the scheduler thread through Job::on_event, which must not block.
#pragma once

#include "backend/multi_sequence.h"
#include "server/openai_request.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace latent::server {

struct JobEvent {
    enum class Kind {
        Started, // admitted to a sequence; prompt_tokens set
        Delta,   // new text: content and/or reasoning (never both empty)
        Done,    // finished: finish_reason, prompt_tokens, completion_tokens
        Failed,  // status, error_type, message; may come instead of Started or after it
    };
    Kind kind = Kind::Delta;
    std::string content;                // Delta: answer text
    std::string reasoning;              // Delta: R1-style thinking (reasoning_content)
    uint32_t prompt_tokens = 0;         // Started, Done
    uint32_t completion_tokens = 0;     // Done: tokens sampled (including a final end-of-turn token)
    std::string finish_reason;          // Done: "stop" (end of turn, stop string) or "length"
    int status = 500;                   // Failed: HTTP status
    std::string error_type;             // Failed: OpenAI error type
    std::string message;                // Failed: what went wrong
};

struct Job {
    CompletionRequest request;
    std::chrono::steady_clock::time_point deadline; // the request's total-time limit
    std::atomic<bool> cancelled{false};             // set by the connection (disconnect)
    std::function<void(JobEvent)> on_event;         // called on the scheduler thread
};

struct SchedulerOptions {
    uint32_t max_queue = 16;          // requests waiting for a free sequence (beyond those a free sequence takes at once)
    uint32_t prefill_chunk = 256;     // prompt tokens per prefill step
    uint32_t max_prompt_tokens = 0;   // 0: the context size − 1
};

struct SchedulerStats {
    uint32_t sequences = 0;              // --parallel
    uint32_t active = 0;                 // sequences serving a request
    uint32_t queued = 0;                 // requests waiting
    uint64_t requests_done = 0;          // finished (Done)
    uint64_t requests_failed = 0;        // Failed after admission
    uint64_t requests_cancelled = 0;     // freed by a disconnect or deadline
    uint64_t prompt_tokens = 0;          // prompt tokens of admitted requests
    uint64_t prompt_tokens_evaluated = 0; // of which evaluated (the rest came from prefix reuse)
    uint64_t generated_tokens = 0;       // tokens sampled
    uint64_t decode_steps = 0;           // decode batches evaluated
    double generation_tokens_per_s = 0;  // decode tokens per second over the last few seconds of steps
};

class Scheduler {
public:
    Scheduler(MultiSequenceBackend& backend, SchedulerOptions options);
    ~Scheduler();
    Scheduler(const Scheduler&) = delete;
    Scheduler& operator=(const Scheduler&) = delete;

    enum class Submit { Accepted, QueueFull, Unavailable };
    // Queues a job (never blocks). Unavailable once stopped or after the model file changed.
    Submit submit(std::shared_ptr<Job> job);
    // Wakes the loop (after setting a job's cancel flag) so a cancelled job is dropped at once.
    void notify();
    // Stops the thread; queued and running jobs fail with 503.
    void stop();

    SchedulerStats stats() const;
    uint32_t context_size() const { return backend_.context_size(); }

private:
    struct Slot;
    void run();
    void admit(std::unique_lock<std::mutex>& lock);
    void start(Slot& slot, std::shared_ptr<Job> job, std::vector<int32_t> prompt);
    void prefill_step();
    void decode_step();
    void sample_next(Slot& slot);
    void emit_text(Slot& slot, std::string_view text, bool final);
    void finish(Slot& slot, const std::string& reason);
    void fail(Slot& slot, int status, const std::string& type, const std::string& message);
    void release(Slot& slot);
    void drop_cancelled();
    void fail_everything(int status, const std::string& message);
    bool ends_turn(int32_t token) const;

    MultiSequenceBackend& backend_;
    SchedulerOptions options_;
    std::vector<int32_t> end_of_turn_ids_; // sorted
    std::vector<std::unique_ptr<Slot>> slots_;
    uint64_t clock_ = 0; // for least-recently-used slot choice

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::shared_ptr<Job>> queue_;
    bool stopping_ = false;
    bool broken_ = false; // the model file changed: nothing more can run
    SchedulerStats stats_;
    std::vector<std::pair<std::chrono::steady_clock::time_point, uint32_t>> recent_steps_; // (time, tokens) of recent decode steps
    std::thread thread_;
};

} // namespace latent::server
