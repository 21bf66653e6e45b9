// The thin device layer every kernel launcher and the CUDA backend use: memory, copies,
// streams, events, graphs. Plain C++ (no CUDA type appears here). Two implementations, chosen at
// link time: kernels/device_cuda.cpp (the CUDA runtime, in latent_kernels_cuda) and
// kernels/emu/device_emu.cpp (the CPU emulator, in latent_kernels_emu). Kernels never know which.
//
// Every failure throws DeviceError naming the call, file and line (CUDA) or what is wrong
// (emulator). Kernel faults are reported like CUDA's asynchronous errors: by check_last_launch
// (LATENT_CHECK_LAUNCH) or by the next synchronising call (synchronize, copy_to_host).
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace latent::gpu {

class DeviceError : public std::runtime_error {
public:
    explicit DeviceError(const std::string& message) : std::runtime_error(message) {}
};

// Handles are opaque; a default-constructed Stream is the default stream.
struct Stream { void* handle = nullptr; };
struct Event { void* handle = nullptr; };
struct Graph { void* handle = nullptr; };

bool is_emulated();          // true in the emulator build
bool device_available();     // a device to run on (the emulator always has one)
std::string device_name();   // "NVIDIA H100 80GB HBM3", or "CPU emulator (N worker threads)"
// The emulator's schedule seed (LATENT_EMU_SEED or a fresh random one per process); 0 with CUDA.
uint64_t emulator_seed();

// Device memory. The emulator fills new allocations with its poison pattern (0xFF bytes: NaN
// in f32/f16/bf16) and checks that copies stay inside allocations.
void* device_alloc(std::size_t bytes);
void device_free(void* pointer) noexcept;

// Free and total device memory now. The emulator models a device of LATENT_EMU_DEVICE_MIB MiB
// (default 16384): its allocations count against that, and an allocation past it fails as
// out of memory, so placement decisions can be tested on small "cards".
struct MemoryInfo {
    std::size_t free_bytes = 0;
    std::size_t total_bytes = 0;
};
MemoryInfo device_memory_info();
// Bytes currently allocated through device_alloc by this process (both builds keep the count).
std::size_t device_allocated_bytes();

// Test hook: the `countdown`-th device_alloc from now (1 = the next one) fails with the same
// DeviceError a real out-of-memory gives; 0 disarms. Both builds honour it.
void inject_alloc_failure(uint64_t countdown);

// Page-locked host memory for fast, asynchronous transfers (plain host memory in the emulator).
void* host_alloc_pinned(std::size_t bytes);
void host_free_pinned(void* pointer) noexcept;
void copy_to_device(void* device_dst, const void* host_src, std::size_t bytes, Stream stream = {});
// Waits for the stream, then copies (host_dst is usable on return).
void copy_to_host(void* host_dst, const void* device_src, std::size_t bytes, Stream stream = {});
void copy_on_device(void* device_dst, const void* device_src, std::size_t bytes, Stream stream = {});
void device_memset(void* device_dst, int byte_value, std::size_t bytes, Stream stream = {});
void device_synchronize();
// Throws the error of the last launch (bad configuration; in the emulator also a kernel fault).
void check_last_launch(const char* file, int line);

Stream stream_create();
void stream_destroy(Stream stream) noexcept;
void stream_synchronize(Stream stream);

Event event_create();
void event_destroy(Event event) noexcept;
void event_record(Event event, Stream stream = {});
void event_synchronize(Event event);
float event_elapsed_ms(Event start, Event end);

// Capture: launches, device-to-device copies and memsets issued on `stream` between begin and
// end are recorded (not run) and replayed by graph_launch. The emulator replays them in order.
void graph_begin_capture(Stream stream);
Graph graph_end_capture(Stream stream);
void graph_launch(Graph graph, Stream stream = {});
void graph_destroy(Graph graph) noexcept;

// An owned device allocation.
class Buffer {
public:
    Buffer() = default;
    explicit Buffer(std::size_t bytes) : data_(bytes ? device_alloc(bytes) : nullptr), bytes_(bytes) {}
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    Buffer(Buffer&& other) noexcept : data_(other.data_), bytes_(other.bytes_) { other.data_ = nullptr, other.bytes_ = 0; }
    Buffer& operator=(Buffer&& other) noexcept {
        if (this != &other) {
            device_free(data_);
            data_ = other.data_, bytes_ = other.bytes_;
            other.data_ = nullptr, other.bytes_ = 0;
        }
        return *this;
    }
    ~Buffer() { device_free(data_); }

    void* data() const { return data_; }
    template <class T> T* as() const { return static_cast<T*>(data_); }
    std::size_t bytes() const { return bytes_; }

private:
    void* data_ = nullptr;
    std::size_t bytes_ = 0;
};

// A device copy of `values`.
template <class T> Buffer upload(const std::vector<T>& values) {
    Buffer buffer(values.size() * sizeof(T));
    if (!values.empty()) copy_to_device(buffer.data(), values.data(), buffer.bytes());
    return buffer;
}

// The first `count` elements of `buffer` (all of it by default), after the default stream is done.
template <class T> std::vector<T> download(const Buffer& buffer, std::size_t count = SIZE_MAX) {
    if (count == SIZE_MAX) count = buffer.bytes() / sizeof(T);
    if (count * sizeof(T) > buffer.bytes()) throw DeviceError("download: more elements than the buffer holds");
    std::vector<T> values(count);
    if (count) copy_to_host(values.data(), buffer.data(), count * sizeof(T));
    return values;
}

} // namespace latent::gpu
