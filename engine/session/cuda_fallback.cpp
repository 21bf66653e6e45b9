#include "session/cuda_fallback.h"

namespace latent {

std::string cuda_fallback_note(BackendKind kind, const CudaProbe& probe, const GpuPlacement& placement, const std::string& create_error) {
    const bool auto_kind = kind == BackendKind::Auto;
    if (probe.devices.empty()) {
        const std::string error = probe.error.empty() ? std::string("no device reported") : probe.error;
        if (auto_kind) return "auto: using cpu (no usable NVIDIA GPU: " + error + ")";
        return "cuda: no usable NVIDIA GPU (" + error + "); using cpu";
    }
    // The backend runs on device 0 (the first CUDA_VISIBLE_DEVICES entry).
    const CudaDeviceInfo& device = probe.devices.front();
    std::string reason;
    if (!create_error.empty()) {
        reason = create_error;
    } else {
        reason = describe_vram_shortfall(placement.plan, device.free_bytes, device.name);
        if (placement.layers_on_cpu > 0 && placement.layers_on_cpu == placement.n_layers) {
            reason += "; even with every layer on the CPU, the output head and work buffers need " + format_memory_size(placement.device_bytes);
        } else if (placement.experts_on_cpu > 0 && placement.experts_on_cpu == placement.n_moe_layers) {
            reason += "; with every MoE layer's routed experts in host memory it still needs " + format_memory_size(placement.device_bytes);
        }
    }
    if (auto_kind) return "auto: using cpu (" + reason + ")";
    return "cuda: " + reason + "; using cpu";
}

std::string cuda_choice_note(BackendKind kind, const CudaDeviceInfo& device, const GpuPlacement& placement) {
    return std::string(kind == BackendKind::Auto ? "auto" : "cuda") + ": using cuda on " + device.name + " (" + placement.describe() + ")";
}

} // namespace latent
