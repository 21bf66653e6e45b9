// Deterministic random tensor data for generated models (model_builder.h).
//
// Two ways to fill a tensor of a given type so that decoded values have about the requested mean
// and standard deviation:
//   * from floats: draw float32 values, then store them (F32/F16/BF16/F64 directly; any type
//     quantize_row can encode through it). Exact distribution, costs an encode per element.
//   * random blocks: for block-quantised types, draw the quantised bytes uniformly from the PRNG
//     and write small, sane scales (an f16 `d` chosen so the decoded spread is about `stddev`,
//     sub-block scales in a narrow range, mins that centre each sub-block). Every block is valid
//     (finite, bounded values) and generation runs at memory speed, which is what makes a
//     10 GB V2-Lite file practical. Q8 quants avoid -128 (real quantisers never emit it and some
//     SIMD dot products mishandle it). The mean is not honoured on this path (blocks are centred
//     near 0); it is only used for weights, whose mean is 0 anyway.
// Types the engine cannot decode at all (IQ*, TQ*, MXFP4) get random bytes: such files exist only
// to test that loading refuses them.
#pragma once

#include "tensor/tensor_types.h"

#include <cstdint>
#include <string_view>

namespace latent {

// xoshiro256** seeded through splitmix64: fast, small state, good enough statistics.
class WeightRng {
public:
    explicit WeightRng(uint64_t seed);
    uint64_t next();
    // Uniform in [0, 1).
    float uniform() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }
    // Approximately standard normal (Irwin-Hall sum of four uniforms, rescaled): bell-shaped,
    // bounded by ±2√3, cheap enough for billions of draws.
    float normal();
    void fill_bytes(uint8_t* out, size_t count);

private:
    uint64_t state_[4];
};

// Seed of one tensor's stream: independent of the order tensors are generated in.
uint64_t tensor_stream_seed(uint64_t seed, std::string_view tensor_name);

// Whether fill_random_blocks knows the block layout of `type` (all decodable block types).
bool has_random_block_layout(TensorType type);

// Fills `rows` rows of `ne0` elements from floats drawn as mean + stddev·normal. `type` must be
// a float type or one quantize_row encodes. `out` receives tensor_row_bytes(type, ne0)·rows bytes.
void fill_from_floats(TensorType type, uint64_t ne0, uint64_t rows, float mean, float stddev, WeightRng& rng,
                      uint8_t* out);

// Fills `rows` rows of `ne0` elements with random valid blocks of `type` (see above); types
// without a known layout get random bytes.
void fill_random_blocks(TensorType type, uint64_t ne0, uint64_t rows, float stddev, WeightRng& rng, uint8_t* out);

} // namespace latent
