// The note create_backend gives when `auto` or `cuda` runs on the CPU instead of a GPU: no usable
// device (with the CUDA runtime's or the plugin loader's reason), too little free memory on
// device 0 even with routed experts in host memory (with the numbers of the VRAM plan), or the
// backend failing to load (driver or out-of-memory error, with its message). A pure function of
// the probe and the plan, so every branch is testable on a machine without a GPU.
#pragma once

#include "backend/gpu_placement.h"
#include "cuda/cuda_device.h"
#include "session/backend_factory.h"

#include <string>

namespace latent {

// kind is Auto or Cuda (anything else is treated as Cuda). Wording:
//   Auto, no device:    "auto: using cpu (no usable NVIDIA GPU: <probe.error>)"
//   Cuda, no device:    "cuda: no usable NVIDIA GPU (<probe.error>); using cpu"
//   too little memory:  "cuda: <describe_vram_shortfall>[; with every MoE layer's routed experts in host
//                       memory it still needs <size>]; using cpu"       (Auto: "auto: using cpu (<…>)")
//   creation failed:    "cuda: <create_error>; using cpu"              (Auto: "auto: using cpu (<…>)")
std::string cuda_fallback_note(BackendKind kind, const CudaProbe& probe, const GpuPlacement& placement,
                               const std::string& create_error = {});

// The note when the GPU is used: "auto: using cuda on NVIDIA H100 80GB HBM3 (all on the GPU: …)".
std::string cuda_choice_note(BackendKind kind, const CudaDeviceInfo& device, const GpuPlacement& placement);

} // namespace latent
