#include "gguf/gguf_writer.h"

#include "core/checked_math.h"
#include "core/error.h"

#include <cstring>
#include <fstream>

namespace latent::gguf {
namespace {

void append_bytes(std::vector<uint8_t>& out, const void* data, size_t size) {
    const size_t at = out.size();
    out.resize(at + size);
    if (size > 0) std::memcpy(out.data() + at, data, size);
}

template <typename T>
void append_le(std::vector<uint8_t>& out, T value) {
    append_bytes(out, &value, sizeof(T)); // hosts we support are little-endian
}

void append_string(std::vector<uint8_t>& out, std::string_view s) {
    append_le<uint64_t>(out, s.size());
    append_bytes(out, s.data(), s.size());
}

template <typename T>
std::vector<uint8_t> scalar_payload(T value) {
    std::vector<uint8_t> out;
    append_le(out, value);
    return out;
}

template <typename T>
std::vector<uint8_t> array_payload(ValueType element_type, const std::vector<T>& values) {
    std::vector<uint8_t> out;
    append_le<uint32_t>(out, static_cast<uint32_t>(element_type));
    append_le<uint64_t>(out, values.size());
    for (const T& v : values) append_le(out, v);
    return out;
}

uint64_t tensor_bytes(std::string_view name, TensorType type, const std::vector<uint64_t>& ne) {
    const TensorTypeInfo& info = tensor_type_info(type);
    if (ne.empty() || ne.size() > kMaxDims) throw Error("tensor '" + std::string(name) + "': 1 to 4 dimensions required");
    if (ne[0] % info.block_size != 0) throw Error("tensor '" + std::string(name) + "': ne0 is not a multiple of the block size");
    uint64_t bytes = ne[0] / info.block_size * info.type_size;
    for (size_t i = 1; i < ne.size(); ++i) {
        if (!checked_mul(bytes, ne[i], bytes)) throw Error("tensor '" + std::string(name) + "': size overflows");
    }
    return bytes;
}

} // namespace

Writer::Writer(uint32_t alignment) : alignment_(alignment) {
    if (alignment == 0 || (alignment & (alignment - 1)) != 0) throw Error("GGUF alignment must be a power of two");
    if (alignment != kDefaultAlignment) set_u32("general.alignment", alignment);
}

void Writer::set_entry(std::string_view key, ValueType type, std::vector<uint8_t> payload) {
    for (Entry& e : entries_) {
        if (e.key == key) {
            e.type = type;
            e.payload = std::move(payload);
            return;
        }
    }
    entries_.push_back(Entry{std::string(key), type, std::move(payload)});
}

void Writer::set_u8(std::string_view k, uint8_t v) { set_entry(k, ValueType::UInt8, scalar_payload(v)); }
void Writer::set_i8(std::string_view k, int8_t v) { set_entry(k, ValueType::Int8, scalar_payload(v)); }
void Writer::set_u16(std::string_view k, uint16_t v) { set_entry(k, ValueType::UInt16, scalar_payload(v)); }
void Writer::set_i16(std::string_view k, int16_t v) { set_entry(k, ValueType::Int16, scalar_payload(v)); }
void Writer::set_u32(std::string_view k, uint32_t v) { set_entry(k, ValueType::UInt32, scalar_payload(v)); }
void Writer::set_i32(std::string_view k, int32_t v) { set_entry(k, ValueType::Int32, scalar_payload(v)); }
void Writer::set_u64(std::string_view k, uint64_t v) { set_entry(k, ValueType::UInt64, scalar_payload(v)); }
void Writer::set_i64(std::string_view k, int64_t v) { set_entry(k, ValueType::Int64, scalar_payload(v)); }
void Writer::set_f32(std::string_view k, float v) { set_entry(k, ValueType::Float32, scalar_payload(v)); }
void Writer::set_f64(std::string_view k, double v) { set_entry(k, ValueType::Float64, scalar_payload(v)); }
void Writer::set_bool(std::string_view k, bool v) { set_entry(k, ValueType::Bool, scalar_payload<uint8_t>(v ? 1 : 0)); }

void Writer::set_string(std::string_view k, std::string_view v) {
    std::vector<uint8_t> payload;
    append_string(payload, v);
    set_entry(k, ValueType::String, std::move(payload));
}

void Writer::set_string_array(std::string_view k, const std::vector<std::string>& v) {
    std::vector<uint8_t> payload;
    append_le<uint32_t>(payload, static_cast<uint32_t>(ValueType::String));
    append_le<uint64_t>(payload, v.size());
    for (const std::string& s : v) append_string(payload, s);
    set_entry(k, ValueType::Array, std::move(payload));
}

void Writer::set_i32_array(std::string_view k, const std::vector<int32_t>& v) { set_entry(k, ValueType::Array, array_payload(ValueType::Int32, v)); }
void Writer::set_f32_array(std::string_view k, const std::vector<float>& v) { set_entry(k, ValueType::Array, array_payload(ValueType::Float32, v)); }
void Writer::set_u32_array(std::string_view k, const std::vector<uint32_t>& v) { set_entry(k, ValueType::Array, array_payload(ValueType::UInt32, v)); }
void Writer::set_raw(std::string_view k, ValueType type, std::vector<uint8_t> payload) { set_entry(k, type, std::move(payload)); }

void Writer::add_tensor(std::string_view name, TensorType type, std::vector<uint64_t> ne, std::vector<uint8_t> data) {
    const uint64_t size = tensor_bytes(name, type, ne);
    if (data.size() != size) {
        throw Error("tensor '" + std::string(name) + "': " + std::to_string(data.size()) + " bytes given, " + std::to_string(size) + " expected");
    }
    tensors_.push_back(Tensor{std::string(name), type, std::move(ne), size, std::move(data)});
}

void Writer::declare_tensor(std::string_view name, TensorType type, std::vector<uint64_t> ne) {
    const uint64_t size = tensor_bytes(name, type, ne);
    tensors_.push_back(Tensor{std::string(name), type, std::move(ne), size, {}});
}

std::vector<uint8_t> Writer::header_bytes() const {
    std::vector<uint8_t> out;
    append_le<uint32_t>(out, 0x46554747u); // "GGUF"
    append_le<uint32_t>(out, 3);
    append_le<uint64_t>(out, tensors_.size());
    append_le<uint64_t>(out, entries_.size());
    for (const Entry& e : entries_) {
        append_string(out, e.key);
        append_le<uint32_t>(out, static_cast<uint32_t>(e.type));
        out.insert(out.end(), e.payload.begin(), e.payload.end());
    }
    uint64_t offset = 0;
    for (const Tensor& t : tensors_) {
        append_string(out, t.name);
        append_le<uint32_t>(out, static_cast<uint32_t>(t.ne.size()));
        for (uint64_t n : t.ne) append_le<uint64_t>(out, n);
        append_le<uint32_t>(out, static_cast<uint32_t>(t.type));
        append_le<uint64_t>(out, offset);
        checked_align_up(offset + t.size_bytes, alignment_, offset);
    }
    out.resize((out.size() + alignment_ - 1) / alignment_ * alignment_, 0);
    return out;
}

void Writer::write_file(const std::filesystem::path& path, const Producer& produce) const {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) throw Error("cannot create " + path.string());
    const std::vector<uint8_t> header = header_bytes();
    out.write(reinterpret_cast<const char*>(header.data()), static_cast<std::streamsize>(header.size()));
    std::vector<uint8_t> buffer;
    const std::vector<uint8_t> zeros(alignment_, 0);
    for (size_t i = 0; i < tensors_.size(); ++i) {
        const Tensor& t = tensors_[i];
        const std::vector<uint8_t>* data = &t.data;
        if (t.data.empty() && t.size_bytes > 0) {
            if (!produce) throw Error("tensor '" + t.name + "' was declared without data and no producer was given");
            buffer.clear();
            produce(i, buffer);
            if (buffer.size() != t.size_bytes) {
                throw Error("producer gave " + std::to_string(buffer.size()) + " bytes for tensor '" + t.name + "', expected " + std::to_string(t.size_bytes));
            }
            data = &buffer;
        }
        out.write(reinterpret_cast<const char*>(data->data()), static_cast<std::streamsize>(data->size()));
        const uint64_t pad = (alignment_ - t.size_bytes % alignment_) % alignment_;
        out.write(reinterpret_cast<const char*>(zeros.data()), static_cast<std::streamsize>(pad));
    }
    out.flush();
    if (!out) throw Error("write failed for " + path.string());
}

std::vector<uint8_t> Writer::to_bytes() const {
    std::vector<uint8_t> out = header_bytes();
    for (const Tensor& t : tensors_) {
        if (t.data.size() != t.size_bytes) throw Error("to_bytes needs data for tensor '" + t.name + "'");
        out.insert(out.end(), t.data.begin(), t.data.end());
        out.resize(out.size() + (alignment_ - t.size_bytes % alignment_) % alignment_, 0);
    }
    return out;
}

} // namespace latent::gguf
