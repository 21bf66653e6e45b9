#include "cpu/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace latent::cpu {
namespace {

// The pool whose task the current thread is running (workers: always their pool), and the
// thread's index in it; a parallel_for on that pool from inside a task runs inline.
thread_local const ThreadPool* t_active_pool = nullptr;
thread_local unsigned t_thread_index = 0;

// How long an idle worker spins before sleeping, and after how long spinning threads start to
// yield their core (so an oversubscribed machine still makes progress).
constexpr auto kSpinTime = std::chrono::microseconds(1000);
constexpr int kPauseIterations = 1024;

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#else
    std::this_thread::yield();
#endif
}

uint32_t generation_of(uint64_t claim) { return static_cast<uint32_t>(claim >> 32); }
uint32_t task_of(uint64_t claim) { return static_cast<uint32_t>(claim); }

// Spins until ready() holds: pause for a while, then yield; gives up (returns false) after
// `limit` when a limit is given.
template <class Ready>
bool spin_until(Ready ready, std::chrono::microseconds limit) {
    for (int i = 0; i < kPauseIterations; ++i) {
        if (ready()) return true;
        cpu_relax();
    }
    const auto start = std::chrono::steady_clock::now();
    for (unsigned i = 0;; ++i) {
        if (ready()) return true;
        std::this_thread::yield();
        if (limit.count() > 0 && (i & 63) == 63 && std::chrono::steady_clock::now() - start > limit) return false;
    }
}

class ActivePoolScope {
public:
    ActivePoolScope(const ThreadPool* pool, unsigned thread)
        : saved_pool_(t_active_pool), saved_thread_(t_thread_index) {
        t_active_pool = pool;
        t_thread_index = thread;
    }
    ~ActivePoolScope() {
        t_active_pool = saved_pool_;
        t_thread_index = saved_thread_;
    }
    ActivePoolScope(const ActivePoolScope&) = delete;
    ActivePoolScope& operator=(const ActivePoolScope&) = delete;

private:
    const ThreadPool* saved_pool_;
    unsigned saved_thread_;
};

} // namespace

ThreadPool::ThreadPool(unsigned n_threads) {
    if (n_threads == 0) n_threads = std::max(1u, std::thread::hardware_concurrency());
    n_threads_ = n_threads;
    shares_ = std::vector<Share>(n_threads);
    workers_.reserve(n_threads - 1);
    for (unsigned thread = 1; thread < n_threads; ++thread) {
        workers_.emplace_back([this, thread] { worker_main(thread); });
    }
}

ThreadPool::~ThreadPool() {
    stop_.store(true);
    {
        std::lock_guard lock(sleep_mutex_);
    }
    wake_.notify_all();
    for (std::thread& worker : workers_) worker.join();
}

void ThreadPool::parallel_for(size_t n_tasks, const TaskFunction& fn) {
    if (n_tasks == 0) return;
    if (n_tasks == 1 || n_threads_ == 1 || t_active_pool == this) {
        const unsigned thread = t_active_pool == this ? t_thread_index : 0;
        for (size_t task = 0; task < n_tasks; ++task) fn(task, thread);
        return;
    }
    if (n_tasks > UINT32_MAX) throw std::length_error("ThreadPool::parallel_for: too many tasks");

    std::lock_guard call_lock(call_mutex_);
    run_call(n_tasks, fn);
}

void ThreadPool::run_call(size_t n_tasks, const TaskFunction& fn) {
    const uint32_t generation = generation_of(claim_.load(std::memory_order_relaxed)) + 1;
    Job& job = jobs_[generation & 1];
    job.fn.store(&fn, std::memory_order_relaxed);
    job.n_tasks.store(static_cast<uint32_t>(n_tasks), std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    failed_.store(false, std::memory_order_relaxed);
    error_ = nullptr;
    // Publishing the generation releases the job; sequentially consistent with the sleepers
    // check below so that a worker going to sleep either sees the new generation or is woken.
    claim_.store(static_cast<uint64_t>(generation) << 32);
    if (sleepers_.load() > 0) {
        { std::lock_guard lock(sleep_mutex_); }
        wake_.notify_all();
    }

    {
        ActivePoolScope scope(this, 0);
        run_tasks(generation, 0);
    }
    const uint32_t total = static_cast<uint32_t>(n_tasks);
    spin_until([&] { return done_.load(std::memory_order_acquire) == total; }, std::chrono::microseconds(0));

    if (failed_.load(std::memory_order_relaxed)) {
        std::exception_ptr error;
        {
            std::lock_guard lock(error_mutex_);
            error = std::move(error_);
            error_ = nullptr;
        }
        if (error) std::rethrow_exception(error);
    }
}

void ThreadPool::parallel_for_shares(size_t n_tasks, const TaskFunction& fn) {
    const unsigned n_shares = static_cast<unsigned>(std::min<size_t>(n_threads_, n_tasks));
    if (n_shares <= 1 || t_active_pool == this) {
        parallel_for(n_tasks, fn);
        return;
    }
    if (n_tasks > UINT32_MAX) throw std::length_error("ThreadPool::parallel_for_shares: too many tasks");
    std::lock_guard call_lock(call_mutex_); // the table is the pool's: one call at a time
    Share* shares = shares_.data();
    for (unsigned k = 0; k < n_shares; ++k) {
        const uint64_t begin = n_tasks * k / n_shares, end = n_tasks * (k + 1) / n_shares;
        shares[k].range.store(begin << 32 | end, std::memory_order_relaxed);
    }
    // One reference in the body's captures, so that std::function stores it without allocating.
    struct Call {
        const TaskFunction* fn;
        Share* shares;
        unsigned n_shares;
    } call{&fn, shares, n_shares};
    // run_call publishes the table to the workers (release) before they claim a share.
    run_call(n_shares, [&call](size_t own, unsigned thread) {
        // Claims the front (owner) or back (thief) task of a share; false when it is empty.
        const auto claim = [](Share& share, bool front, uint32_t& task) {
            uint64_t range = share.range.load(std::memory_order_relaxed);
            for (;;) {
                const uint32_t next = static_cast<uint32_t>(range >> 32), end = static_cast<uint32_t>(range);
                if (next >= end) return false;
                const uint64_t taken = front ? range + (uint64_t{1} << 32) : range - 1;
                if (share.range.compare_exchange_weak(range, taken, std::memory_order_relaxed)) {
                    task = front ? next : end - 1;
                    return true;
                }
            }
        };
        uint32_t task;
        while (claim(call.shares[own], true, task)) (*call.fn)(task, thread);
        for (unsigned k = 1; k < call.n_shares; ++k) {
            while (claim(call.shares[(own + k) % call.n_shares], false, task)) (*call.fn)(task, thread);
        }
    });
}

void ThreadPool::run_tasks(uint32_t generation, unsigned thread) {
    const Job& job = jobs_[generation & 1];
    // A late worker may read the slot while the caller refills it for a later call; the
    // generation check in the compare-exchange then fails, so what it read is never used.
    const TaskFunction* fn = job.fn.load(std::memory_order_relaxed);
    const uint32_t n_tasks = job.n_tasks.load(std::memory_order_relaxed);
    uint64_t claim = claim_.load(std::memory_order_acquire);
    for (;;) {
        if (generation_of(claim) != generation || task_of(claim) >= n_tasks) return;
        if (!claim_.compare_exchange_weak(claim, claim + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
            continue;
        }
        if (!failed_.load(std::memory_order_relaxed)) {
            try {
                (*fn)(task_of(claim), thread);
            } catch (...) {
                record_error(std::current_exception());
            }
        }
        done_.fetch_add(1, std::memory_order_release);
        ++claim;
    }
}

void ThreadPool::record_error(std::exception_ptr error) {
    std::lock_guard lock(error_mutex_);
    if (!error_) error_ = std::move(error);
    failed_.store(true, std::memory_order_relaxed);
}

void ThreadPool::worker_main(unsigned thread) {
    t_active_pool = this;
    t_thread_index = thread;
    // The generation when the pool was made, not when this thread got to run: a worker that
    // starts after the first call was published still takes part in it.
    uint32_t seen = 0;
    for (;;) {
        auto changed = [&] { return generation_of(claim_.load(std::memory_order_acquire)) != seen || stop_.load(); };
        if (!spin_until(changed, kSpinTime)) {
            std::unique_lock lock(sleep_mutex_);
            sleepers_.fetch_add(1);
            wake_.wait(lock, [&] { return generation_of(claim_.load()) != seen || stop_.load(); });
            sleepers_.fetch_sub(1);
        }
        if (stop_.load()) return;
        seen = generation_of(claim_.load(std::memory_order_acquire));
        run_tasks(seen, thread);
    }
}

} // namespace latent::cpu
