#include "quant_test_data.h"

#include "tensor/tensor_types.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>

namespace latent::test {
namespace {

using kernels::QuantType;

// Where a block keeps its f16 scale d and, for types with one, its f16 minimum (or dmin), and
// the largest |code| a scale multiplies, so scales can be sized for weight-like values.
struct ScaleFields {
    int d = -1;
    int min = -1;
    double max_code = 1.0;
};

ScaleFields scale_fields(QuantType type) {
    switch (type) {
    case QuantType::Q4_0: return {0, -1, 8};
    case QuantType::Q4_1: return {0, 2, 15};
    case QuantType::Q5_0: return {0, -1, 16};
    case QuantType::Q5_1: return {0, 2, 31};
    case QuantType::Q8_0: return {0, -1, 127};
    case QuantType::IQ4_NL: return {0, -1, 127};
    case QuantType::Q2_K: return {80, 82, 45};
    case QuantType::Q3_K: return {108, -1, 128};
    case QuantType::Q4_K: return {0, 2, 945};
    case QuantType::Q5_K: return {0, 2, 1953};
    case QuantType::Q6_K: return {208, -1, 4096};
    case QuantType::IQ4_XS: return {0, -1, 4064};
    default: return {};
    }
}

void store_half(uint8_t* p, float v) {
    const uint16_t h = fp32_to_fp16(v);
    std::memcpy(p, &h, sizeof h);
}

TensorType engine_type(QuantType type) { return static_cast<TensorType>(static_cast<uint32_t>(type)); }

} // namespace

uint32_t test_seed() {
    static const uint32_t seed = [] {
        uint32_t s = 0;
        if (const char* env = std::getenv("LATENT_TEST_SEED"); env && *env) {
            s = static_cast<uint32_t>(std::strtoul(env, nullptr, 10));
        } else {
            s = std::random_device{}();
        }
        std::fprintf(stderr, "random seed %u (set LATENT_TEST_SEED=%u to repeat this run)\n", s, s);
        return s;
    }();
    return seed;
}

std::vector<uint8_t> random_quant_matrix(QuantType type, int64_t rows, int64_t cols, Random& random) {
    const TensorTypeInfo& info = tensor_type_info(engine_type(type));
    const size_t row_bytes = tensor_row_bytes(engine_type(type), cols);
    std::vector<uint8_t> data(row_bytes * static_cast<size_t>(rows));
    if (info.block_size == 1) {
        std::vector<float> values(static_cast<size_t>(cols));
        for (int64_t r = 0; r < rows; ++r) {
            for (float& v : values) v = static_cast<float>(0.05 * random.normal());
            quantize_row(engine_type(type), values.data(), data.data() + row_bytes * static_cast<size_t>(r), cols);
        }
        return data;
    }
    for (uint8_t& b : data) b = random.byte();
    const ScaleFields fields = scale_fields(type);
    const double unit = 0.05 / fields.max_code;
    for (size_t b = 0; b < data.size() / info.type_size; ++b) {
        uint8_t* block = data.data() + b * info.type_size;
        store_half(block + fields.d, static_cast<float>(unit * random.uniform(0.3, 1.5) * (random.bits() & 1 ? 1 : -1)));
        if (fields.min >= 0) {
            // Q4_1 / Q5_1 store m (any sign); the K-quants store dmin (a positive scale).
            const bool k_quant = info.block_size == 256;
            const double m = k_quant ? unit * random.uniform(0.1, 1.0) : random.uniform(-0.05, 0.05);
            store_half(block + fields.min, static_cast<float>(m));
        }
    }
    return data;
}

std::vector<float> dequantize_matrix(QuantType type, const std::vector<uint8_t>& data, int64_t rows, int64_t cols) {
    const size_t row_bytes = tensor_row_bytes(engine_type(type), cols);
    if (data.size() < row_bytes * static_cast<size_t>(rows)) throw std::runtime_error("dequantize_matrix: short data");
    std::vector<float> out(static_cast<size_t>(rows * cols));
    for (int64_t r = 0; r < rows; ++r) {
        dequantize_row(engine_type(type), data.data() + row_bytes * static_cast<size_t>(r), out.data() + r * cols, cols);
    }
    return out;
}

std::vector<float> random_activations(int64_t n_tokens, int64_t cols, Random& random) {
    std::vector<float> x(static_cast<size_t>(n_tokens * cols));
    for (float& v : x) v = static_cast<float>(random.normal());
    for (int64_t t = 0; t < n_tokens; ++t) {
        for (int k = 0; k < 3; ++k) {
            x[static_cast<size_t>(t * cols) + random.bits() % static_cast<size_t>(cols)] =
                static_cast<float>(random.uniform(-30, 30));
        }
        if (cols >= 64) {
            for (int64_t i = 32; i < 64; ++i) x[static_cast<size_t>(t * cols + i)] = 0.0f;
        }
    }
    return x;
}

std::vector<float> quantized_activation_values(const std::vector<float>& x, std::vector<float>* half_steps) {
    if (x.size() % 32 != 0) throw std::runtime_error("quantized_activation_values: not whole slices");
    std::vector<float> out(x.size());
    if (half_steps) half_steps->assign(x.size(), 0.0f);
    for (size_t s = 0; s < x.size(); s += 32) {
        float amax = 0.0f;
        for (size_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[s + j]));
        const float d = amax / 127.0f;
        for (size_t j = 0; j < 32; ++j) {
            const float q = amax > 0.0f ? std::nearbyint(x[s + j] * (127.0f / amax)) : 0.0f;
            out[s + j] = d * q;
            if (half_steps) (*half_steps)[s + j] = d / 2;
        }
    }
    return out;
}

ReferenceProduct reference_product(const std::vector<float>& w, int64_t rows, int64_t cols, const std::vector<float>& x,
                                   int64_t n_tokens, const std::vector<float>* e) {
    ReferenceProduct ref;
    const size_t outputs = static_cast<size_t>(n_tokens * rows);
    ref.y.assign(outputs, 0.0);
    ref.magnitude.assign(outputs, 0.0);
    if (e) ref.bound.assign(outputs, 0.0);
    for (int64_t t = 0; t < n_tokens; ++t) {
        const float* xt = x.data() + t * cols;
        for (int64_t o = 0; o < rows; ++o) {
            const float* wo = w.data() + o * cols;
            double sum = 0.0, magnitude = 0.0, bound = 0.0;
            for (int64_t i = 0; i < cols; ++i) {
                sum += static_cast<double>(wo[i]) * xt[i];
                magnitude += std::fabs(static_cast<double>(wo[i]) * xt[i]);
                if (e) bound += std::fabs(static_cast<double>(wo[i])) * (*e)[static_cast<size_t>(t * cols + i)];
            }
            const size_t k = static_cast<size_t>(t * rows + o);
            ref.y[k] = sum;
            ref.magnitude[k] = magnitude;
            if (e) ref.bound[k] = bound;
        }
    }
    return ref;
}

} // namespace latent::test
