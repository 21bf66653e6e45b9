// GGUF writer (version 3) for tools and tests. Metadata and the tensor table are declared
// first; tensor data is then either given up front (add_tensor with bytes) or streamed in
// declaration order (write_file with a producer), so multi-gigabyte models never sit in memory.
#pragma once

#include "gguf/gguf.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace latent::gguf {

class Writer {
public:
    explicit Writer(uint32_t alignment = kDefaultAlignment);

    // Metadata, in the order added. A repeated key replaces the earlier value in place.
    void set_u8(std::string_view key, uint8_t v);
    void set_i8(std::string_view key, int8_t v);
    void set_u16(std::string_view key, uint16_t v);
    void set_i16(std::string_view key, int16_t v);
    void set_u32(std::string_view key, uint32_t v);
    void set_i32(std::string_view key, int32_t v);
    void set_u64(std::string_view key, uint64_t v);
    void set_i64(std::string_view key, int64_t v);
    void set_f32(std::string_view key, float v);
    void set_f64(std::string_view key, double v);
    void set_bool(std::string_view key, bool v);
    void set_string(std::string_view key, std::string_view v);
    void set_string_array(std::string_view key, const std::vector<std::string>& v);
    void set_i32_array(std::string_view key, const std::vector<int32_t>& v);
    void set_f32_array(std::string_view key, const std::vector<float>& v);
    void set_u32_array(std::string_view key, const std::vector<uint32_t>& v);
    // Any value type with its encoded payload (used by tests to write unusual values).
    void set_raw(std::string_view key, ValueType type, std::vector<uint8_t> payload);

    // Declares a tensor; ne[0] is the fastest dimension. Data is given now (must be exactly the
    // tensor's size) or later through write_file's producer.
    void add_tensor(std::string_view name, TensorType type, std::vector<uint64_t> ne, std::vector<uint8_t> data);
    void declare_tensor(std::string_view name, TensorType type, std::vector<uint64_t> ne);

    // Writes the file. For tensors declared without data, produce(index, out) is called in
    // declaration order and must append exactly the tensor's size to out.
    using Producer = std::function<void(size_t tensor_index, std::vector<uint8_t>& out)>;
    void write_file(const std::filesystem::path& path, const Producer& produce = nullptr) const;
    // The whole file as bytes (small files: tests, fuzz seeds).
    std::vector<uint8_t> to_bytes() const;

    struct Tensor {
        std::string name;
        TensorType type;
        std::vector<uint64_t> ne;
        uint64_t size_bytes;
        std::vector<uint8_t> data; // empty when streamed
    };
    const std::vector<Tensor>& tensors() const { return tensors_; }
    // The header, tensor table and padding up to the data section (tensor data follows).
    std::vector<uint8_t> header_bytes() const;

private:
    struct Entry {
        std::string key;
        ValueType type;
        std::vector<uint8_t> payload; // encoded value after the type field
    };
    void set_entry(std::string_view key, ValueType type, std::vector<uint8_t> payload);

    uint32_t alignment_;
    std::vector<Entry> entries_;
    std::vector<Tensor> tensors_;
};

} // namespace latent::gguf
