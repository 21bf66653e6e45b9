// Runs one thread block: each CUDA thread is a Boost.Context fiber on the calling OS thread.
// A fiber runs without interruption until it reaches a barrier or a warp collective, so the
// only switches are at synchronisation points. Between two barriers the scheduler picks the next
// runnable fiber at random (seeded), so code that misses a barrier sees a different interleaving
// on every seed and computes a wrong result on some of them.
//
// Internal to the emulator (kernels/emu/); the kernel-side entry points are in emu_runtime.h.
#pragma once

#include "emu/emu_runtime.h"

#include <boost/context/fiber.hpp>

#include <cstdint>
#include <functional>
#include <source_location>
#include <string>
#include <vector>

namespace latent::emu {

// Fiber stacks (mmap'ed with a guard page below), kept for reuse by one worker thread.
class StackPool {
public:
    explicit StackPool(std::size_t stack_bytes);
    ~StackPool();
    StackPool(const StackPool&) = delete;
    StackPool& operator=(const StackPool&) = delete;

    boost::context::stack_context take();
    void give(const boost::context::stack_context& stack) noexcept;

private:
    std::size_t stack_bytes_;
    std::size_t guard_bytes_;
    std::vector<boost::context::stack_context> free_;
};

// What one launch runs; shared by every block of it.
struct LaunchPlan {
    LaunchSite site;
    dim3 grid;
    dim3 block;
    std::size_t shared_bytes = 0;
    const std::function<void()>* body = nullptr;
    uint64_t seed = 0; // schedule seed of this launch (the process seed mixed with the launch number)
};

class BlockScheduler {
public:
    BlockScheduler(StackPool& stacks, const LaunchPlan& plan, uint3 block_idx, unsigned char* dynamic_shared);
    ~BlockScheduler();
    BlockScheduler(const BlockScheduler&) = delete;
    BlockScheduler& operator=(const BlockScheduler&) = delete;

    // Runs the block to completion. Returns an empty string, or what went wrong (deadlock, a
    // warp collective that can never complete or reads an inactive lane, a trap, an exception).
    std::string run();

    // Called on a fiber by the kernel-side entry points (through the current thread).
    uint64_t warp_collective(detail::Collective kind, unsigned mask, uint64_t value, int param, int width,
                             const std::source_location& site);
    int block_barrier(detail::BarrierKind kind, int predicate, const std::source_location& site);
    unsigned active_mask() const;
    [[noreturn]] void fail(const std::string& message);

private:
    enum class State : uint8_t { Ready, Running, AtBarrier, AtWarp, Exited };
    struct Thread {
        detail::ThreadCoords coords{};
        unsigned warp = 0, lane = 0;
        State state = State::Ready;
        detail::Collective waiting_on = detail::Collective::SyncWarp;
        std::source_location site;
        boost::context::fiber context;   // the suspended fiber
        boost::context::fiber scheduler; // inside the fiber: the way back to run()
        uint64_t in = 0, out = 0;        // collective operand and result
        int param = 0, width = 32;
        void* fake_stack = nullptr;      // AddressSanitizer's fake stack while switched out
        const void* stack_bottom = nullptr;
        std::size_t stack_size = 0;
    };
    struct Pending { // a warp collective some lanes of `mask` have joined
        detail::Collective kind;
        unsigned mask;
        unsigned arrived;
        std::source_location site;
    };
    struct Warp {
        unsigned existing = 0; // lanes that exist (the last warp of a block may be partial)
        unsigned exited = 0;
        std::vector<Pending> pending;
    };

    boost::context::fiber entry(Thread& thread, boost::context::fiber&& scheduler);
    void resume(Thread& thread);
    void suspend(Thread& thread);
    void thread_exited(Thread& thread);
    void complete(Warp& warp, const Pending& pending);
    void release_barrier();
    std::string deadlock_report() const;
    std::string where() const;
    void record_error(const std::string& message);
    uint64_t next_random();

    StackPool& stacks_;
    const LaunchPlan& plan_;
    uint3 block_idx_;
    std::vector<Thread> threads_;
    std::vector<Warp> warps_;
    std::vector<unsigned> ready_;
    Thread* current_ = nullptr; // the fiber running now
    unsigned live_ = 0;
    unsigned at_barrier_ = 0;
    int barrier_count_ = 0, barrier_and_ = 1, barrier_or_ = 0; // accumulating
    int last_count_ = 0, last_and_ = 1, last_or_ = 0;           // of the last released barrier
    uint64_t random_state_;
    bool aborting_ = false;
    std::string error_;
    void* scheduler_fake_stack_ = nullptr;
    const void* scheduler_stack_bottom_ = nullptr;
    std::size_t scheduler_stack_size_ = 0;
};

// The block running on this OS thread (null outside a kernel).
extern thread_local BlockScheduler* t_scheduler;

std::string collective_name(detail::Collective kind);

} // namespace latent::emu
