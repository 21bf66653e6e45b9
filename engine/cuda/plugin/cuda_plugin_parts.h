// What the GPU plugin's source files share (plugin-internal; the engine sees only gpu_plugin.h).
#pragma once

#include "backend/backend.h"
#include "backend/gpu_placement.h"
#include "cuda/cuda_device.h"
#include "cuda/gpu_plugin.h"

#include <memory>
#include <vector>

namespace latent {

// The devices of this plugin's kind: real CUDA devices (cuda_probe.cpp) or the emulator's one
// (emu_probe.cpp); exactly one of the two is linked into each plugin.
CudaProbe probe_native_cuda_devices();

std::unique_ptr<Backend> create_cuda_backend(const Model& model, const BackendOptions& options, const GpuPlacement& placement);
double measure_copy_bandwidth_gbs();
std::vector<KernelTiming> cuda_decode_kernel_times(Backend& backend);

} // namespace latent
