#include "cuda/gpu_plugin.h"

#include "core/plugin_loader.h"

#include <cstdlib>
#include <mutex>
#include <string>

namespace latent {

namespace {

struct Loaded {
    const GpuPlugin* plugin = nullptr;
    std::string error;
};

Loaded load() {
    Loaded result;
    const char* file = gpu_emulator_requested() ? "liblatent-cuda-emu.so" : "liblatent-cuda.so";
    std::string dl_errors;
    result.plugin = load_plugin_table<GpuPlugin>({file, "LATENT_GPU_PLUGIN", "latent_gpu_plugin_entry"}, kGpuPluginAbi, dl_errors);
    if (result.plugin != nullptr) return result;
    result.error = gpu_emulator_requested()
                       ? std::string("the GPU emulator is not in this build (") + file + " not found)"
                       : std::string("GPU support is not installed (") + file + " not found next to the engine library)";
    if (!dl_errors.empty()) result.error = std::string("GPU support could not be loaded") + dl_errors;
    return result;
}

} // namespace

bool gpu_emulator_requested() {
    const char* value = std::getenv("LATENT_GPU_EMULATOR");
    return value != nullptr && std::string(value) == "1";
}

const GpuPlugin* gpu_plugin(std::string* error) {
    static std::once_flag once;
    static Loaded loaded;
    std::call_once(once, [] { loaded = load(); });
    if (error != nullptr) *error = loaded.error;
    return loaded.plugin;
}

} // namespace latent
