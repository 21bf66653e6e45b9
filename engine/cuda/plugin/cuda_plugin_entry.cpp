// The one exported symbol of liblatent-cuda.so (the GPU plugin): a table of the plugin's CUDA
// entry points, for the engine's loader (cuda/via_plugin/cuda_device.cpp). Everything else in the
// plugin is hidden (a version script), so its private copies of the engine, the CUDA runtime and
// the kernels never clash with the host's.
#include "cuda/cuda_plugin.h"

namespace {

const latent::CudaPluginApi kApi = [] {
    latent::CudaPluginApi api;
    api.abi = latent::kCudaPluginAbi;
    api.build_id = latent::cuda_plugin_build_id();
    api.probe = &latent::probe_cuda_devices;
#if LATENT_CUDA_BACKEND_BUILT
    api.create_backend = &latent::create_cuda_backend;
#endif
    return api;
}();

} // namespace

extern "C" __attribute__((visibility("default"))) const latent::CudaPluginApi* latent_cuda_plugin_v1() {
    return &kApi;
}
