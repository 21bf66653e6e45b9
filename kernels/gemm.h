// The one seam for large matrix products (prefill): y (n_tokens, w_rows) f32 = x W^T with
// W (w_rows, cols) and x (n_tokens, cols) both in the same 16-bit format (f16 or bf16, row-major,
// e.g. weight tiles from dequant.h), f32 accumulation.
//
// CUDA build: cuBLAS (cublasGemmEx, tensor cores, one handle per host thread bound to `stream`).
// Emulator build: a plain portable kernel (one output per thread, float accumulation) run by the
// emulator, so callers and tests see the same interface and stream ordering; the cuBLAS path
// itself is covered by the native test run on a GPU.
#pragma once

#include "dequant.h"
#include "device.h"

#include <cstdint>

namespace latent::kernels {

void gemm(HalfFormat format, const void* w, int64_t w_rows, const void* x, int64_t n_tokens, int64_t cols, float* y,
          gpu::Stream stream = {});

// Whether gemm runs cuBLAS (false in the emulator build).
bool gemm_uses_cublas();

} // namespace latent::kernels
