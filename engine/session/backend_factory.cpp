#include "session/backend_factory.h"

#include "backend/vram_plan.h"
#include "cuda/cuda_device.h"
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
    // The CUDA backend is not part of the engine yet (only the device probe and the VRAM plan
    // are); when it is, this asks whether it was built and a device is present.
    return kind != BackendKind::Cuda;
}

namespace {

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
    // There is no CUDA backend yet, so both kinds run on the cpu backend and the device probe
    // only shapes the note (nothing is probed when no note is asked for).
    if (note != nullptr) *note = cuda_fallback_note(kind, probe_cuda_devices(), plan_vram(model, options));
    return create_cpu_backend(model, options);
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
