// GGML tensor data types as stored in GGUF files: ids, block layouts and sizes, and the
// conversions between stored blocks and float32.
//
// A row of n elements of a block type is n / block_size consecutive blocks of type_size bytes
// (see deepseek2-gguf.md §7 for every layout). Decoding is bit-exact with the reference
// implementation: plain float arithmetic on the stored scales, in the same order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace latent {

// Type ids exactly as in GGUF tensor-info records (ggml_type). Retired ids are absent.
enum class TensorType : uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
};

// Static facts about one type.
struct TensorTypeInfo {
    TensorType type;
    std::string_view name;   // as llama.cpp spells it: "q4_K", "f16", "iq4_nl"
    uint32_t block_size;     // elements per block (1 for plain types)
    uint32_t type_size;      // bytes per block
    bool can_decode;         // dequantize_row supports it
    bool can_encode;         // quantize_row supports it
};

// Facts for a raw type id read from a file; nullopt for an id that is not a known type.
std::optional<TensorTypeInfo> tensor_type_info(uint32_t type_id);
const TensorTypeInfo& tensor_type_info(TensorType type);
std::string_view tensor_type_name(TensorType type);
// Parses names as printed by tensor_type_name, case-insensitively ("Q4_K", "q8_0", "bf16").
std::optional<TensorType> tensor_type_from_name(std::string_view name);

// Bytes taken by a row of n elements; n must be a multiple of the block size.
size_t tensor_row_bytes(TensorType type, int64_t n);

// Decodes n elements (a multiple of the block size) starting at a block boundary into dst.
// Throws latent::Error for a type that cannot be decoded.
void dequantize_row(TensorType type, const void* src, float* dst, int64_t n);

// Encodes n float32 elements (a multiple of the block size) into blocks of type.
// Supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K. Throws latent::Error otherwise.
void quantize_row(TensorType type, const float* src, void* dst, int64_t n);

// IEEE binary16 and bfloat16 conversions (round to nearest even when narrowing).
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);
float bf16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);

} // namespace latent
