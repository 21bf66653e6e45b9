// A stand-in for liblatent-cuda.so, for the loader's test (test_cuda_plugin_loader.cpp): the same
// C entry point, with a probe that reports one made-up device. Built three times:
//   FAKE_PLUGIN_GOOD         this build's identity, a working table
//   FAKE_PLUGIN_OTHER_BUILD  another build's identity
//   FAKE_PLUGIN_NO_ENTRY     no latent_cuda_plugin_v1 at all
#include "cuda/cuda_plugin.h"

#if !FAKE_PLUGIN_NO_ENTRY
namespace {

latent::CudaProbe fake_probe() {
    latent::CudaProbe probe;
    latent::CudaDeviceInfo device;
    device.name = "Fake GPU from the test plugin";
    device.total_bytes = device.free_bytes = 1ull << 30;
    probe.devices.push_back(device);
    return probe;
}

const latent::CudaPluginApi kApi = [] {
    latent::CudaPluginApi api;
    api.abi = latent::kCudaPluginAbi;
#if FAKE_PLUGIN_OTHER_BUILD
    api.build_id = "0.0.0-other (another compiler)";
#else
    api.build_id = latent::cuda_plugin_build_id();
#endif
    api.probe = &fake_probe;
    return api;
}();

} // namespace

extern "C" __attribute__((visibility("default"))) const latent::CudaPluginApi* latent_cuda_plugin_v1() {
    return &kApi;
}
#else
extern "C" __attribute__((visibility("default"))) int latent_not_a_plugin() {
    return 0;
}
#endif
