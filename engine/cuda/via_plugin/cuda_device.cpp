// probe_cuda_devices and create_cuda_backend for packaged builds (LATENT_CUDA_PLUGIN=ON): both
// load liblatent-cuda.so on first use and call into it. Without the plugin (the GPU package is
// not installed, or it is from another build) the probe has no devices and its error says why,
// so the backend factory falls back to the CPU with that reason in its note.
#include "core/error.h"
#include "cuda/cuda_plugin.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <system_error>
#include <vector>

namespace latent {

namespace {

constexpr const char* kInstallHint = "install the latent-chat-cuda package for GPU support";

std::filesystem::path executable_dir() {
    std::error_code error;
    const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", error);
    return error ? std::filesystem::path() : exe.parent_path();
}

std::vector<std::filesystem::path> candidate_paths() {
    std::vector<std::filesystem::path> paths;
    if (const char* override_path = std::getenv("LATENT_CUDA_PLUGIN"); override_path != nullptr && *override_path != '\0') {
        paths.emplace_back(override_path); // the only candidate: a test or an admin chose it
        return paths;
    }
    const std::filesystem::path dir = executable_dir();
    if (!dir.empty()) paths.push_back((dir / ".." / "lib" / "latent-chat" / kCudaPluginFileName).lexically_normal());
    const std::filesystem::path system_path = std::filesystem::path("/usr/lib/latent-chat") / kCudaPluginFileName;
    if (paths.empty() || paths.front() != system_path) paths.push_back(system_path);
    return paths;
}

} // namespace

CudaPluginLoad load_cuda_plugin_from(const std::vector<std::string>& paths) {
    CudaPluginLoad result;
    std::string tried;
    for (const std::filesystem::path path : paths) {
        std::error_code error;
        if (!std::filesystem::exists(path, error)) {
            tried += (tried.empty() ? "" : ", ") + path.string();
            continue;
        }
        result.path = path.string();
        // RTLD_LOCAL: the plugin's copies of the engine and the CUDA runtime stay its own.
        void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (handle == nullptr) {
            const char* why = ::dlerror();
            result.error = "the GPU plugin " + result.path + " cannot be loaded: " + (why != nullptr ? why : "unknown error");
            return result;
        }
        using Entry = const CudaPluginApi* (*)();
        void* symbol = ::dlsym(handle, kCudaPluginEntry);
        const CudaPluginApi* api = symbol != nullptr ? reinterpret_cast<Entry>(symbol)() : nullptr;
        // Only a table of our ABI version may be read further (its layout is that version's).
        const bool same_abi = api != nullptr && api->abi == kCudaPluginAbi;
        if (!same_abi || api->build_id == nullptr || std::strcmp(api->build_id, cuda_plugin_build_id()) != 0 || api->probe == nullptr) {
            const std::string theirs = same_abi && api->build_id != nullptr ? api->build_id : "an unknown version";
            result.error = "the GPU plugin " + result.path + " is from another build of Latent Chat (" + theirs + ", this is " +
                           cuda_plugin_build_id() + "); reinstall latent-chat-cuda of the same version";
            ::dlclose(handle);
            return result;
        }
        result.api = api; // the handle stays open for the process
        return result;
    }
    result.error = std::string("GPU support is not installed (no ") + tried + "; " + kInstallHint + ")";
    return result;
}

const CudaPluginLoad& load_cuda_plugin() {
    static std::once_flag once;
    static CudaPluginLoad loaded;
    std::call_once(once, [] {
        std::vector<std::string> paths;
        for (const std::filesystem::path& path : candidate_paths()) paths.push_back(path.string());
        loaded = load_cuda_plugin_from(paths);
    });
    return loaded;
}

CudaProbe probe_cuda_devices() {
    const CudaPluginLoad& plugin = load_cuda_plugin();
    if (plugin.api == nullptr) {
        CudaProbe probe;
        probe.error = plugin.error;
        return probe;
    }
    return plugin.api->probe();
}

std::unique_ptr<Backend> create_cuda_backend(const Model& model, const BackendOptions& options) {
    const CudaPluginLoad& plugin = load_cuda_plugin();
    if (plugin.api == nullptr) throw Error(plugin.error);
    if (plugin.api->create_backend == nullptr) throw Error("the GPU plugin " + plugin.path + " has no CUDA backend yet");
    return plugin.api->create_backend(model, options);
}

} // namespace latent
