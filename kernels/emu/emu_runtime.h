// The emulator's execution model as seen by a kernel: thread coordinates, block barriers, warp
// collectives and the launch. How it works (fibers, scheduling, poisoning, error reports) is in
// kernels/emu/README.md.
//
// Every call that synchronises (`__syncthreads*`, `__syncwarp`, shuffles, votes, warp reductions)
// takes a defaulted std::source_location, so a deadlock or a bad shuffle is reported with the
// file and line of the call in the kernel.
#pragma once

#include "device.h"
#include "emu/emu_types.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <source_location>
#include <tuple>
#include <type_traits>
#include <utility>

namespace latent::emu {

namespace detail {

// What a kernel thread can see of itself; the scheduler points t_coords at the running fiber's.
struct ThreadCoords {
    uint3 thread_idx;
    uint3 block_idx;
    dim3 block_dim;
    dim3 grid_dim;
    unsigned char* dynamic_shared; // this block's dynamic shared memory (null when none)
};
// Initial-exec: one load from the thread pointer instead of a __tls_get_addr call per
// threadIdx (the emulator's libraries are always loaded at program start, never dlopen'ed).
extern thread_local const ThreadCoords* t_coords __attribute__((tls_model("initial-exec")));

enum class Collective : uint8_t {
    SyncWarp, Shuffle, ShuffleUp, ShuffleDown, ShuffleXor, Ballot, Any, All,
    ReduceAdd, ReduceMinUnsigned, ReduceMaxUnsigned, ReduceMinSigned, ReduceMaxSigned,
    ReduceAnd, ReduceOr, ReduceXor,
};
enum class BarrierKind : uint8_t { Plain, Count, And, Or };

// Joins a warp collective over `mask` (the calling lane must be in it) and returns this lane's
// result; blocks the fiber until every lane of `mask` has joined.
uint64_t warp_collective(Collective kind, unsigned mask, uint64_t value, int param, int width,
                         const std::source_location& site);
// Block barrier over the block's live threads; returns the predicate reduction (0 for Plain).
int block_barrier(BarrierKind kind, int predicate, const std::source_location& site);
unsigned active_mask();
[[noreturn]] void trap(const std::source_location& site);

template <class T> uint64_t pack(T value) {
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "warp shuffles move at most 8 bytes");
    uint64_t bits = 0;
    std::memcpy(&bits, &value, sizeof(T));
    return bits;
}
template <class T> T unpack(uint64_t bits) {
    T value;
    std::memcpy(&value, &bits, sizeof(T));
    return value;
}

} // namespace detail

// Where a launch comes from, for error messages.
struct LaunchSite {
    const char* kernel; // the kernel expression as written in LATENT_LAUNCH
    const char* file;
    int line;
};

// Runs (or, while `stream` is being captured into a graph, records) a launch. Errors are kept
// for gpu::check_last_launch / the next synchronising call, as CUDA does.
void launch_kernel(const LaunchSite& site, const void* kernel_address, dim3 grid, dim3 block,
                   std::size_t shared_bytes, gpu::Stream stream, std::function<void()> body);

// LATENT_SET_MAX_DYNAMIC_SHARED: records that `kernel` may use up to `bytes` of dynamic shared
// memory (above the default 48 KiB, as cudaFuncSetAttribute allows on the GPU).
void set_max_dynamic_shared(const void* kernel_address, std::size_t bytes);

// The arguments are converted to the kernel's parameter types and copied once, as CUDA does.
template <class... Params, class... Args>
void launch(const LaunchSite& site, void (*kernel)(Params...), dim3 grid, dim3 block,
            std::size_t shared_bytes, gpu::Stream stream, Args&&... args) {
    static_assert(sizeof...(Params) == sizeof...(Args), "kernel launched with the wrong number of arguments");
    auto packed = std::make_shared<const std::tuple<std::decay_t<Params>...>>(std::forward<Args>(args)...);
    launch_kernel(site, reinterpret_cast<const void*>(kernel), grid, block, shared_bytes, stream,
                  [kernel, packed] { std::apply(kernel, *packed); });
}

} // namespace latent::emu

#define threadIdx (::latent::emu::detail::t_coords->thread_idx)
#define blockIdx (::latent::emu::detail::t_coords->block_idx)
#define blockDim (::latent::emu::detail::t_coords->block_dim)
#define gridDim (::latent::emu::detail::t_coords->grid_dim)

// ---- block barriers ------------------------------------------------------------------------
inline void __syncthreads(const std::source_location& site = std::source_location::current()) {
    latent::emu::detail::block_barrier(latent::emu::detail::BarrierKind::Plain, 0, site);
}
inline int __syncthreads_count(int predicate, const std::source_location& site = std::source_location::current()) {
    return latent::emu::detail::block_barrier(latent::emu::detail::BarrierKind::Count, predicate, site);
}
inline int __syncthreads_and(int predicate, const std::source_location& site = std::source_location::current()) {
    return latent::emu::detail::block_barrier(latent::emu::detail::BarrierKind::And, predicate, site);
}
inline int __syncthreads_or(int predicate, const std::source_location& site = std::source_location::current()) {
    return latent::emu::detail::block_barrier(latent::emu::detail::BarrierKind::Or, predicate, site);
}

// ---- warp collectives ----------------------------------------------------------------------
inline void __syncwarp(unsigned mask = 0xFFFFFFFFu, const std::source_location& site = std::source_location::current()) {
    latent::emu::detail::warp_collective(latent::emu::detail::Collective::SyncWarp, mask, 0, 0, warpSize, site);
}
inline unsigned __activemask() { return latent::emu::detail::active_mask(); }

#define LATENT_EMU_SHUFFLE(name, kind, param_type)                                               \
    template <class T>                                                                            \
    inline T name(unsigned mask, T var, param_type param, int width = warpSize,                  \
                  const std::source_location& site = std::source_location::current()) {          \
        return latent::emu::detail::unpack<T>(latent::emu::detail::warp_collective(              \
            latent::emu::detail::Collective::kind, mask, latent::emu::detail::pack(var),          \
            static_cast<int>(param), width, site));                                               \
    }
LATENT_EMU_SHUFFLE(__shfl_sync, Shuffle, int)
LATENT_EMU_SHUFFLE(__shfl_up_sync, ShuffleUp, unsigned)
LATENT_EMU_SHUFFLE(__shfl_down_sync, ShuffleDown, unsigned)
LATENT_EMU_SHUFFLE(__shfl_xor_sync, ShuffleXor, int)
#undef LATENT_EMU_SHUFFLE

#define LATENT_EMU_WARP_OP(result_type, name, kind, value_type)                                  \
    inline result_type name(unsigned mask, value_type value,                                      \
                            const std::source_location& site = std::source_location::current()) { \
        return static_cast<result_type>(latent::emu::detail::warp_collective(                    \
            latent::emu::detail::Collective::kind, mask, latent::emu::detail::pack(value), 0,     \
            warpSize, site));                                                                     \
    }
LATENT_EMU_WARP_OP(unsigned, __ballot_sync, Ballot, int)
LATENT_EMU_WARP_OP(int, __any_sync, Any, int)
LATENT_EMU_WARP_OP(int, __all_sync, All, int)
LATENT_EMU_WARP_OP(unsigned, __reduce_add_sync, ReduceAdd, unsigned)
LATENT_EMU_WARP_OP(int, __reduce_add_sync, ReduceAdd, int)
LATENT_EMU_WARP_OP(unsigned, __reduce_min_sync, ReduceMinUnsigned, unsigned)
LATENT_EMU_WARP_OP(int, __reduce_min_sync, ReduceMinSigned, int)
LATENT_EMU_WARP_OP(unsigned, __reduce_max_sync, ReduceMaxUnsigned, unsigned)
LATENT_EMU_WARP_OP(int, __reduce_max_sync, ReduceMaxSigned, int)
LATENT_EMU_WARP_OP(unsigned, __reduce_and_sync, ReduceAnd, unsigned)
LATENT_EMU_WARP_OP(unsigned, __reduce_or_sync, ReduceOr, unsigned)
LATENT_EMU_WARP_OP(unsigned, __reduce_xor_sync, ReduceXor, unsigned)
#undef LATENT_EMU_WARP_OP

[[noreturn]] inline void __trap(const std::source_location& site = std::source_location::current()) {
    latent::emu::detail::trap(site);
}
inline long long clock64() { return std::chrono::steady_clock::now().time_since_epoch().count(); }
inline void __nanosleep(unsigned) {}
