// One thread block on fibers. See block_scheduler.h and README.md.
#include "emu/block_scheduler.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <exception>
#include <map>
#include <sstream>
#include <cstdio>
#include <cstdlib>

#if defined(__SANITIZE_ADDRESS__)
#define LATENT_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LATENT_EMU_ASAN 1
#endif
#endif

#if defined(LATENT_EMU_ASAN)
extern "C" void __sanitizer_start_switch_fiber(void** fake_stack_save, const void* bottom, std::size_t size);
extern "C" void __sanitizer_finish_switch_fiber(void* fake_stack_save, const void** bottom_old, std::size_t* size_old);
#endif

namespace latent::emu {

thread_local BlockScheduler* t_scheduler = nullptr;

namespace detail {
thread_local const ThreadCoords* t_coords = nullptr;
}

namespace {

// Thrown into a fiber to unwind its stack when the block is abandoned (deadlock, fault).
struct AbortBlock {};

void start_switch([[maybe_unused]] void** fake_stack, [[maybe_unused]] const void* bottom,
                  [[maybe_unused]] std::size_t size) {
#if defined(LATENT_EMU_ASAN)
    __sanitizer_start_switch_fiber(fake_stack, bottom, size);
#endif
}
void finish_switch([[maybe_unused]] void* fake_stack, [[maybe_unused]] const void** bottom_old,
                   [[maybe_unused]] std::size_t* size_old) {
#if defined(LATENT_EMU_ASAN)
    __sanitizer_finish_switch_fiber(fake_stack, bottom_old, size_old);
#endif
}

std::string hex(unsigned v) {
    std::ostringstream out;
    out << "0x" << std::hex << v;
    return out.str();
}

std::string site_text(const std::source_location& site) {
    return std::string(site.file_name()) + ":" + std::to_string(site.line());
}

bool is_shuffle(detail::Collective kind) {
    using detail::Collective;
    return kind == Collective::Shuffle || kind == Collective::ShuffleUp || kind == Collective::ShuffleDown ||
           kind == Collective::ShuffleXor;
}

struct PooledStack { // Boost.Context StackAllocator over a StackPool
    StackPool* pool;
    boost::context::stack_context allocate() { return pool->take(); }
    void deallocate(boost::context::stack_context& stack) noexcept { pool->give(stack); }
};

} // namespace

std::string collective_name(detail::Collective kind) {
    using detail::Collective;
    switch (kind) {
    case Collective::SyncWarp: return "__syncwarp";
    case Collective::Shuffle: return "__shfl_sync";
    case Collective::ShuffleUp: return "__shfl_up_sync";
    case Collective::ShuffleDown: return "__shfl_down_sync";
    case Collective::ShuffleXor: return "__shfl_xor_sync";
    case Collective::Ballot: return "__ballot_sync";
    case Collective::Any: return "__any_sync";
    case Collective::All: return "__all_sync";
    case Collective::ReduceAdd: return "__reduce_add_sync";
    case Collective::ReduceMinUnsigned:
    case Collective::ReduceMinSigned: return "__reduce_min_sync";
    case Collective::ReduceMaxUnsigned:
    case Collective::ReduceMaxSigned: return "__reduce_max_sync";
    case Collective::ReduceAnd: return "__reduce_and_sync";
    case Collective::ReduceOr: return "__reduce_or_sync";
    case Collective::ReduceXor: return "__reduce_xor_sync";
    }
    return "warp collective";
}

// ---- stacks --------------------------------------------------------------------------------

StackPool::StackPool(std::size_t stack_bytes)
    : stack_bytes_(stack_bytes), guard_bytes_(static_cast<std::size_t>(sysconf(_SC_PAGESIZE))) {}

StackPool::~StackPool() {
    for (const auto& stack : free_) {
        munmap(static_cast<char*>(stack.sp) - stack.size - guard_bytes_, stack.size + guard_bytes_);
    }
}

boost::context::stack_context StackPool::take() {
    if (!free_.empty()) {
        const auto stack = free_.back();
        free_.pop_back();
        return stack;
    }
    void* base = mmap(nullptr, stack_bytes_ + guard_bytes_, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) throw std::bad_alloc();
    mprotect(base, guard_bytes_, PROT_NONE); // a stack overflow faults instead of corrupting
    boost::context::stack_context stack;
    stack.size = stack_bytes_;
    stack.sp = static_cast<char*>(base) + guard_bytes_ + stack_bytes_;
    return stack;
}

void StackPool::give(const boost::context::stack_context& stack) noexcept { free_.push_back(stack); }

// ---- block ---------------------------------------------------------------------------------

BlockScheduler::BlockScheduler(StackPool& stacks, const LaunchPlan& plan, uint3 block_idx, unsigned char* dynamic_shared)
    : stacks_(stacks), plan_(plan), block_idx_(block_idx) {
    const unsigned count = plan.block.x * plan.block.y * plan.block.z;
    const unsigned block_linear = block_idx.x + plan.grid.x * (block_idx.y + plan.grid.y * block_idx.z);
    random_state_ = plan.seed ^ (0x9E3779B97F4A7C15ull * (block_linear + 1));
    threads_.resize(count);
    warps_.resize((count + 31) / 32);
    for (unsigned i = 0; i < count; ++i) {
        Thread& t = threads_[i];
        t.coords.thread_idx = uint3{i % plan.block.x, (i / plan.block.x) % plan.block.y, i / (plan.block.x * plan.block.y)};
        t.coords.block_idx = block_idx;
        t.coords.block_dim = plan.block;
        t.coords.grid_dim = plan.grid;
        t.coords.dynamic_shared = dynamic_shared;
        t.warp = i / 32;
        t.lane = i % 32;
        warps_[t.warp].existing |= 1u << t.lane;
    }
}

BlockScheduler::~BlockScheduler() = default;

uint64_t BlockScheduler::next_random() { // splitmix64
    uint64_t z = (random_state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

std::string BlockScheduler::where() const {
    std::ostringstream out;
    out << "kernel '" << plan_.site.kernel << "' (launched at " << plan_.site.file << ":" << plan_.site.line
        << "), block (" << block_idx_.x << "," << block_idx_.y << "," << block_idx_.z << ")";
    return out.str();
}

void BlockScheduler::record_error(const std::string& message) {
    if (error_.empty()) error_ = where() + ": " + message;
    aborting_ = true;
}

void BlockScheduler::fail(const std::string& message) {
    record_error(message);
    throw AbortBlock{};
}

boost::context::fiber BlockScheduler::entry(Thread& thread, boost::context::fiber&& scheduler) {
    finish_switch(nullptr, &scheduler_stack_bottom_, &scheduler_stack_size_);
    thread.scheduler = std::move(scheduler);
    if (!aborting_) {
        try {
            (*plan_.body)();
        } catch (const AbortBlock&) {
        } catch (const std::exception& e) {
            record_error(std::string("thread (") + std::to_string(thread.coords.thread_idx.x) + "," +
                         std::to_string(thread.coords.thread_idx.y) + "," + std::to_string(thread.coords.thread_idx.z) +
                         ") threw: " + e.what());
        }
    }
    thread.state = State::Exited;
    start_switch(nullptr, scheduler_stack_bottom_, scheduler_stack_size_);
    return std::move(thread.scheduler);
}

void BlockScheduler::resume(Thread& thread) {
    thread.state = State::Running;
    current_ = &thread;
    detail::t_coords = &thread.coords;
    start_switch(&scheduler_fake_stack_, thread.stack_bottom, thread.stack_size);
    thread.context = std::move(thread.context).resume();
    finish_switch(scheduler_fake_stack_, nullptr, nullptr);
    detail::t_coords = nullptr;
    current_ = nullptr;
    if (thread.state == State::Exited) thread_exited(thread);
}

void BlockScheduler::suspend(Thread& thread) {
    start_switch(&thread.fake_stack, scheduler_stack_bottom_, scheduler_stack_size_);
    thread.scheduler = std::move(thread.scheduler).resume();
    finish_switch(thread.fake_stack, nullptr, nullptr);
    if (aborting_) throw AbortBlock{};
}

void BlockScheduler::thread_exited(Thread& thread) {
    --live_;
    Warp& warp = warps_[thread.warp];
    const unsigned bit = 1u << thread.lane;
    warp.exited |= bit;
    for (const Pending& p : warp.pending) {
        if ((p.mask & bit) && !(p.arrived & bit) && !aborting_) {
            record_error("lane " + std::to_string(thread.lane) + " of warp " + std::to_string(thread.warp) +
                         " exited while lanes " + hex(p.arrived) + " wait for it in " + collective_name(p.kind) +
                         " with mask " + hex(p.mask) + " at " + site_text(p.site) +
                         ": the collective can never complete");
        }
    }
}

std::string BlockScheduler::run() {
    t_scheduler = this;
    const unsigned count = static_cast<unsigned>(threads_.size());
    for (unsigned i = 0; i < count; ++i) {
        Thread& t = threads_[i];
        const auto stack = stacks_.take();
        stacks_.give(stack); // the fiber takes it again through PooledStack
        t.stack_bottom = static_cast<const char*>(stack.sp) - stack.size;
        t.stack_size = stack.size;
        t.context = boost::context::fiber(std::allocator_arg, PooledStack{&stacks_},
                                          [this, &t](boost::context::fiber&& scheduler) { return entry(t, std::move(scheduler)); });
        ready_.push_back(count - 1 - i);
    }
    live_ = count;
    while (true) {
        while (!ready_.empty() && !aborting_) {
            const std::size_t pick = next_random() % ready_.size();
            const unsigned index = ready_[pick];
            ready_[pick] = ready_.back();
            ready_.pop_back();
            resume(threads_[index]);
        }
        if (aborting_ || live_ == 0) break;
        if (at_barrier_ == live_) {
            release_barrier();
            continue;
        }
        record_error(deadlock_report());
    }
    if (aborting_) {
        // Unwind every fiber still holding a stack: suspended ones throw AbortBlock from their
        // switch point, ones that never started return at once.
        for (Thread& t : threads_) {
            if (t.context) resume(t);
        }
    }
    t_scheduler = nullptr;
    return error_;
}

// ---- block barrier -------------------------------------------------------------------------

int BlockScheduler::block_barrier(detail::BarrierKind kind, int predicate, const std::source_location& site) {
    Thread& t = *current_;
    t.state = State::AtBarrier;
    t.site = site;
    ++at_barrier_;
    const int p = predicate != 0 ? 1 : 0;
    barrier_count_ += p;
    barrier_and_ &= p;
    barrier_or_ |= p;
    suspend(t);
    // last_* stay valid until the next release, which needs this thread to arrive again.
    switch (kind) {
    case detail::BarrierKind::Plain: return 0;
    case detail::BarrierKind::Count: return last_count_;
    case detail::BarrierKind::And: return last_and_;
    case detail::BarrierKind::Or: return last_or_;
    }
    return 0;
}

void BlockScheduler::release_barrier() {
    for (unsigned i = 0; i < threads_.size(); ++i) {
        Thread& t = threads_[i];
        if (t.state != State::AtBarrier) continue;
        t.state = State::Ready;
        ready_.push_back(i);
    }
    last_count_ = barrier_count_;
    last_and_ = barrier_and_;
    last_or_ = barrier_or_;
    at_barrier_ = 0;
    barrier_count_ = 0;
    barrier_and_ = 1;
    barrier_or_ = 0;
}

// ---- warp collectives ----------------------------------------------------------------------

uint64_t BlockScheduler::warp_collective(detail::Collective kind, unsigned mask, uint64_t value, int param, int width,
                                         const std::source_location& site) {
    Thread& t = *current_;
    Warp& warp = warps_[t.warp];
    const unsigned bit = 1u << t.lane;
    // Built only on failure: collectives are the emulator's hot path.
    auto call = [&] {
        return collective_name(kind) + " at " + site_text(site) + " (warp " + std::to_string(t.warp) + ", lane " +
               std::to_string(t.lane) + ", mask " + hex(mask) + ")";
    };
    if (!(mask & bit)) fail(call() + ": the calling lane is not in the mask");
    if (mask & ~warp.existing) {
        fail(call() + ": the mask names lanes " + hex(mask & ~warp.existing) + " that do not exist in a block of " +
             std::to_string(threads_.size()) + " threads");
    }
    if (mask & warp.exited) fail(call() + ": lanes " + hex(mask & warp.exited) + " have exited; it can never complete");
    if (is_shuffle(kind) && (width < 1 || width > 32 || !std::has_single_bit(static_cast<unsigned>(width)))) {
        fail(call() + ": width " + std::to_string(width) + " is not a power of two up to 32");
    }
    auto it = std::find_if(warp.pending.begin(), warp.pending.end(), [&](const Pending& p) { return (p.mask & mask) != 0; });
    if (it != warp.pending.end() && (it->mask != mask || it->kind != kind)) {
        fail(call() + ": lanes " + hex(it->arrived) + " of this warp wait in " + collective_name(it->kind) + " with mask " +
             hex(it->mask) + " at " + site_text(it->site) + "; overlapping lanes must join the same collective with the same mask");
    }
    if (it == warp.pending.end()) {
        warp.pending.push_back(Pending{kind, mask, 0, site});
        it = warp.pending.end() - 1;
    }
    t.in = value;
    t.param = param;
    t.width = width;
    t.site = site;
    t.waiting_on = kind;
    it->arrived |= bit;
    if (it->arrived == mask) {
        const Pending done = *it;
        warp.pending.erase(it);
        complete(warp, done); // fails from this fiber when a shuffle reads an inactive lane
        return t.out;
    }
    t.state = State::AtWarp;
    suspend(t);
    return t.out;
}

void BlockScheduler::complete(Warp& warp, const Pending& pending) {
    using detail::Collective;
    const unsigned first = static_cast<unsigned>(&warp - warps_.data()) * 32;
    auto lane_thread = [&](unsigned lane) -> Thread& { return threads_[first + lane]; };
    uint64_t ballot = 0;
    uint32_t sum = 0, min_u = UINT32_MAX, max_u = 0, all_and = UINT32_MAX, all_or = 0, all_xor = 0;
    int32_t min_s = INT32_MAX, max_s = INT32_MIN;
    for (unsigned lane = 0; lane < 32; ++lane) {
        if (!(pending.mask & (1u << lane))) continue;
        const uint64_t in = lane_thread(lane).in;
        const uint32_t v = static_cast<uint32_t>(in);
        if (in != 0) ballot |= 1ull << lane;
        sum += v;
        min_u = std::min(min_u, v);
        max_u = std::max(max_u, v);
        min_s = std::min(min_s, static_cast<int32_t>(v));
        max_s = std::max(max_s, static_cast<int32_t>(v));
        all_and &= v;
        all_or |= v;
        all_xor ^= v;
    }
    for (unsigned lane = 0; lane < 32; ++lane) {
        if (!(pending.mask & (1u << lane))) continue;
        Thread& t = lane_thread(lane);
        switch (pending.kind) {
        case Collective::SyncWarp: t.out = 0; break;
        case Collective::Shuffle:
        case Collective::ShuffleUp:
        case Collective::ShuffleDown:
        case Collective::ShuffleXor: {
            const unsigned width = static_cast<unsigned>(t.width);
            const unsigned base = lane & ~(width - 1);
            long source = lane;
            if (pending.kind == Collective::Shuffle) source = base + (static_cast<unsigned>(t.param) & (width - 1));
            if (pending.kind == Collective::ShuffleUp) source = static_cast<long>(lane) - t.param;
            if (pending.kind == Collective::ShuffleDown) source = static_cast<long>(lane) + t.param;
            if (pending.kind == Collective::ShuffleXor) source = lane ^ static_cast<unsigned>(t.param);
            if (source < static_cast<long>(base) || source >= static_cast<long>(base + width)) source = lane; // own value
            if (!(pending.mask & (1u << source))) {
                fail(collective_name(pending.kind) + " at " + site_text(t.site) + ": lane " + std::to_string(lane) +
                     " of warp " + std::to_string(t.warp) + " reads lane " + std::to_string(source) +
                     ", which is not in the mask " + hex(pending.mask) + " (inactive lanes hold no defined value)");
            }
            t.out = lane_thread(static_cast<unsigned>(source)).in;
            break;
        }
        case Collective::Ballot: t.out = ballot; break;
        case Collective::Any: t.out = ballot != 0; break;
        case Collective::All: t.out = ballot == pending.mask; break;
        case Collective::ReduceAdd: t.out = sum; break;
        case Collective::ReduceMinUnsigned: t.out = min_u; break;
        case Collective::ReduceMaxUnsigned: t.out = max_u; break;
        case Collective::ReduceMinSigned: t.out = static_cast<uint32_t>(min_s); break;
        case Collective::ReduceMaxSigned: t.out = static_cast<uint32_t>(max_s); break;
        case Collective::ReduceAnd: t.out = all_and; break;
        case Collective::ReduceOr: t.out = all_or; break;
        case Collective::ReduceXor: t.out = all_xor; break;
        }
    }
    for (unsigned lane = 0; lane < 32; ++lane) {
        if (!(pending.mask & (1u << lane))) continue;
        Thread& t = lane_thread(lane);
        if (&t == current_) continue;
        t.state = State::Ready;
        ready_.push_back(first + lane);
    }
}

unsigned BlockScheduler::active_mask() const {
    const Warp& warp = warps_[current_->warp];
    return warp.existing & ~warp.exited;
}

std::string BlockScheduler::deadlock_report() const {
    // Blocked threads grouped by what they wait for and where.
    std::map<std::string, unsigned> groups;
    for (const Thread& t : threads_) {
        if (t.state == State::AtBarrier) ++groups["__syncthreads (" + site_text(t.site) + ")"];
        if (t.state == State::AtWarp) ++groups[collective_name(t.waiting_on) + " (" + site_text(t.site) + ")"];
    }
    std::ostringstream out;
    out << "deadlock: no thread can run; " << at_barrier_ << " of " << live_
        << " live threads wait at a block barrier, the others in warp collectives that some lanes never join:";
    for (const auto& [what, count] : groups) out << "\n    " << count << " thread(s) at " << what;
    for (std::size_t w = 0; w < warps_.size(); ++w) {
        for (const Pending& p : warps_[w].pending) {
            out << "\n    warp " << w << ": " << collective_name(p.kind) << " with mask " << hex(p.mask) << " has lanes "
                << hex(p.arrived) << ", missing " << hex(p.mask & ~p.arrived);
        }
    }
    return out.str();
}

// ---- kernel-side entry points ----------------------------------------------------------------

namespace detail {

namespace {
BlockScheduler& scheduler_or_die(const char* what) {
    if (!t_scheduler) {
        std::fprintf(stderr, "latent emulator: %s called outside a kernel\n", what);
        std::abort();
    }
    return *t_scheduler;
}
} // namespace

uint64_t warp_collective(Collective kind, unsigned mask, uint64_t value, int param, int width, const std::source_location& site) {
    return scheduler_or_die("a warp collective").warp_collective(kind, mask, value, param, width, site);
}

int block_barrier(BarrierKind kind, int predicate, const std::source_location& site) {
    return scheduler_or_die("__syncthreads").block_barrier(kind, predicate, site);
}

unsigned active_mask() { return scheduler_or_die("__activemask").active_mask(); }

void trap(const std::source_location& site) {
    scheduler_or_die("__trap").fail("__trap() at " + site_text(site));
}

} // namespace detail

} // namespace latent::emu
