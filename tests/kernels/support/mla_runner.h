// Runs the MLA attention kernels on the device layer (emulator or CUDA) for the kernel tests and
// the benchmark: uploads a case, poisons the output (NaN bytes) so an unwritten element fails,
// launches, downloads.
#pragma once

#include "mla_attention.h"
#include "mla_test_data.h"

#include "device.h"

#include <vector>

namespace latent::test {

// The inputs of one case on the device, with a poisoned output buffer.
struct MlaDeviceCase {
    gpu::Buffer cache, q_latent, q_rope, out, workspace, n_keys;
    kernels::MlaAttentionArgs args;

    MlaDeviceCase(const MlaShape& shape, const MlaInputs& inputs);
    void poison_output();
    std::vector<float> output() const;
};

enum class MlaMode { Decode, Prefill };

// One run: decode with `splits` (0 = the automatic plan) or prefill; returns the output.
std::vector<float> run_mla(const MlaShape& shape, const MlaInputs& inputs, MlaMode mode, uint32_t splits = 0);

} // namespace latent::test
