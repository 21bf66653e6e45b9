// probe_cuda_devices through the GPU plugin (gpu_plugin.h): without the plugin there is no
// device, and the reason says why.
#include "cuda/cuda_device.h"

#include "cuda/gpu_plugin.h"

namespace latent {

CudaProbe probe_cuda_devices() {
    std::string error;
    const GpuPlugin* plugin = gpu_plugin(&error);
    if (plugin == nullptr) {
        CudaProbe probe;
        probe.error = error;
        return probe;
    }
    return plugin->probe();
}

} // namespace latent
