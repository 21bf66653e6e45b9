#include "session/cuda_fallback.h"

namespace latent {

std::string cuda_fallback_note(BackendKind kind, const CudaProbe& probe, const VramPlan& plan) {
    const bool auto_kind = kind == BackendKind::Auto;
    if (probe.devices.empty()) {
        const std::string error = probe.error.empty() ? std::string("no device reported") : probe.error;
        if (auto_kind) return "auto: using cpu (no usable NVIDIA GPU: " + error + ")";
        return "cuda: no usable NVIDIA GPU (" + error + "); using cpu";
    }
    // The backend will run on device 0 (the first CUDA_VISIBLE_DEVICES entry).
    const CudaDeviceInfo& device = probe.devices.front();
    std::string reason;
    if (plan.total_bytes() > device.free_bytes) {
        reason = describe_vram_shortfall(plan, device.free_bytes, device.name);
    } else {
        reason = "the CUDA backend's kernels are not in this build yet (" + device.name + ", " + format_memory_size(device.free_bytes) + " free)";
    }
    if (auto_kind) return "auto: using cpu (" + reason + ")";
    return "cuda: " + reason + "; using cpu";
}

} // namespace latent
