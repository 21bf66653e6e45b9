#include "model/demo_model.h"

#include <dlfcn.h>

#include <cstdlib>

namespace latent {

namespace {

std::filesystem::path canonical_parent(const std::filesystem::path& file) {
    std::error_code ec;
    const auto path = std::filesystem::canonical(file, ec);
    return ec ? file.parent_path() : path.parent_path();
}

} // namespace

std::vector<std::filesystem::path> demo_model_candidates() {
    if (const char* explicit_path = std::getenv("LATENT_DEMO_MODEL"); explicit_path && *explicit_path) return {explicit_path};
    std::vector<std::filesystem::path> candidates;
    const std::filesystem::path share = std::filesystem::path("share") / "latent-chat" / "demo" / kDemoModelFile;
    // An install: <prefix>/bin/latent and <prefix>/lib/latent-chat/liblatent-engine.so.
    candidates.push_back(canonical_parent("/proc/self/exe").parent_path() / share);
    Dl_info info{};
    if (dladdr(reinterpret_cast<const void*>(&find_demo_model), &info) != 0 && info.dli_fname != nullptr)
        candidates.push_back(canonical_parent(info.dli_fname).parent_path().parent_path() / share);
#ifdef LATENT_SOURCE_DIR
    candidates.push_back(std::filesystem::path(LATENT_SOURCE_DIR) / "resources" / "models" / kDemoModelFile);
#endif
    return candidates;
}

std::optional<std::filesystem::path> find_demo_model() {
    for (const auto& candidate : demo_model_candidates()) {
        std::error_code ec;
        if (std::filesystem::is_regular_file(candidate, ec)) return candidate;
    }
    return std::nullopt;
}

} // namespace latent
