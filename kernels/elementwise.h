// Element-wise kernels of the forward pass: the residual add.
#pragma once

#include "device.h"

#include <cstddef>

namespace latent::kernels {

// out[i] = a[i] + b[i] for i < n (float32). `out` may be `a` or `b`.
void residual_add(float* out, const float* a, const float* b, std::size_t n, gpu::Stream stream = {});

} // namespace latent::kernels
