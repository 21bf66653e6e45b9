// Worker threads for the emulator: each takes whole blocks (one at a time, so a block's
// `__shared__` statics, which are thread-local, belong to it alone) and runs their threads as
// fibers. See README.md.
#include "emu/worker_pool.h"

#include "emu/block_scheduler.h"

#include <link.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace latent::emu {

namespace {

uint64_t env_number(const char* name, uint64_t fallback) {
    const char* text = std::getenv(name);
    if (!text || !*text) return fallback;
    char* end = nullptr;
    const unsigned long long value = std::strtoull(text, &end, 0);
    if (*end != '\0') {
        std::fprintf(stderr, "latent emulator: ignoring %s=%s (not a number)\n", name, text);
        return fallback;
    }
    return value;
}

Settings read_settings() {
    Settings s;
    const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
    s.threads = static_cast<unsigned>(std::clamp<uint64_t>(env_number("LATENT_EMU_THREADS", std::min(cpus, 16u)), 1, 64));
    s.seed = env_number("LATENT_EMU_SEED", 0);
    if (!std::getenv("LATENT_EMU_SEED")) {
        std::random_device device;
        s.seed = (uint64_t(device()) << 32 | device()) % 1000000000ull; // short enough to retype
    }
#if defined(__SANITIZE_ADDRESS__)
    const uint64_t default_stack_kb = 256; // AddressSanitizer's redzones make frames larger
#else
    const uint64_t default_stack_kb = 64;
#endif
    s.stack_bytes = static_cast<std::size_t>(std::clamp<uint64_t>(env_number("LATENT_EMU_STACK_KB", default_stack_kb), 16, 65536)) * 1024;
    s.poison = static_cast<unsigned char>(env_number("LATENT_EMU_POISON", 0xFF));
    s.timeout_s = static_cast<unsigned>(std::clamp<uint64_t>(env_number("LATENT_EMU_TIMEOUT_S", 120), 1, 86400));
    return s;
}

// The calling thread's copy of the thread-local storage of the module (executable or shared
// library) that holds `address`: there live the `__shared__` statics of the kernels in it.
struct TlsBlock {
    unsigned char* data = nullptr;
    std::size_t size = 0;
};

TlsBlock tls_block_of(const void* address) {
    struct Query {
        uintptr_t address;
        TlsBlock block;
    } query{reinterpret_cast<uintptr_t>(address), {}};
    dl_iterate_phdr(
        [](dl_phdr_info* info, std::size_t, void* data) -> int {
            auto* q = static_cast<Query*>(data);
            bool contains = false;
            std::size_t tls_size = 0;
            for (int i = 0; i < info->dlpi_phnum; ++i) {
                const ElfW(Phdr)& segment = info->dlpi_phdr[i];
                const uintptr_t start = info->dlpi_addr + segment.p_vaddr;
                if (segment.p_type == PT_LOAD && q->address >= start && q->address < start + segment.p_memsz) contains = true;
                if (segment.p_type == PT_TLS) tls_size = segment.p_memsz;
            }
            if (!contains) return 0;
            q->block = TlsBlock{static_cast<unsigned char*>(info->dlpi_tls_data), info->dlpi_tls_data ? tls_size : 0};
            return 1;
        },
        &query);
    return query.block;
}

class WorkerPool {
public:
    explicit WorkerPool(unsigned count) {
        for (unsigned i = 0; i < count; ++i) threads_.emplace_back([this] { work(); });
    }
    ~WorkerPool() {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        wake_.notify_all();
        for (auto& t : threads_) t.join();
    }

    std::string run(const LaunchPlan& plan, const void* kernel_address) {
        std::lock_guard one_launch(launch_mutex_); // launches from several host threads queue up
        std::unique_lock lock(mutex_);
        plan_ = &plan;
        kernel_address_ = kernel_address;
        total_blocks_ = uint64_t(plan.grid.x) * plan.grid.y * plan.grid.z;
        next_block_ = 0;
        failed_ = false;
        error_.clear();
        busy_ = static_cast<unsigned>(threads_.size());
        ++generation_;
        wake_.notify_all();
        if (!done_.wait_for(lock, std::chrono::seconds(settings().timeout_s), [this] { return busy_ == 0; })) {
            // A fiber that never reaches a synchronisation point cannot be interrupted: most
            // likely it spins on memory another thread or block would set, which the emulator
            // (one fiber at a time per block) never lets happen. Say so instead of hanging.
            std::fprintf(stderr,
                         "latent emulator: kernel '%s' (launched at %s:%d) has not finished after %u s (LATENT_EMU_TIMEOUT_S): "
                         "a thread loops without reaching a barrier, e.g. spinning on a flag another thread or block sets; "
                         "schedule seed %llu. Aborting.\n",
                         plan.site.kernel, plan.site.file, plan.site.line, settings().timeout_s,
                         static_cast<unsigned long long>(settings().seed));
            std::abort();
        }
        plan_ = nullptr;
        return error_;
    }

private:
    void work() {
        StackPool stacks(settings().stack_bytes);
        std::unordered_map<const void*, TlsBlock> tls_blocks;
        uint64_t seen = 0;
        while (true) {
            {
                std::unique_lock lock(mutex_);
                wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
                if (stop_) return;
                seen = generation_;
            }
            auto found = tls_blocks.find(kernel_address_);
            if (found == tls_blocks.end()) found = tls_blocks.emplace(kernel_address_, tls_block_of(kernel_address_)).first;
            run_blocks(stacks, found->second);
            std::lock_guard lock(mutex_);
            if (--busy_ == 0) done_.notify_all();
        }
    }

    void run_blocks(StackPool& stacks, const TlsBlock& tls) {
        const LaunchPlan& plan = *plan_;
        const unsigned char poison = settings().poison;
        while (!failed_) {
            const uint64_t b = next_block_.fetch_add(1);
            if (b >= total_blocks_) break;
            const uint3 index{static_cast<unsigned>(b % plan.grid.x), static_cast<unsigned>((b / plan.grid.x) % plan.grid.y),
                              static_cast<unsigned>(b / (uint64_t(plan.grid.x) * plan.grid.y))};
            // Fresh, poisoned shared memory for every block: static (this module's TLS) and
            // dynamic (an exact-size heap block, so AddressSanitizer sees overruns).
            if (tls.data) std::memset(tls.data, poison, tls.size);
            std::unique_ptr<unsigned char[]> dynamic;
            if (plan.shared_bytes) {
                dynamic.reset(new unsigned char[plan.shared_bytes]);
                std::memset(dynamic.get(), poison, plan.shared_bytes);
            }
            BlockScheduler block(stacks, plan, index, dynamic.get());
            const std::string error = block.run();
            if (!error.empty()) {
                std::lock_guard lock(mutex_);
                if (error_.empty()) error_ = error;
                failed_ = true;
            }
        }
    }

    std::vector<std::thread> threads_;
    std::mutex launch_mutex_;
    std::mutex mutex_;
    std::condition_variable wake_, done_;
    const LaunchPlan* plan_ = nullptr;
    const void* kernel_address_ = nullptr;
    uint64_t generation_ = 0;
    unsigned busy_ = 0;
    bool stop_ = false;
    uint64_t total_blocks_ = 0;
    std::atomic<uint64_t> next_block_{0};
    std::atomic<bool> failed_{false};
    std::string error_;
};

WorkerPool& pool() {
    static WorkerPool instance(settings().threads);
    return instance;
}

} // namespace

const Settings& settings() {
    static const Settings instance = read_settings();
    return instance;
}

std::string run_launch(const LaunchSite& site, const void* kernel_address, dim3 grid, dim3 block,
                       std::size_t shared_bytes, const std::function<void()>& body) {
    static std::atomic<uint64_t> launches{0};
    LaunchPlan plan;
    plan.site = site;
    plan.grid = grid;
    plan.block = block;
    plan.shared_bytes = shared_bytes;
    plan.body = &body;
    plan.seed = settings().seed * 0x100000001B3ull + launches.fetch_add(1) * 0xD1B54A32D192ED03ull;
    std::string error = pool().run(plan, kernel_address);
    if (!error.empty()) {
        error += "\n    (emulator schedule seed " + std::to_string(settings().seed) + "; rerun with LATENT_EMU_SEED=" +
                 std::to_string(settings().seed) + " to repeat it)";
    }
    return error;
}

} // namespace latent::emu
