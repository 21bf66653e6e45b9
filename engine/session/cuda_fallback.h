// The note create_backend gives when `auto` or `cuda` runs on the CPU instead of a GPU: no usable
// device (with the CUDA runtime's reason), too little free memory on device 0 (with the numbers
// of the VRAM plan), or the CUDA backend's kernels missing from this build. A pure function of
// the probe and the plan, so every branch is testable on a machine without a GPU.
#pragma once

#include "backend/vram_plan.h"
#include "cuda/cuda_device.h"
#include "session/backend_factory.h"

#include <string>

namespace latent {

// kind is Auto or Cuda (anything else is treated as Cuda). Wording:
//   Auto, no device:  "auto: using cpu (no usable NVIDIA GPU: <probe.error>)"
//   Cuda, no device:  "cuda: no usable NVIDIA GPU (<probe.error>); using cpu"
//   too little memory: "cuda: <describe_vram_shortfall>; using cpu"      (Auto: "auto: using cpu (<…>)")
//   fits:              "cuda: the CUDA backend's kernels are not in this build yet (<device>, <free> free); using cpu"
std::string cuda_fallback_note(BackendKind kind, const CudaProbe& probe, const VramPlan& plan);

} // namespace latent
