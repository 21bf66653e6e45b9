// libFuzzer target for the GGUF reader: any byte string must either parse or raise
// latent::Error; never crash, hang, read out of bounds or allocate by a size the file chose.
// Run: build/bin/fuzz_gguf -max_total_time=60 build/fuzz-corpus  (see README "Fuzzing").
#include "core/error.h"
#include "gguf/gguf.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        auto file = latent::gguf::File::from_memory(data, size, "fuzz.gguf");
        for (const auto& [key, value] : file->metadata()) {
            (void)file->value_to_string(value, 4);
            if (value.type != latent::gguf::ValueType::Array) continue;
            try {
                if (value.element_type == latent::gguf::ValueType::String) (void)file->get_string_array(key);
                else if (value.is_float() || value.element_type == latent::gguf::ValueType::Float32) (void)file->get_float_array(key);
                else (void)file->get_int_array(key);
            } catch (const latent::Error&) {
            }
        }
        for (const auto& tensor : file->tensors()) {
            // Touch the first and last byte of every tensor: they must be inside the image.
            if (tensor.size_bytes > 0) {
                volatile uint8_t first = tensor.data[0];
                volatile uint8_t last = tensor.data[tensor.size_bytes - 1];
                (void)first;
                (void)last;
            }
        }
    } catch (const latent::Error&) {
    }
    return 0;
}
