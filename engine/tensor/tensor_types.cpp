// The type table: names, block sizes and block bytes of every ggml_type a GGUF file can name
// (deepseek2-gguf.md §7.1 and gguf-py GGML_QUANT_SIZES), and which of them we decode/encode.
#include "tensor/tensor_types.h"

#include "core/checked_math.h"
#include "core/error.h"

#include <array>
#include <string>

namespace latent {
namespace {

using T = TensorType;

// Ordered by id. can_decode / can_encode must agree with the switches in dequantize.cpp and
// quantize.cpp (the tests check both directions).
constexpr std::array kTypes = {
    //            type        name       block bytes decode encode
    TensorTypeInfo{T::F32, "f32", 1, 4, true, true},
    TensorTypeInfo{T::F16, "f16", 1, 2, true, true},
    TensorTypeInfo{T::Q4_0, "q4_0", 32, 18, true, true},
    TensorTypeInfo{T::Q4_1, "q4_1", 32, 20, true, false},
    TensorTypeInfo{T::Q5_0, "q5_0", 32, 22, true, false},
    TensorTypeInfo{T::Q5_1, "q5_1", 32, 24, true, false},
    TensorTypeInfo{T::Q8_0, "q8_0", 32, 34, true, true},
    TensorTypeInfo{T::Q8_1, "q8_1", 32, 36, false, false},
    TensorTypeInfo{T::Q2_K, "q2_K", 256, 84, true, false},
    TensorTypeInfo{T::Q3_K, "q3_K", 256, 110, true, false},
    TensorTypeInfo{T::Q4_K, "q4_K", 256, 144, true, true},
    TensorTypeInfo{T::Q5_K, "q5_K", 256, 176, true, false},
    TensorTypeInfo{T::Q6_K, "q6_K", 256, 210, true, false},
    TensorTypeInfo{T::Q8_K, "q8_K", 256, 292, true, false},
    TensorTypeInfo{T::IQ2_XXS, "iq2_xxs", 256, 66, false, false},
    TensorTypeInfo{T::IQ2_XS, "iq2_xs", 256, 74, false, false},
    TensorTypeInfo{T::IQ3_XXS, "iq3_xxs", 256, 98, false, false},
    TensorTypeInfo{T::IQ1_S, "iq1_s", 256, 50, false, false},
    TensorTypeInfo{T::IQ4_NL, "iq4_nl", 32, 18, true, false},
    TensorTypeInfo{T::IQ3_S, "iq3_s", 256, 110, false, false},
    TensorTypeInfo{T::IQ2_S, "iq2_s", 256, 82, false, false},
    TensorTypeInfo{T::IQ4_XS, "iq4_xs", 256, 136, true, false},
    TensorTypeInfo{T::I8, "i8", 1, 1, false, false},
    TensorTypeInfo{T::I16, "i16", 1, 2, false, false},
    TensorTypeInfo{T::I32, "i32", 1, 4, false, false},
    TensorTypeInfo{T::I64, "i64", 1, 8, false, false},
    TensorTypeInfo{T::F64, "f64", 1, 8, false, false},
    TensorTypeInfo{T::IQ1_M, "iq1_m", 256, 56, false, false},
    TensorTypeInfo{T::BF16, "bf16", 1, 2, true, true},
    TensorTypeInfo{T::TQ1_0, "tq1_0", 256, 54, false, false},
    TensorTypeInfo{T::TQ2_0, "tq2_0", 256, 66, false, false},
    TensorTypeInfo{T::MXFP4, "mxfp4", 32, 17, false, false},
};

const TensorTypeInfo* find_info(uint32_t type_id) {
    for (const TensorTypeInfo& info : kTypes) {
        if (static_cast<uint32_t>(info.type) == type_id) return &info;
    }
    return nullptr;
}

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equal_ignoring_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    }
    return true;
}

} // namespace

std::optional<TensorTypeInfo> tensor_type_info(uint32_t type_id) {
    if (const TensorTypeInfo* info = find_info(type_id)) return *info;
    return std::nullopt;
}

const TensorTypeInfo& tensor_type_info(TensorType type) {
    const TensorTypeInfo* info = find_info(static_cast<uint32_t>(type));
    if (!info) throw Error("unknown tensor type id " + std::to_string(static_cast<uint32_t>(type)));
    return *info;
}

std::string_view tensor_type_name(TensorType type) { return tensor_type_info(type).name; }

std::optional<TensorType> tensor_type_from_name(std::string_view name) {
    for (const TensorTypeInfo& info : kTypes) {
        if (equal_ignoring_case(info.name, name)) return info.type;
    }
    return std::nullopt;
}

size_t tensor_row_bytes(TensorType type, int64_t n) {
    const TensorTypeInfo& info = tensor_type_info(type);
    if (n < 0 || n % info.block_size != 0) {
        throw Error("row of " + std::to_string(n) + " elements is not a whole number of " +
                    std::string(info.name) + " blocks of " + std::to_string(info.block_size));
    }
    uint64_t bytes = 0;
    if (!checked_mul(static_cast<uint64_t>(n) / info.block_size, info.type_size, bytes) ||
        bytes > static_cast<uint64_t>(SIZE_MAX)) {
        throw Error("row of " + std::to_string(n) + " " + std::string(info.name) + " elements overflows");
    }
    return static_cast<size_t>(bytes);
}

} // namespace latent
