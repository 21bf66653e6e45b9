// The device layer (device.h) on the CUDA runtime. Compiled by the C++ compiler against the
// runtime API; linked into latent_kernels_cuda only.
#include "device.h"
#include "device_accounting.h"

#include <cuda_runtime_api.h>

#include <cstdio>
#include <string>

namespace latent::gpu {

namespace {

void check(cudaError_t status, const char* call, const char* file, int line) {
    if (status == cudaSuccess) return;
    throw DeviceError(std::string(call) + " failed at " + file + ":" + std::to_string(line) + ": " +
                      cudaGetErrorString(status) + " (" + cudaGetErrorName(status) + ")");
}

#define LATENT_CUDA_CHECK(call) check((call), #call, __FILE__, __LINE__)

cudaStream_t native(Stream stream) { return static_cast<cudaStream_t>(stream.handle); }

} // namespace

bool is_emulated() { return false; }
uint64_t emulator_seed() { return 0; }

bool device_available() {
    int count = 0;
    return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

std::string device_name() {
    int device = 0;
    cudaDeviceProp properties{};
    if (cudaGetDevice(&device) != cudaSuccess || cudaGetDeviceProperties(&properties, device) != cudaSuccess) {
        cudaGetLastError();
        return "no CUDA device";
    }
    return properties.name;
}

void* device_alloc(std::size_t bytes) {
    if (alloc_fault::should_fail()) {
        throw DeviceError("cudaMalloc(" + std::to_string(bytes) + " bytes) failed: out of memory (cudaErrorMemoryAllocation, injected)");
    }
    void* pointer = nullptr;
    LATENT_CUDA_CHECK(cudaMalloc(&pointer, bytes ? bytes : 1));
    alloc_fault::track(pointer, bytes ? bytes : 1);
    return pointer;
}

void device_free(void* pointer) noexcept {
    if (!pointer) return;
    alloc_fault::untrack(pointer);
    cudaFree(pointer);
}

MemoryInfo device_memory_info() {
    std::size_t free_bytes = 0, total_bytes = 0;
    LATENT_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    return {free_bytes, total_bytes};
}

std::size_t device_allocated_bytes() { return alloc_fault::allocated(); }
void inject_alloc_failure(uint64_t countdown) { alloc_fault::arm(countdown); }

void* host_alloc_pinned(std::size_t bytes) {
    void* pointer = nullptr;
    LATENT_CUDA_CHECK(cudaMallocHost(&pointer, bytes ? bytes : 1));
    return pointer;
}

void host_free_pinned(void* pointer) noexcept {
    if (pointer) cudaFreeHost(pointer);
}

void copy_to_device(void* device_dst, const void* host_src, std::size_t bytes, Stream stream) {
    LATENT_CUDA_CHECK(cudaMemcpyAsync(device_dst, host_src, bytes, cudaMemcpyHostToDevice, native(stream)));
}

void copy_to_host(void* host_dst, const void* device_src, std::size_t bytes, Stream stream) {
    LATENT_CUDA_CHECK(cudaMemcpyAsync(host_dst, device_src, bytes, cudaMemcpyDeviceToHost, native(stream)));
    LATENT_CUDA_CHECK(cudaStreamSynchronize(native(stream)));
}

void copy_on_device(void* device_dst, const void* device_src, std::size_t bytes, Stream stream) {
    LATENT_CUDA_CHECK(cudaMemcpyAsync(device_dst, device_src, bytes, cudaMemcpyDeviceToDevice, native(stream)));
}

void device_memset(void* device_dst, int byte_value, std::size_t bytes, Stream stream) {
    LATENT_CUDA_CHECK(cudaMemsetAsync(device_dst, byte_value, bytes, native(stream)));
}

void device_synchronize() { LATENT_CUDA_CHECK(cudaDeviceSynchronize()); }

void check_last_launch(const char* file, int line) { check(cudaGetLastError(), "kernel launch", file, line); }

Stream stream_create() {
    cudaStream_t stream = nullptr;
    LATENT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    return Stream{stream};
}
void stream_destroy(Stream stream) noexcept {
    if (stream.handle) cudaStreamDestroy(native(stream));
}
void stream_synchronize(Stream stream) { LATENT_CUDA_CHECK(cudaStreamSynchronize(native(stream))); }

Event event_create() {
    cudaEvent_t event = nullptr;
    LATENT_CUDA_CHECK(cudaEventCreate(&event));
    return Event{event};
}
void event_destroy(Event event) noexcept {
    if (event.handle) cudaEventDestroy(static_cast<cudaEvent_t>(event.handle));
}
void event_record(Event event, Stream stream) {
    LATENT_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(event.handle), native(stream)));
}
void event_synchronize(Event event) { LATENT_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(event.handle))); }
float event_elapsed_ms(Event start, Event end) {
    float ms = 0;
    LATENT_CUDA_CHECK(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(start.handle), static_cast<cudaEvent_t>(end.handle)));
    return ms;
}

void graph_begin_capture(Stream stream) {
    LATENT_CUDA_CHECK(cudaStreamBeginCapture(native(stream), cudaStreamCaptureModeThreadLocal));
}
Graph graph_end_capture(Stream stream) {
    cudaGraph_t graph = nullptr;
    LATENT_CUDA_CHECK(cudaStreamEndCapture(native(stream), &graph));
    cudaGraphExec_t exec = nullptr;
    const cudaError_t status = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    check(status, "cudaGraphInstantiate", __FILE__, __LINE__);
    return Graph{exec};
}
void graph_launch(Graph graph, Stream stream) {
    LATENT_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(graph.handle), native(stream)));
}
void graph_destroy(Graph graph) noexcept {
    if (graph.handle) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(graph.handle));
}

} // namespace latent::gpu
