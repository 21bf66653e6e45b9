// Random weights and activations for the quantised-kernel tests, and their references through
// the engine (the oracle): dequantize_row for weights, a plain loop for the activations'
// per-32 quantisation.
//
// Seeds are fresh on every run (LATENT_TEST_SEED=N repeats one); test_seed() prints the seed it
// picked so a failure can be replayed. No Qt here: the device benchmark links this file too.
#pragma once

#include "quant_types.h"

#include "test_random.h"

#include <cstdint>
#include <vector>

namespace latent::test {

// The run's base seed: LATENT_TEST_SEED if set, else a fresh one; printed once.
uint32_t test_seed();

// (rows, cols) packed rows of `type` with random fields and sane scales: the float scales of
// every block are finite, of either sign, and sized so values are weight-like (|W| ~ 0.01-0.1);
// float types hold normal values. cols must be a multiple of 256 for super-block types, 32 else.
std::vector<uint8_t> random_quant_matrix(kernels::QuantType type, int64_t rows, int64_t cols, Random& random);

// The matrix decoded by the engine's dequantize_row, (rows, cols) floats.
std::vector<float> dequantize_matrix(kernels::QuantType type, const std::vector<uint8_t>& data, int64_t rows,
                                     int64_t cols);

// Hidden-state-like activations (n_tokens, cols): normal values, a few large outliers, and one
// all-zero 32-value slice when cols >= 64.
std::vector<float> random_activations(int64_t n_tokens, int64_t cols, Random& random);

// x as the per-32 int8 quantisation represents it (d * q, the CPU's Q8_32 rule); also returns
// each value's worst-case rounding d/2 in half_steps when non-null.
std::vector<float> quantized_activation_values(const std::vector<float>& x, std::vector<float>* half_steps = nullptr);

// y[t][o] = sum_i W[o][i] * x[t][i] in double precision, W (rows, cols) and x (n_tokens, cols);
// also sum_i |W[o][i]| * |x[t][i]| in magnitudes and, when e is given, sum_i |W[o][i]| * e[t][i]
// in bound.
struct ReferenceProduct {
    std::vector<double> y;         // (n_tokens, rows)
    std::vector<double> magnitude; // (n_tokens, rows)
    std::vector<double> bound;     // (n_tokens, rows), empty without e
};
ReferenceProduct reference_product(const std::vector<float>& w, int64_t rows, int64_t cols, const std::vector<float>& x,
                                   int64_t n_tokens, const std::vector<float>* e = nullptr);

} // namespace latent::test
