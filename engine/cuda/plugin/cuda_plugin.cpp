// The plugin's one exported symbol: its function table (gpu_plugin.h).
#include "cuda/plugin/cuda_plugin_parts.h"

#include "device.h"

namespace {

const latent::GpuPlugin kPlugin = [] {
    latent::GpuPlugin p;
    p.kind = latent::gpu::is_emulated() ? "emulator" : "cuda";
    p.probe = &latent::probe_native_cuda_devices;
    p.create = &latent::create_cuda_backend;
    p.copy_bandwidth_gbs = &latent::measure_copy_bandwidth_gbs;
    p.decode_kernel_times = &latent::cuda_decode_kernel_times;
    p.inject_alloc_failure = &latent::gpu::inject_alloc_failure;
    p.allocated_bytes = &latent::gpu::device_allocated_bytes;
    return p;
}();

} // namespace

extern "C" __attribute__((visibility("default"))) const latent::GpuPlugin* latent_gpu_plugin_entry() { return &kPlugin; }
