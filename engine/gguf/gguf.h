// GGUF reader over a read-only memory map.
//
// Byte layout (all little-endian; versions 2 and 3 share it):
//   magic "GGUF" | u32 version | u64 n_tensors | u64 n_kv
//   n_kv x { string key | u32 value_type | value }
//   n_tensors x { string name | u32 n_dims | n_dims x u64 ne (ne0 fastest) | u32 type | u64 offset }
//   padding to general.alignment (default 32) | data section
// A string is u64 length + bytes (no NUL). An array value is u32 element type, u64 count, then
// count elements. Tensor offsets are relative to the start of the data section.
//
// Nothing read from the file is trusted: every count, length, dimension, type id and offset is
// checked against the file size with overflow-safe arithmetic before use, and no allocation is
// sized by the file before the bytes it describes are known to exist. Violations throw
// latent::Error naming the file and the field or tensor. Metadata arrays are not copied: they
// are decoded from the map on request, so opening a large file reads only its header.
#pragma once

#include "core/mapped_file.h"
#include "tensor/tensor_types.h"

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace latent::gguf {

// Metadata value types (gguf_type), as stored.
enum class ValueType : uint32_t {
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
};

std::string_view value_type_name(ValueType type);

constexpr uint32_t kDefaultAlignment = 32;
constexpr size_t kMaxTensorNameBytes = 63; // GGML_MAX_NAME - 1
constexpr uint32_t kMaxDims = 4;

// One metadata value. Scalars are decoded at open time; strings and arrays point into the map.
struct Value {
    ValueType type = ValueType::UInt8;
    uint64_t uint_value = 0;        // UInt8/16/32/64, Bool (0/1)
    int64_t int_value = 0;          // Int8/16/32/64
    double float_value = 0.0;       // Float32/64
    std::string_view string_value;  // String: bytes in the map
    ValueType element_type = ValueType::UInt8; // Array only
    uint64_t element_count = 0;     // Array only
    uint64_t array_offset = 0;      // Array only: file offset of the first element

    bool is_integer() const;
    bool is_float() const { return type == ValueType::Float32 || type == ValueType::Float64; }
};

// One tensor-info record, validated: dims >= 1, ne0 a multiple of the block size, data inside
// the file, aligned, not overlapping another tensor.
struct TensorInfo {
    std::string name;
    uint32_t n_dims = 0;
    std::array<uint64_t, kMaxDims> ne{1, 1, 1, 1}; // ne[0] fastest; missing dims are 1
    TensorType type = TensorType::F32;
    uint64_t offset = 0;        // relative to the data section, as stored
    uint64_t size_bytes = 0;    // exact data size
    const uint8_t* data = nullptr; // into the map of the file that holds it
    uint32_t file_index = 0;    // which part of a split model holds it

    uint64_t element_count() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
    uint64_t row_count() const { return ne[1] * ne[2] * ne[3]; }
    std::string shape_string() const; // "{2048, 102400}"
};

// One GGUF file.
class File {
public:
    // Maps and parses the header; throws latent::Error on any violation.
    static std::unique_ptr<File> open(const std::filesystem::path& path);
    // Parses a GGUF image already in memory (used by the fuzz target and tests). The bytes must
    // outlive the File.
    static std::unique_ptr<File> from_memory(const uint8_t* bytes, size_t size, std::string display_name);

    const std::string& display_name() const { return display_name_; }
    uint32_t version() const { return version_; }
    uint32_t alignment() const { return alignment_; }
    uint64_t data_offset() const { return data_offset_; }
    uint64_t file_size() const { return size_; }

    // Metadata in file order.
    const std::vector<std::pair<std::string, Value>>& metadata() const { return metadata_; }
    const Value* find(std::string_view key) const;
    bool has(std::string_view key) const { return find(key) != nullptr; }

    // Typed accessors. The plain forms throw "missing key" / "wrong type" errors naming the key;
    // the _or forms return the fallback when the key is absent (a wrong type still throws).
    // Integer accessors accept any integer type whose value fits; float accessors accept
    // Float32 and Float64.
    uint64_t get_uint(std::string_view key) const;
    uint32_t get_u32(std::string_view key) const;
    uint32_t get_u32_or(std::string_view key, uint32_t fallback) const;
    int64_t get_int(std::string_view key) const;
    double get_float(std::string_view key) const;
    float get_f32_or(std::string_view key, float fallback) const;
    bool get_bool(std::string_view key) const;
    bool get_bool_or(std::string_view key, bool fallback) const;
    std::string_view get_string(std::string_view key) const;
    std::optional<std::string_view> get_string_opt(std::string_view key) const;

    // Arrays, decoded from the map. Element-type rules as for the scalar accessors.
    uint64_t get_array_size(std::string_view key) const;
    std::vector<std::string_view> get_string_array(std::string_view key) const;
    std::vector<int64_t> get_int_array(std::string_view key) const;
    std::vector<double> get_float_array(std::string_view key) const;

    // Human-readable rendering of a value (arrays abbreviated), for `latent info`.
    std::string value_to_string(const Value& value, size_t max_elements = 8) const;

    const std::vector<TensorInfo>& tensors() const { return tensors_; }
    const TensorInfo* find_tensor(std::string_view name) const;

    // The map of the file (null for from_memory): its identity and fault state.
    const MappedFile* mapping() const { return map_.get(); }

private:
    File() = default;
    void parse();
    const Value& require(std::string_view key) const;
    [[noreturn]] void fail_key(std::string_view key, const std::string& what) const;
    [[noreturn]] void fail_array_type(std::string_view key, const Value& value, std::string_view expected) const;

    std::unique_ptr<MappedFile> map_; // null for from_memory
    const uint8_t* bytes_ = nullptr;
    uint64_t size_ = 0;
    std::string display_name_;
    uint32_t version_ = 0;
    uint32_t alignment_ = kDefaultAlignment;
    uint64_t data_offset_ = 0;
    std::vector<std::pair<std::string, Value>> metadata_;
    std::map<std::string, size_t, std::less<>> metadata_index_;
    std::vector<TensorInfo> tensors_;
    std::map<std::string, size_t, std::less<>> tensor_index_;
};

// A model as the user names it: one GGUF file, or the first (or any) part of a split set
// `<prefix>-00001-of-0000N.gguf`. Metadata comes from the first part; tensors from all parts.
class ModelFiles {
public:
    static std::unique_ptr<ModelFiles> open(const std::filesystem::path& path);

    const File& main() const { return *parts_.front(); }
    const std::vector<std::unique_ptr<File>>& parts() const { return parts_; }
    const std::vector<TensorInfo>& tensors() const { return tensors_; }
    const TensorInfo* find_tensor(std::string_view name) const;
    uint64_t total_file_bytes() const;

    // Throws ModelFileChanged (core/mapped_file.h) naming the first part whose map faulted:
    // one atomic load per part, cheap enough after every evaluated batch.
    void check_not_faulted() const;
    // The same, and also when a part's size, modification time or inode differ from when it was
    // opened: a stat per part, checked before each request.
    void check_unchanged() const;

private:
    std::vector<std::unique_ptr<File>> parts_;
    std::vector<TensorInfo> tensors_;
    std::map<std::string, size_t, std::less<>> tensor_index_;
};

// Split naming: returns {prefix, index (1-based), count} if the file name matches
// `<prefix>-%05d-of-%05d.gguf`.
struct SplitName {
    std::string prefix;
    uint32_t index = 0;
    uint32_t count = 0;
};
std::optional<SplitName> parse_split_name(const std::filesystem::path& path);
std::filesystem::path split_path(const std::string& prefix, uint32_t index, uint32_t count);

} // namespace latent::gguf
