#include "core/plugin_loader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

namespace latent {

namespace {

std::filesystem::path engine_library_dir() {
    Dl_info info{};
    if (dladdr(reinterpret_cast<const void*>(&load_plugin), &info) == 0 || info.dli_fname == nullptr) return {};
    std::error_code ec;
    const auto path = std::filesystem::canonical(info.dli_fname, ec);
    return ec ? std::filesystem::path(info.dli_fname).parent_path() : path.parent_path();
}

} // namespace

void* load_plugin(const PluginSearch& search, const std::function<bool(void* symbol, std::string& why)>& accept, std::string& errors) {
    errors.clear();
    std::vector<std::filesystem::path> candidates;
    if (const char* explicit_path = std::getenv(search.env_var); explicit_path && *explicit_path) {
        candidates.emplace_back(explicit_path);
    } else {
        const auto dir = engine_library_dir();
        candidates.push_back(dir / search.file);
        candidates.push_back(dir / "latent-chat" / search.file);
    }
    for (const auto& candidate : candidates) {
        std::error_code ec;
        if (!std::filesystem::exists(candidate, ec)) continue;
        void* handle = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (handle == nullptr) {
            const char* why = dlerror();
            errors += "; " + candidate.string() + ": " + (why ? why : "dlopen failed");
            continue;
        }
        void* symbol = dlsym(handle, search.symbol);
        if (symbol == nullptr) {
            errors += "; " + candidate.string() + " is not a Latent Chat plugin (no " + search.symbol + ")";
            continue;
        }
        std::string why;
        if (accept(symbol, why)) return symbol;
        errors += "; " + candidate.string() + " " + why;
    }
    return nullptr;
}

} // namespace latent
