// The CUDA emulator's kernel-side API: what kernels/common/cuda_compat.cuh includes when a .cu
// file is compiled as host C++ with LATENT_EMU=1. See kernels/emu/README.md.
#pragma once

#include "emu/emu_types.h"
#include "emu/emu_half.h"
#include "emu/emu_math.h"
#include "emu/emu_runtime.h"
