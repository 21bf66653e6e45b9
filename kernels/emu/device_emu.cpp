// The device layer (device.h) on the CPU emulator: "device" memory is host memory, tracked so
// that copies outside an allocation fail as they would on a GPU; everything runs synchronously
// on the calling thread's order, so streams only matter for graph capture.
#include "device.h"
#include "device_accounting.h"

#include "emu/worker_pool.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace latent::gpu {

namespace {

struct EmulatedGraph {
    std::vector<std::function<void()>> steps;
};

struct EmulatedEvent {
    std::chrono::steady_clock::time_point time;
    bool recorded = false;
};

struct DeviceState {
    std::mutex mutex;
    std::map<uintptr_t, std::size_t> allocations; // start -> bytes
    std::string pending_error;                     // the last launch's fault, until reported
    void* capturing_stream = nullptr;
    EmulatedGraph* capture = nullptr;
    std::map<const void*, std::size_t> max_dynamic_shared; // LATENT_SET_MAX_DYNAMIC_SHARED opt-ins
    std::map<const void*, bool> warned_dynamic_shared;
};

DeviceState& state() {
    static DeviceState instance;
    return instance;
}

void check_range(const void* pointer, std::size_t bytes, const char* what) {
    if (bytes == 0) return;
    auto& s = state();
    std::lock_guard lock(s.mutex);
    const auto address = reinterpret_cast<uintptr_t>(pointer);
    auto it = s.allocations.upper_bound(address);
    if (it == s.allocations.begin() || address + bytes > std::prev(it)->first + std::prev(it)->second) {
        throw DeviceError(std::string(what) + ": " + std::to_string(bytes) + " bytes at " +
                          std::to_string(address) + " are not inside one device allocation");
    }
}

void throw_pending(const char* where) {
    auto& s = state();
    std::string error;
    {
        std::lock_guard lock(s.mutex);
        error.swap(s.pending_error);
    }
    if (!error.empty()) throw DeviceError(std::string(where) + ": " + error);
}

// Runs `step` now, or records it when `stream` is being captured.
void enqueue(Stream stream, std::function<void()> step) {
    auto& s = state();
    {
        std::lock_guard lock(s.mutex);
        if (s.capture && s.capturing_stream == stream.handle) {
            s.capture->steps.push_back(std::move(step));
            return;
        }
    }
    step();
}

} // namespace

bool is_emulated() { return true; }
bool device_available() { return true; }
uint64_t emulator_seed() { return emu::settings().seed; }

std::string device_name() {
    return "CPU emulator (" + std::to_string(emu::settings().threads) + " worker threads, schedule seed " +
           std::to_string(emu::settings().seed) + ")";
}

namespace {

// The emulated card's size: LATENT_EMU_DEVICE_MIB MiB, 16 GiB by default.
std::size_t emulated_total_bytes() {
    static const std::size_t total = [] {
        const char* text = std::getenv("LATENT_EMU_DEVICE_MIB");
        const unsigned long long mib = text ? std::strtoull(text, nullptr, 10) : 0;
        return static_cast<std::size_t>(mib ? mib : 16384) << 20;
    }();
    return total;
}

} // namespace

void* device_alloc(std::size_t bytes) {
    const std::size_t used = alloc_fault::allocated();
    if (alloc_fault::should_fail() || used + bytes > emulated_total_bytes()) {
        throw DeviceError("device_alloc: out of memory allocating " + std::to_string(bytes) + " bytes (" +
                          std::to_string(used) + " of " + std::to_string(emulated_total_bytes()) +
                          " bytes of the emulated device in use)");
    }
    void* pointer = std::malloc(bytes ? bytes : 1);
    if (!pointer) throw DeviceError("device_alloc: out of memory allocating " + std::to_string(bytes) + " bytes");
    std::memset(pointer, emu::settings().poison, bytes);
    alloc_fault::track(pointer, bytes ? bytes : 1);
    auto& s = state();
    std::lock_guard lock(s.mutex);
    s.allocations[reinterpret_cast<uintptr_t>(pointer)] = bytes;
    return pointer;
}

MemoryInfo device_memory_info() {
    const std::size_t total = emulated_total_bytes(), used = alloc_fault::allocated();
    return {used < total ? total - used : 0, total};
}

std::size_t device_allocated_bytes() { return alloc_fault::allocated(); }
void inject_alloc_failure(uint64_t countdown) { alloc_fault::arm(countdown); }
void* host_alloc_pinned(std::size_t bytes) { return std::malloc(bytes ? bytes : 1); }
void host_free_pinned(void* pointer) noexcept { std::free(pointer); }

void device_free(void* pointer) noexcept {
    if (!pointer) return;
    auto& s = state();
    {
        std::lock_guard lock(s.mutex);
        if (s.allocations.erase(reinterpret_cast<uintptr_t>(pointer)) == 0) {
            std::fprintf(stderr, "latent emulator: device_free of a pointer that is not a device allocation\n");
            std::abort();
        }
    }
    alloc_fault::untrack(pointer);
    std::free(pointer);
}

void copy_to_device(void* device_dst, const void* host_src, std::size_t bytes, Stream stream) {
    check_range(device_dst, bytes, "copy_to_device destination");
    enqueue(stream, [=] { std::memcpy(device_dst, host_src, bytes); });
}

void copy_to_host(void* host_dst, const void* device_src, std::size_t bytes, Stream stream) {
    check_range(device_src, bytes, "copy_to_host source");
    stream_synchronize(stream);
    std::memcpy(host_dst, device_src, bytes);
}

void copy_on_device(void* device_dst, const void* device_src, std::size_t bytes, Stream stream) {
    check_range(device_dst, bytes, "copy_on_device destination");
    check_range(device_src, bytes, "copy_on_device source");
    enqueue(stream, [=] { std::memmove(device_dst, device_src, bytes); });
}

void device_memset(void* device_dst, int byte_value, std::size_t bytes, Stream stream) {
    check_range(device_dst, bytes, "device_memset");
    enqueue(stream, [=] { std::memset(device_dst, byte_value, bytes); });
}

void device_synchronize() { throw_pending("device_synchronize"); }

void check_last_launch(const char* file, int line) {
    throw_pending((std::string("kernel launch checked at ") + file + ":" + std::to_string(line)).c_str());
}

Stream stream_create() { return Stream{new char}; }
void stream_destroy(Stream stream) noexcept { delete static_cast<char*>(stream.handle); }
void stream_synchronize(Stream) { throw_pending("stream_synchronize"); }

Event event_create() { return Event{new EmulatedEvent}; }
void event_destroy(Event event) noexcept { delete static_cast<EmulatedEvent*>(event.handle); }
void event_record(Event event, Stream stream) {
    auto* e = static_cast<EmulatedEvent*>(event.handle);
    enqueue(stream, [e] {
        e->time = std::chrono::steady_clock::now();
        e->recorded = true;
    });
}
void event_synchronize(Event) { throw_pending("event_synchronize"); }
float event_elapsed_ms(Event start, Event end) {
    const auto* a = static_cast<const EmulatedEvent*>(start.handle);
    const auto* b = static_cast<const EmulatedEvent*>(end.handle);
    if (!a->recorded || !b->recorded) throw DeviceError("event_elapsed_ms: an event was never recorded");
    return std::chrono::duration<float, std::milli>(b->time - a->time).count();
}

void graph_begin_capture(Stream stream) {
    auto& s = state();
    std::lock_guard lock(s.mutex);
    if (s.capture) throw DeviceError("graph_begin_capture: a capture is already in progress");
    s.capture = new EmulatedGraph;
    s.capturing_stream = stream.handle;
}

Graph graph_end_capture(Stream stream) {
    auto& s = state();
    std::lock_guard lock(s.mutex);
    if (!s.capture || s.capturing_stream != stream.handle) throw DeviceError("graph_end_capture: this stream is not capturing");
    Graph graph{s.capture};
    s.capture = nullptr;
    s.capturing_stream = nullptr;
    return graph;
}

void graph_launch(Graph graph, Stream) {
    for (const auto& step : static_cast<EmulatedGraph*>(graph.handle)->steps) step();
}

void graph_destroy(Graph graph) noexcept { delete static_cast<EmulatedGraph*>(graph.handle); }

} // namespace latent::gpu

namespace latent::emu {

namespace {

std::string configuration_error(dim3 grid, dim3 block, std::size_t shared_bytes) {
    const uint64_t threads = uint64_t(block.x) * block.y * block.z;
    if (threads == 0 || grid.x == 0 || grid.y == 0 || grid.z == 0) return "a grid or block dimension is 0";
    if (block.x > 1024 || block.y > 1024 || block.z > 64 || threads > 1024) {
        return "block (" + std::to_string(block.x) + "," + std::to_string(block.y) + "," + std::to_string(block.z) +
               ") exceeds 1024 threads or the per-dimension limits (1024, 1024, 64)";
    }
    if (grid.x > 0x7FFFFFFFu || grid.y > 65535 || grid.z > 65535) return "grid exceeds (2^31-1, 65535, 65535)";
    if (shared_bytes > 227 * 1024) return "dynamic shared memory " + std::to_string(shared_bytes) + " bytes exceeds 227 KiB";
    return {};
}

} // namespace

void set_max_dynamic_shared(const void* kernel_address, std::size_t bytes) {
    auto& s = gpu::state();
    std::lock_guard lock(s.mutex);
    s.max_dynamic_shared[kernel_address] = bytes;
}

void launch_kernel(const LaunchSite& site, const void* kernel_address, dim3 grid, dim3 block,
                   std::size_t shared_bytes, gpu::Stream stream, std::function<void()> body) {
    auto& s = gpu::state();
    if (shared_bytes > 48 * 1024) {
        // The GPU refuses such a launch unless the kernel opted in; say so (once per kernel).
        std::lock_guard lock(s.mutex);
        const auto allowed = s.max_dynamic_shared.find(kernel_address);
        if ((allowed == s.max_dynamic_shared.end() || allowed->second < shared_bytes) && !s.warned_dynamic_shared[kernel_address]) {
            s.warned_dynamic_shared[kernel_address] = true;
            std::fprintf(stderr,
                         "latent emulator: warning: '%s' (launched at %s:%d) uses %zu bytes of dynamic shared memory without "
                         "LATENT_SET_MAX_DYNAMIC_SHARED(kernel, bytes): a GPU refuses launches above 48 KiB without it\n",
                         site.kernel, site.file, site.line, shared_bytes);
        }
    }
    const std::string bad = configuration_error(grid, block, shared_bytes);
    if (!bad.empty()) {
        std::lock_guard lock(s.mutex);
        s.pending_error = "invalid configuration launching '" + std::string(site.kernel) + "' at " + site.file + ":" +
                          std::to_string(site.line) + ": " + bad;
        return;
    }
    gpu::enqueue(stream, [=, body = std::move(body)] {
        const std::string error = run_launch(site, kernel_address, grid, block, shared_bytes, body);
        if (error.empty()) return;
        std::fprintf(stderr, "latent emulator: %s\n", error.c_str());
        auto& device = gpu::state();
        std::lock_guard lock(device.mutex);
        if (device.pending_error.empty()) device.pending_error = error;
    });
}

} // namespace latent::emu
