// The CUDA backend is a plugin, loaded at run time, so that the engine, the CLI and the app
// never link CUDA libraries: they start everywhere, and GPU support can be a package of its own.
//
//   liblatent-cuda.so      the backend on real CUDA (built when nvcc is found; cudart and cuBLAS
//                          linked statically into it, libcuda.so.1 loaded by cudart from the
//                          driver);
//   liblatent-cuda-emu.so  the same backend code on the CPU emulator (kernels/emu), chosen by
//                          LATENT_GPU_EMULATOR=1: slow, for tests and for checking a model file
//                          by hand on a machine without a GPU.
//
// Search order: $LATENT_GPU_PLUGIN (a file path), then the directory holding the engine library
// (the build tree's lib/, an install's lib/latent-chat/), then its `latent-chat` subdirectory.
// The plugin is built from the same sources with the same compiler, so the table below passes
// C++ types; `abi` guards against a stale plugin from another build.
#pragma once

#include "backend/backend.h"
#include "backend/gpu_placement.h"
#include "cuda/cuda_device.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace latent {

inline constexpr uint32_t kGpuPluginAbi = 4;

// One kernel's share of a decode step (latent bench --kernels).
struct KernelTiming {
    std::string name;
    uint32_t launches = 0;
    double microseconds = 0;
};

struct GpuPlugin {
    uint32_t abi = kGpuPluginAbi;
    const char* kind = "";    // "cuda" or "emulator"
    CudaProbe (*probe)() = nullptr;
    // Creates the backend on device 0 with the given placement (plan_gpu_placement). Throws
    // latent::Error (Cancelled when options.load_progress cancels) with nothing left allocated.
    std::unique_ptr<Backend> (*create)(const Model& model, const BackendOptions& options, const GpuPlacement& placement) = nullptr;
    // Device-to-device copy bandwidth measured now, GB/s (the bound for % of bandwidth figures).
    double (*copy_bandwidth_gbs)() = nullptr;
    // Per-kernel time of one decode step of `backend` (a backend this plugin created), one row
    // per kernel family in launch order.
    std::vector<KernelTiming> (*decode_kernel_times)(Backend& backend) = nullptr;
    // Test hook: the countdown-th device allocation from now fails as out of memory (0 disarms).
    void (*inject_alloc_failure)(uint64_t countdown) = nullptr;
    // Bytes this process holds in device allocations now (tests: nothing left behind).
    size_t (*allocated_bytes)() = nullptr;
};

// The plugin for this process (loaded once; nullptr with `error` set when it is missing or
// unusable: "GPU support is not installed (liblatent-cuda.so not found next to liblatent_engine.so)").
const GpuPlugin* gpu_plugin(std::string* error = nullptr);

// Whether LATENT_GPU_EMULATOR=1 asks for the emulator plugin.
bool gpu_emulator_requested();

} // namespace latent

// Every plugin exports this one symbol.
extern "C" const latent::GpuPlugin* latent_gpu_plugin_entry();
