// The stored weight types the GPU kernels understand, with the GGUF type ids (ggml_type) as
// values, so a latent::TensorType converts with a static_cast (the kernel tests check that the
// ids agree). Plain C++: included by kernels, launchers and host code alike.
//
// Every type is walked in 32-element "slices": a 32-element block is one slice, a 256-element
// super-block is eight. Float types (block size 1 in GGUF) are walked in slices too, so their
// rows must hold a multiple of 32 elements on the GPU (every DeepSeek tensor does).
#pragma once

#include <cstdint>

namespace latent::kernels {

enum class QuantType : uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    IQ4_NL = 20,
    IQ4_XS = 23,
    BF16 = 30,
};

// All of them, for loops in launchers, benchmarks and tests.
inline constexpr QuantType kAllQuantTypes[] = {
    QuantType::F32,  QuantType::F16,  QuantType::BF16, QuantType::Q4_0, QuantType::Q4_1,
    QuantType::Q5_0, QuantType::Q5_1, QuantType::Q8_0, QuantType::Q2_K, QuantType::Q3_K,
    QuantType::Q4_K, QuantType::Q5_K, QuantType::Q6_K, QuantType::IQ4_NL, QuantType::IQ4_XS,
};

// True for an id listed above.
constexpr bool is_known_quant_type(uint32_t id) {
    for (QuantType t : kAllQuantTypes) {
        if (static_cast<uint32_t>(t) == id) return true;
    }
    return false;
}

// The name as llama.cpp spells it ("q4_K"); "?" for an id not listed above.
constexpr const char* quant_type_name(QuantType type) {
    switch (type) {
    case QuantType::F32: return "f32";
    case QuantType::F16: return "f16";
    case QuantType::BF16: return "bf16";
    case QuantType::Q4_0: return "q4_0";
    case QuantType::Q4_1: return "q4_1";
    case QuantType::Q5_0: return "q5_0";
    case QuantType::Q5_1: return "q5_1";
    case QuantType::Q8_0: return "q8_0";
    case QuantType::Q2_K: return "q2_K";
    case QuantType::Q3_K: return "q3_K";
    case QuantType::Q4_K: return "q4_K";
    case QuantType::Q5_K: return "q5_K";
    case QuantType::Q6_K: return "q6_K";
    case QuantType::IQ4_NL: return "iq4_nl";
    case QuantType::IQ4_XS: return "iq4_xs";
    }
    return "?";
}

} // namespace latent::kernels
