// Which NVIDIA GPUs this process can use, asked of the CUDA runtime. Plain C++: no CUDA type
// appears here, so the app, the CLI and the backend factory include it in every build.
//
// In a build with CUDA the runtime is linked statically and loads the driver (libcuda) only when
// first called, so a binary built with CUDA still starts on a machine without a driver or a GPU;
// the probe then reports why there is no device instead of failing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace latent {

struct CudaDeviceInfo {
    int index = 0;                  // CUDA device ordinal (as CUDA_VISIBLE_DEVICES renumbers them)
    std::string name;               // "NVIDIA H100 80GB HBM3"
    int compute_major = 0;          // compute capability, e.g. 9.0 for Hopper
    int compute_minor = 0;
    int multiprocessors = 0;        // streaming multiprocessors (SMs)
    uint64_t total_bytes = 0;       // device memory
    uint64_t free_bytes = 0;        // device memory free now (other processes' use subtracted)
    double peak_bandwidth_gbs = 0.0; // theoretical memory bandwidth, 1e9 bytes/s (0 when unknown)
};

struct CudaProbe {
    std::vector<CudaDeviceInfo> devices; // usable devices, ascending index
    // Why `devices` is empty (empty when it is not): "this build has no CUDA support", or the
    // runtime's message and error name, e.g. "no CUDA-capable device is detected (cudaErrorNoDevice)".
    std::string error;
};

// Asks the CUDA runtime for every device and its memory. Never throws and never aborts, whatever
// the machine (no driver, a driver older than the runtime, no device, a device that fails):
// every failure becomes `error`. Reading free memory creates the device's primary context (kept
// for the process; the CUDA backend uses the same context) and leaves the current device as it
// was. Costs a runtime initialisation on first call (tens to hundreds of milliseconds with a GPU).
CudaProbe probe_cuda_devices();

} // namespace latent
