#include "session/backend_factory.h"

#include "backend/vram_plan.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "cuda/cuda_device.h"
#include "cuda/gpu_plugin.h"
#include "backend/gpu_placement.h"
#include "session/cuda_fallback.h"

#include <array>
#include <cctype>

namespace latent {

namespace {

constexpr std::array<BackendKind, 4> kKinds = {BackendKind::Auto, BackendKind::Ref, BackendKind::Cpu, BackendKind::Cuda};

bool equals_ascii_case_insensitive(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
    }
    return true;
}

} // namespace

std::string_view backend_kind_name(BackendKind kind) {
    switch (kind) {
    case BackendKind::Auto: return "auto";
    case BackendKind::Ref: return "ref";
    case BackendKind::Cpu: return "cpu";
    case BackendKind::Cuda: return "cuda";
    }
    return "unknown";
}

std::optional<BackendKind> backend_kind_from_name(std::string_view name) {
    for (BackendKind kind : kKinds) {
        if (equals_ascii_case_insensitive(name, backend_kind_name(kind))) return kind;
    }
    return std::nullopt;
}

std::vector<std::string_view> backend_kind_names() {
    std::vector<std::string_view> names;
    for (BackendKind kind : kKinds) names.push_back(backend_kind_name(kind));
    return names;
}

bool backend_kind_available(BackendKind kind) {
    return kind != BackendKind::Cuda || gpu_plugin() != nullptr;
}

namespace {

// The cpu backend in place of a GPU one: a bf16 cache (cuda only) becomes f16.
std::unique_ptr<Backend> cpu_instead(const Model& model, BackendOptions options, std::string* note) {
    if (options.cache_type == KvCacheType::BF16) {
        options.cache_type = KvCacheType::F16;
        if (note != nullptr) *note += " (KV cache in f16: bf16 is a cuda option)";
    }
    return create_cpu_backend(model, options);
}

std::unique_ptr<Backend> create_gpu_backend(const Model& model, BackendKind kind, const BackendOptions& options, std::string* note) {
    std::string error;
    const GpuPlugin* plugin = gpu_plugin(&error);
    CudaProbe probe;
    if (plugin != nullptr) probe = plugin->probe();
    else probe.error = error;
    GpuPlacement placement;
    std::string create_error;
    if (!probe.devices.empty()) {
        placement = plan_gpu_placement(model, options, probe.devices.front().free_bytes);
        if (placement.fits) {
            try {
                std::unique_ptr<Backend> backend = plugin->create(model, options, placement);
                if (note != nullptr) *note = cuda_choice_note(kind, probe.devices.front(), placement);
                return backend;
            } catch (const Cancelled&) {
                throw;
            } catch (const ModelFileChanged&) {
                throw;
            } catch (const std::exception& e) {
                // A driver or out-of-memory failure at load: nothing is left on the GPU, and the
                // CPU still works.
                create_error = e.what();
            }
        }
    }
    std::string fallback = cuda_fallback_note(kind, probe, placement, create_error);
    std::unique_ptr<Backend> backend = cpu_instead(model, options, &fallback);
    if (note != nullptr) *note = fallback;
    return backend;
}

std::unique_ptr<Backend> create_backend_of_kind(const Model& model, BackendKind kind, const BackendOptions& options, std::string* note) {
    switch (kind) {
    case BackendKind::Ref:
        return create_ref_backend(model, options);
    case BackendKind::Cpu:
        return create_cpu_backend(model, options);
    case BackendKind::Auto:
    case BackendKind::Cuda:
        break;
    }
    return create_gpu_backend(model, kind, options, note);
}

} // namespace

std::unique_ptr<Backend> create_backend(const Model& model, BackendKind kind, const BackendOptions& options, std::string* note) {
    if (note != nullptr) note->clear();
    model.check_files_unchanged();
    std::unique_ptr<Backend> backend = create_backend_of_kind(model, kind, options, note);
    model.check_files_intact(); // what the backend copied from the weights is garbage otherwise
    return backend;
}

} // namespace latent
