// A persistent pool of worker threads for the CPU kernels.
//
// The threads are created once; between calls they spin briefly (a decode step issues thousands
// of small matmuls back to back) and then sleep on a condition variable. The calling thread
// takes part in every call, so a pool of n threads runs n - 1 workers.
//
// Tasks are handed out dynamically: one 64-bit atomic word holds the call's generation (high 32
// bits) and the next unclaimed task (low 32 bits), and a thread claims a task with a
// compare-exchange that also checks the generation. A worker that wakes late, after its call
// finished, therefore never claims a task of a later call, and the caller need not wait for
// workers that found nothing to do (important when the machine is oversubscribed).
//
// A task that reads a page of a mapped model file that has since been truncated does not kill
// the process: the SIGBUS handler (core/mapping_faults.h) turns the lost pages into zeros and
// marks the map, the task finishes normally on any thread, and the backend that made the call
// checks the mark once parallel_for has returned (SequenceBackend::commit_batch). No recovery
// point is needed here, and no lock of the pool is ever left held by a jump.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace latent::cpu {

class ThreadPool {
public:
    // The body of a parallel_for: runs task `task` (0 <= task < n_tasks) on thread `thread`
    // (0 = the caller, 1 .. size() - 1 = workers), which indexes per-thread scratch.
    using TaskFunction = std::function<void(size_t task, unsigned thread)>;

    // n_threads counts the caller; 0 = std::thread::hardware_concurrency().
    explicit ThreadPool(unsigned n_threads = 0);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    unsigned size() const { return n_threads_; }

    // Runs fn(task, thread) for every task in [0, n_tasks) and returns when all have run. The
    // first exception thrown by a task is rethrown here once the call has finished; tasks not
    // yet started when it was thrown are skipped. Calls from several threads are serialised; a
    // call from inside a task of this pool runs its tasks inline on the calling thread.
    // Allocates nothing (keep fn's captures small enough for std::function's local buffer).
    void parallel_for(size_t n_tasks, const TaskFunction& fn);

    // As parallel_for, but in shares: each thread of the call first runs one contiguous share
    // of [0, n_tasks) in order, then takes what is left of the other shares from their ends.
    // For tasks that read consecutive memory (a matrix's row chunks): each thread's reads stay
    // one stream from task to task, where parallel_for's interleaved hand-out starts a new one
    // every task. After a task throws, the other threads may still run the tasks left; the
    // first exception is rethrown. Allocates nothing either.
    void parallel_for_shares(size_t n_tasks, const TaskFunction& fn);

private:
    // Job description of one generation; two slots so that the caller fills the next call's
    // slot while a late worker may still be reading the previous one.
    struct Job {
        std::atomic<const TaskFunction*> fn{nullptr};
        std::atomic<uint32_t> n_tasks{0};
    };

    // One share of a parallel_for_shares call: the next task from the front << 32 | the end
    // (the next task from the back + 1).
    struct alignas(64) Share {
        std::atomic<uint64_t> range{0};
    };

    // parallel_for's body, with call_mutex_ held.
    void run_call(size_t n_tasks, const TaskFunction& fn);
    void worker_main(unsigned thread);
    // Claims and runs tasks of generation `generation` until none is left.
    void run_tasks(uint32_t generation, unsigned thread);
    void record_error(std::exception_ptr error);

    unsigned n_threads_ = 1;
    std::vector<std::thread> workers_;

    alignas(64) std::atomic<uint64_t> claim_{0}; // generation << 32 | next task
    alignas(64) std::atomic<uint32_t> done_{0};  // tasks finished in the current generation
    alignas(64) Job jobs_[2];
    std::atomic<bool> failed_{false};            // a task threw; skip the rest
    std::mutex error_mutex_;
    std::exception_ptr error_;                   // first exception of the current call

    std::mutex call_mutex_;                      // one parallel_for at a time
    std::vector<Share> shares_;                  // parallel_for_shares' table, one per thread
    std::mutex sleep_mutex_;
    std::condition_variable wake_;
    std::atomic<unsigned> sleepers_{0};
    std::atomic<bool> stop_{false};
};

} // namespace latent::cpu
