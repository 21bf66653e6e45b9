// probe_cuda_devices for builds without CUDA (LATENT_CUDA=OFF, or no nvcc found): no devices,
// and the reason says so.
#include "cuda/cuda_device.h"

namespace latent {

CudaProbe probe_cuda_devices() {
    CudaProbe probe;
    probe.error = "this build has no CUDA support";
    return probe;
}

} // namespace latent
