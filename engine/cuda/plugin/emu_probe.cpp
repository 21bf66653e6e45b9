// The emulator plugin's device: the CPU emulator (kernels/emu), reported like a GPU with the
// emulated memory size (LATENT_EMU_DEVICE_MIB) so placement and fallback run as on a real card.
#include "cuda/plugin/cuda_plugin_parts.h"

#include "device.h"

namespace latent {

CudaProbe probe_native_cuda_devices() {
    CudaProbe probe;
    CudaDeviceInfo info;
    info.name = gpu::device_name();
    info.compute_major = 9;
    info.compute_minor = 0;
    info.multiprocessors = 1;
    const gpu::MemoryInfo memory = gpu::device_memory_info();
    info.total_bytes = memory.total_bytes;
    info.free_bytes = memory.free_bytes;
    probe.devices.push_back(info);
    return probe;
}

} // namespace latent
