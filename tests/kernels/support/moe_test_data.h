// A random MoE layer on the device for the MoE kernel tests and the benchmark: stored weights of
// any type per matrix (quant_test_data's generator), their decoded floats for the reference,
// and the kernels::MoeWeights view of the device copies.
#pragma once

#include "moe.h"
#include "quant_types.h"
#include "test_random.h"

#include "device.h"

#include <cstdint>
#include <vector>

namespace latent::test {

struct MoeShape {
    uint32_t n_embd = 256;      // D
    uint32_t n_ff = 256;        // F: one routed expert's width
    uint32_t n_ff_shared = 0;   // shared experts' total width (0: none)
    kernels::MoeRouting routing;
    kernels::QuantType gate_up = kernels::QuantType::Q8_0; // gate and up, routed
    kernels::QuantType down = kernels::QuantType::Q8_0;    // down, routed
    kernels::QuantType shared_gate_up = kernels::QuantType::Q8_0;
    kernels::QuantType shared_down = kernels::QuantType::Q8_0;
    bool bias = false;          // exp_probs_b present
};

// One stored matrix on the host and the device, and its decoded values.
struct MoeMatrix {
    kernels::QuantType type = kernels::QuantType::F32;
    int64_t rows = 0, cols = 0, count = 1; // count matrices of (rows, cols) stacked
    std::vector<float> values;             // (count * rows, cols), as dequantize_row decodes them
    gpu::Buffer device;
    kernels::QuantMatrix view() const;
};

struct MoeLayer {
    MoeShape shape;
    MoeMatrix router, gate, up, down, shared_gate, shared_up, shared_down;
    std::vector<float> bias; // n_expert, or empty
    gpu::Buffer bias_device;
    kernels::MoeWeights weights() const;
};

// Weights with weight-like magnitudes; the router scaled so logits spread over a few units.
MoeLayer random_moe_layer(const MoeShape& shape, Random& random);

} // namespace latent::test
