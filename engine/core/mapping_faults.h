// Turning SIGBUS on a mapped model file into an error instead of a crash.
//
// A file mapped with MAP_SHARED stays tied to its inode: when someone truncates it while it is
// mapped (re-downloading or copying over a model), every access to a page past the new end of
// file raises SIGBUS, which by default kills the process. This guard installs one process-wide
// SIGBUS handler (the first time a mapping is registered) that looks the faulting address up in a
// fixed table of our mappings:
//   - inside one of ours: the pages from the new end of file (fstat of the mapping's descriptor)
//     or the faulting page, whichever is lower, to the end of the mapping are replaced by
//     anonymous zero pages (mmap MAP_FIXED), the mapping is marked faulted, and the handler
//     returns, so the access is retried and reads zeros. The thread that faulted — the caller or
//     any CPU thread-pool worker — finishes its work on garbage; the backend checks the mark
//     when the batch is done and throws ModelFileChanged before anything computed from it is
//     used or committed to the cache (see Backend::evaluate, Session).
//   - anywhere else: the previous handler runs, or the default action is restored and the signal
//     raised again, so a real bug still crashes with SIGBUS as before.
//
// Why zero pages rather than siglongjmp to a recovery point: a jump out of the handler skips
// every frame between the recovery point and the faulting load without running destructors, and
// those frames hold locks (the thread pool's call mutex, std::function state, allocator state in
// vector growth) that would stay held, so the next call could deadlock; and a worker thread has
// no frame of its own to return to. Returning from the handler instead leaves every frame intact:
// all threads finish normally, the pool's bookkeeping stays consistent, and the error surfaces at
// a point where the code already handles exceptions. A faulted mapping is poisoned for good (its
// tail reads zeros); only reloading the file gives a usable model again.
//
// The handler uses only async-signal-safe calls (fstat, mmap, sigaction, raise) and lock-free
// atomics; registration takes a mutex outside the handler.
#pragma once

#include <cstddef>
#include <cstdint>

namespace latent::mapping_faults {

// Adds [begin, begin + size) read through file descriptor fd (kept open by the caller for the
// mapping's lifetime) to the guarded mappings and makes sure the handler is installed. Returns a
// slot id for the other calls, or -1 when the table is full (the mapping is then unguarded).
int register_mapping(const void* begin, size_t size, int fd);
// Removes the slot (before the mapping is unmapped).
void unregister_mapping(int slot);
// Whether an access to the slot's mapping faulted since it was registered.
bool faulted(int slot);

// Faults caught so far in the whole process (for tests and logs).
uint64_t fault_count();

} // namespace latent::mapping_faults
