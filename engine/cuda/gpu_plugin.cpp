#include "cuda/gpu_plugin.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <vector>

namespace latent {

namespace {

std::filesystem::path engine_library_dir() {
    Dl_info info{};
    if (dladdr(reinterpret_cast<const void*>(&gpu_emulator_requested), &info) == 0 || info.dli_fname == nullptr) return {};
    std::error_code ec;
    const auto path = std::filesystem::canonical(info.dli_fname, ec);
    return ec ? std::filesystem::path(info.dli_fname).parent_path() : path.parent_path();
}

struct Loaded {
    const GpuPlugin* plugin = nullptr;
    std::string error;
};

Loaded load() {
    Loaded result;
    const char* file = gpu_emulator_requested() ? "liblatent-cuda-emu.so" : "liblatent-cuda.so";
    std::vector<std::filesystem::path> candidates;
    if (const char* explicit_path = std::getenv("LATENT_GPU_PLUGIN"); explicit_path && *explicit_path) {
        candidates.emplace_back(explicit_path);
    } else {
        const auto dir = engine_library_dir();
        candidates.push_back(dir / file);
        candidates.push_back(dir / "latent-chat" / file);
    }
    std::string dl_errors;
    for (const auto& candidate : candidates) {
        std::error_code ec;
        if (!std::filesystem::exists(candidate, ec)) continue;
        void* handle = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (handle == nullptr) {
            const char* why = dlerror();
            dl_errors += std::string("; ") + candidate.string() + ": " + (why ? why : "dlopen failed");
            continue;
        }
        auto entry = reinterpret_cast<const GpuPlugin* (*)()>(dlsym(handle, "latent_gpu_plugin_entry"));
        const GpuPlugin* plugin = entry ? entry() : nullptr;
        if (plugin == nullptr || plugin->abi != kGpuPluginAbi) {
            dl_errors += "; " + candidate.string() + " is from another build (plugin interface mismatch)";
            continue; // kept loaded: unloading code that may have registered handlers is unsafe
        }
        result.plugin = plugin;
        return result;
    }
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
