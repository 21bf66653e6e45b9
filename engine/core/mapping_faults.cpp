#include "core/mapping_faults.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <mutex>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace latent::mapping_faults {
namespace {

// One guarded mapping. The handler reads begin/end/fd without locks: register publishes begin
// last, unregister clears it first.
struct Slot {
    std::atomic<uintptr_t> begin{0}; // 0: free
    std::atomic<uintptr_t> end{0};
    std::atomic<int> fd{-1};
    std::atomic<bool> faulted{false};
};

constexpr int kSlots = 1024; // split models have at most a few hundred parts
Slot g_slots[kSlots];
std::atomic<uintptr_t> g_page_size{4096};
std::atomic<uint64_t> g_fault_count{0};
std::mutex g_register_mutex;      // registration, handler installation
struct sigaction g_previous {};   // what was installed before us, for signals that are not ours

void on_sigbus(int signum, siginfo_t* info, void* context);

bool handler_installed() {
    struct sigaction current {};
    if (::sigaction(SIGBUS, nullptr, &current) != 0) return false;
    return (current.sa_flags & SA_SIGINFO) != 0 && current.sa_sigaction == &on_sigbus;
}

// Under g_register_mutex. Installs the handler unless it is the active one (someone may have
// replaced it since, e.g. a test framework's crash reporter: ours then chains to theirs).
void install_handler() {
    if (handler_installed()) return;
    g_page_size.store(static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE)));
    struct sigaction action {};
    action.sa_sigaction = &on_sigbus;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    struct sigaction previous {};
    if (::sigaction(SIGBUS, &action, &previous) == 0) g_previous = previous;
}

// Not ours: hand over to the previous handler, or die of SIGBUS as without us.
void pass_on(int signum, siginfo_t* info, void* context) {
    const struct sigaction previous = g_previous;
    struct sigaction fallback {};
    fallback.sa_handler = SIG_DFL;
    sigemptyset(&fallback.sa_mask);
    // A one-shot handler (SA_RESETHAND, e.g. a test framework's crash reporter) relies on the
    // default action being back when it returns and the access faults again.
    if ((previous.sa_flags & SA_RESETHAND) != 0) ::sigaction(signum, &fallback, nullptr);
    if ((previous.sa_flags & SA_SIGINFO) != 0 && previous.sa_sigaction != nullptr) {
        previous.sa_sigaction(signum, info, context);
        return;
    }
    if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN && previous.sa_handler != nullptr) {
        previous.sa_handler(signum);
        return;
    }
    ::sigaction(signum, &fallback, nullptr);
    // Blocked while this handler runs: delivered with the default action as soon as it returns
    // (and a fault would repeat on the retried access anyway).
    ::raise(signum);
}

void on_sigbus(int signum, siginfo_t* info, void* context) {
    const int saved_errno = errno;
    // Only a fault raised by the kernel has an address (si_code > 0); kill() and raise() do not.
    const bool is_fault = info != nullptr && info->si_code > 0;
    const auto address = is_fault ? reinterpret_cast<uintptr_t>(info->si_addr) : uintptr_t{0};
    const uintptr_t page = g_page_size.load(std::memory_order_relaxed);
    for (Slot& slot : g_slots) {
        const uintptr_t begin = slot.begin.load(std::memory_order_acquire);
        const uintptr_t end = slot.end.load(std::memory_order_relaxed);
        if (begin == 0 || address < begin || address >= end) continue;
        // Everything past the current end of file faults: replace it in one go, so a scan over
        // the lost part costs one signal rather than one per page.
        uintptr_t from = address & ~(page - 1);
        struct stat st {};
        const int fd = slot.fd.load(std::memory_order_relaxed);
        if (fd >= 0 && ::fstat(fd, &st) == 0 && st.st_size >= 0) {
            const uintptr_t eof = begin + ((static_cast<uintptr_t>(st.st_size) + page - 1) & ~(page - 1));
            if (eof < from) from = eof;
        }
        // Marked before the zeros appear: whoever reads them finds the mark when it checks.
        slot.faulted.store(true, std::memory_order_seq_cst);
        void* replaced = ::mmap(reinterpret_cast<void*>(from), end - from, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        if (replaced == MAP_FAILED) break; // cannot repair: crash as we would have
        g_fault_count.fetch_add(1, std::memory_order_relaxed);
        errno = saved_errno;
        return;
    }
    errno = saved_errno;
    pass_on(signum, info, context);
}

} // namespace

int register_mapping(const void* begin, size_t size, int fd) {
    if (begin == nullptr || size == 0) return -1;
    std::lock_guard lock(g_register_mutex);
    install_handler();
    for (int i = 0; i < kSlots; ++i) {
        Slot& slot = g_slots[i];
        if (slot.begin.load(std::memory_order_relaxed) != 0) continue;
        slot.faulted.store(false, std::memory_order_relaxed);
        slot.fd.store(fd, std::memory_order_relaxed);
        slot.end.store(reinterpret_cast<uintptr_t>(begin) + size, std::memory_order_relaxed);
        slot.begin.store(reinterpret_cast<uintptr_t>(begin), std::memory_order_release);
        return i;
    }
    return -1;
}

void unregister_mapping(int slot) {
    if (slot < 0 || slot >= kSlots) return;
    std::lock_guard lock(g_register_mutex);
    g_slots[slot].begin.store(0, std::memory_order_release);
    g_slots[slot].end.store(0, std::memory_order_relaxed);
    g_slots[slot].fd.store(-1, std::memory_order_relaxed);
}

bool faulted(int slot) {
    return slot >= 0 && slot < kSlots && g_slots[slot].faulted.load(std::memory_order_acquire);
}

uint64_t fault_count() { return g_fault_count.load(std::memory_order_relaxed); }

} // namespace latent::mapping_faults
