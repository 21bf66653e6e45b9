// Bookkeeping both device layers share: bytes allocated per pointer (device_allocated_bytes) and
// the injected allocation failure (inject_alloc_failure). Host-only; header-only so each device
// layer keeps its own copy.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>

namespace latent::gpu::alloc_fault {

struct State {
    std::mutex mutex;
    std::unordered_map<const void*, std::size_t> sizes;
    std::size_t allocated = 0;
    std::atomic<uint64_t> countdown{0};
};

inline State& state() {
    static State instance;
    return instance;
}

inline void arm(uint64_t countdown) { state().countdown.store(countdown); }

// True when this allocation is the one armed to fail (and disarms).
inline bool should_fail() {
    State& s = state();
    uint64_t current = s.countdown.load();
    while (current != 0) {
        if (s.countdown.compare_exchange_weak(current, current - 1)) return current == 1;
    }
    return false;
}

inline void track(const void* pointer, std::size_t bytes) {
    State& s = state();
    std::lock_guard lock(s.mutex);
    s.sizes[pointer] = bytes;
    s.allocated += bytes;
}

inline void untrack(const void* pointer) {
    State& s = state();
    std::lock_guard lock(s.mutex);
    const auto it = s.sizes.find(pointer);
    if (it == s.sizes.end()) return;
    s.allocated -= it->second;
    s.sizes.erase(it);
}

inline std::size_t allocated() {
    State& s = state();
    std::lock_guard lock(s.mutex);
    return s.allocated;
}

} // namespace latent::gpu::alloc_fault
