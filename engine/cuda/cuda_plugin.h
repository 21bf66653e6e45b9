// The GPU plugin seam. Packaged builds (LATENT_CUDA_PLUGIN=ON) keep everything that touches CUDA
// — the device probe, the CUDA backend, the kernels, the CUDA runtime and cuBLAS — in one shared
// library, liblatent-cuda.so, shipped in its own package (latent-chat-cuda). The engine in
// `latent` and `latent-chat` then has no CUDA dependency at all: the first call to
// probe_cuda_devices() or create_cuda_backend() dlopens the plugin, and when it is not installed
// (or cannot load) the probe reports that as its error, so `auto` says plainly that it runs on
// the CPU and why.
//
// Developer builds (LATENT_CUDA_PLUGIN=OFF, the default) link the same code statically and never
// load anything; the functions below have the same meaning in both.
//
// The plugin exports one C symbol, latent_cuda_plugin_v1, returning a table of function pointers.
// The table passes C++ types (CudaProbe, Model, Backend), which is sound only between binaries of
// one build: the loader refuses a plugin whose build_id differs from its own (the packages also
// depend on the exact same version).
#pragma once

#include "backend/backend.h"
#include "cuda/cuda_device.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace latent {

inline constexpr uint32_t kCudaPluginAbi = 1;
inline constexpr const char* kCudaPluginEntry = "latent_cuda_plugin_v1";
inline constexpr const char* kCudaPluginFileName = "liblatent-cuda.so";

// The build's identity (project version and compiler), equal in the engine and its plugin.
const char* cuda_plugin_build_id();

struct CudaPluginApi {
    uint32_t abi = 0;                  // kCudaPluginAbi
    const char* build_id = nullptr;    // cuda_plugin_build_id() of the build that made the plugin
    CudaProbe (*probe)() = nullptr;    // probe_cuda_devices() inside the plugin
    // create_cuda_backend() inside the plugin; null while the plugin carries no CUDA backend.
    std::unique_ptr<Backend> (*create_backend)(const Model& model, const BackendOptions& options) = nullptr;
};

// The CUDA backend (in the plugin, or linked into developer builds with CUDA). Throws
// latent::Error naming the cause when there is none (no CUDA in this build, the GPU package not
// installed, or a plugin without the backend).
std::unique_ptr<Backend> create_cuda_backend(const Model& model, const BackendOptions& options);

// What the loader found (plugin builds only; the first call loads, later calls return the same).
// It looks, in order, at $LATENT_CUDA_PLUGIN (a file; then nowhere else), or at
// <dir of the executable>/../lib/latent-chat/liblatent-cuda.so and /usr/lib/latent-chat/.
struct CudaPluginLoad {
    const CudaPluginApi* api = nullptr; // null when no usable plugin was found
    std::string path;                   // the file tried last ("" when none was found)
    std::string error;                  // why api is null: "GPU support is not installed (…)"
};
const CudaPluginLoad& load_cuda_plugin();
// The loading itself, uncached: tries the paths in order (the first that exists decides).
// Plugins it loads stay loaded. For tests.
CudaPluginLoad load_cuda_plugin_from(const std::vector<std::string>& paths);

} // namespace latent

extern "C" const latent::CudaPluginApi* latent_cuda_plugin_v1();
