#include "gguf/gguf.h"

#include "core/checked_math.h"
#include "core/error.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <limits>
#include <numeric>

namespace latent::gguf {
namespace {

constexpr uint32_t kMagic = 0x46554747u; // "GGUF" read as little-endian u32
constexpr uint64_t kMinKvRecordBytes = 8 + 4 + 1;            // empty key, type, 1-byte value
constexpr uint64_t kMinTensorRecordBytes = 8 + 4 + 8 + 4 + 8; // empty name, 1 dim, type, offset

bool is_valid_value_type(uint32_t t) { return t <= static_cast<uint32_t>(ValueType::Float64); }

// Size of a fixed-size value type, 0 for String/Array.
uint64_t fixed_value_size(ValueType t) {
    switch (t) {
    case ValueType::UInt8:
    case ValueType::Int8:
    case ValueType::Bool: return 1;
    case ValueType::UInt16:
    case ValueType::Int16: return 2;
    case ValueType::UInt32:
    case ValueType::Int32:
    case ValueType::Float32: return 4;
    case ValueType::UInt64:
    case ValueType::Int64:
    case ValueType::Float64: return 8;
    case ValueType::String:
    case ValueType::Array: return 0;
    }
    return 0;
}

bool is_integer_type(ValueType t) {
    switch (t) {
    case ValueType::UInt8:
    case ValueType::Int8:
    case ValueType::UInt16:
    case ValueType::Int16:
    case ValueType::UInt32:
    case ValueType::Int32:
    case ValueType::UInt64:
    case ValueType::Int64: return true;
    default: return false;
    }
}

template <typename T>
T load_le(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

// Reads a fixed-size scalar of type t at p into the matching Value fields.
void decode_scalar(ValueType t, const uint8_t* p, Value& v) {
    switch (t) {
    case ValueType::UInt8: v.uint_value = load_le<uint8_t>(p); break;
    case ValueType::Int8: v.int_value = load_le<int8_t>(p); break;
    case ValueType::UInt16: v.uint_value = load_le<uint16_t>(p); break;
    case ValueType::Int16: v.int_value = load_le<int16_t>(p); break;
    case ValueType::UInt32: v.uint_value = load_le<uint32_t>(p); break;
    case ValueType::Int32: v.int_value = load_le<int32_t>(p); break;
    case ValueType::UInt64: v.uint_value = load_le<uint64_t>(p); break;
    case ValueType::Int64: v.int_value = load_le<int64_t>(p); break;
    case ValueType::Float32: v.float_value = load_le<float>(p); break;
    case ValueType::Float64: v.float_value = load_le<double>(p); break;
    case ValueType::Bool: v.uint_value = load_le<uint8_t>(p) != 0 ? 1 : 0; break;
    case ValueType::String:
    case ValueType::Array: break;
    }
}

bool is_signed_type(ValueType t) {
    return t == ValueType::Int8 || t == ValueType::Int16 || t == ValueType::Int32 || t == ValueType::Int64;
}

// Bounds-checked sequential reader over the file image. Every read names what it was reading so
// a truncated or lying file produces an error that says where.
class Cursor {
public:
    Cursor(const uint8_t* base, uint64_t size, const std::string& file) : base_(base), size_(size), file_(file) {}

    uint64_t pos() const { return pos_; }
    uint64_t remaining() const { return size_ - pos_; }
    void seek(uint64_t pos) { pos_ = pos; }

    void need(uint64_t n, const std::string& what) const {
        if (n > size_ - pos_) {
            throw Error(file_ + ": truncated file: " + what + " at offset " + std::to_string(pos_) + " needs " +
                        std::to_string(n) + " bytes, only " + std::to_string(size_ - pos_) + " remain");
        }
    }

    template <typename T>
    T read(const std::string& what) {
        need(sizeof(T), what);
        T v = load_le<T>(base_ + pos_);
        pos_ += sizeof(T);
        return v;
    }

    std::string_view read_string(const std::string& what) {
        const uint64_t len = read<uint64_t>(what + " length");
        if (len > remaining()) {
            throw Error(file_ + ": " + what + " claims " + std::to_string(len) + " bytes at offset " + std::to_string(pos_) +
                        ", beyond the end of the file (" + std::to_string(remaining()) + " bytes remain)");
        }
        std::string_view s(reinterpret_cast<const char*>(base_ + pos_), len);
        pos_ += len;
        return s;
    }

    void skip(uint64_t n, const std::string& what) {
        need(n, what);
        pos_ += n;
    }

private:
    const uint8_t* base_;
    uint64_t size_;
    uint64_t pos_ = 0;
    const std::string& file_;
};

std::string in_quotes(std::string_view s) { return "'" + std::string(s) + "'"; }

// A printable prefix of a name read from the file (control bytes escaped), for error messages.
std::string printable(std::string_view s, size_t max_len = 64) {
    std::string out;
    for (size_t i = 0; i < s.size() && i < max_len; ++i) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    if (s.size() > max_len) out += "...";
    return out;
}

} // namespace

std::string_view value_type_name(ValueType type) {
    switch (type) {
    case ValueType::UInt8: return "uint8";
    case ValueType::Int8: return "int8";
    case ValueType::UInt16: return "uint16";
    case ValueType::Int16: return "int16";
    case ValueType::UInt32: return "uint32";
    case ValueType::Int32: return "int32";
    case ValueType::Float32: return "float32";
    case ValueType::Bool: return "bool";
    case ValueType::String: return "string";
    case ValueType::Array: return "array";
    case ValueType::UInt64: return "uint64";
    case ValueType::Int64: return "int64";
    case ValueType::Float64: return "float64";
    }
    return "unknown";
}

bool Value::is_integer() const { return is_integer_type(type); }

std::string TensorInfo::shape_string() const {
    std::string s = "{";
    for (uint32_t i = 0; i < n_dims; ++i) {
        if (i) s += ", ";
        s += std::to_string(ne[i]);
    }
    return s + "}";
}

std::unique_ptr<File> File::open(const std::filesystem::path& path) {
    std::unique_ptr<File> file(new File());
    file->map_ = MappedFile::open(path);
    file->bytes_ = file->map_->data();
    file->size_ = file->map_->size();
    file->display_name_ = path.string();
    file->parse();
    return file;
}

std::unique_ptr<File> File::from_memory(const uint8_t* bytes, size_t size, std::string display_name) {
    std::unique_ptr<File> file(new File());
    file->bytes_ = bytes;
    file->size_ = size;
    file->display_name_ = std::move(display_name);
    file->parse();
    return file;
}

void File::parse() {
    const std::string& name = display_name_;
    Cursor cur(bytes_, size_, name);

    // Header.
    if (size_ < 4) throw Error(name + ": not a GGUF file (only " + std::to_string(size_) + " bytes)");
    const uint32_t magic = cur.read<uint32_t>("magic");
    if (magic != kMagic) {
        throw Error(name + ": not a GGUF file (magic is '" + printable(std::string_view(reinterpret_cast<const char*>(bytes_), 4)) + "', expected 'GGUF')");
    }
    version_ = cur.read<uint32_t>("version");
    if ((version_ & 0xFFFFu) == 0 && version_ != 0) throw Error(name + ": big-endian GGUF files are not supported");
    if (version_ == 1) throw Error(name + ": GGUF version 1 is not supported (versions 2 and 3 are)");
    if (version_ < 2 || version_ > 3) throw Error(name + ": unsupported GGUF version " + std::to_string(version_) + " (versions 2 and 3 are supported)");
    const uint64_t n_tensors = cur.read<uint64_t>("tensor count");
    const uint64_t n_kv = cur.read<uint64_t>("metadata count");
    // Every record takes a minimum number of bytes, so counts larger than the file allows are
    // rejected before anything is allocated for them.
    if (n_kv > cur.remaining() / kMinKvRecordBytes) {
        throw Error(name + ": metadata count " + std::to_string(n_kv) + " is impossible for a file of " + std::to_string(size_) + " bytes");
    }
    if (n_tensors > cur.remaining() / kMinTensorRecordBytes) {
        throw Error(name + ": tensor count " + std::to_string(n_tensors) + " is impossible for a file of " + std::to_string(size_) + " bytes");
    }

    // Metadata.
    metadata_.reserve(n_kv);
    for (uint64_t i = 0; i < n_kv; ++i) {
        const std::string where = "metadata entry " + std::to_string(i);
        const std::string_view key = cur.read_string(where + " key");
        const std::string key_name = "metadata key " + in_quotes(printable(key));
        if (metadata_index_.count(key)) throw Error(name + ": duplicate " + key_name);
        const uint32_t type_id = cur.read<uint32_t>(key_name + " type");
        if (!is_valid_value_type(type_id)) throw Error(name + ": " + key_name + " has invalid value type " + std::to_string(type_id));
        Value v;
        v.type = static_cast<ValueType>(type_id);
        if (v.type == ValueType::String) {
            v.string_value = cur.read_string(key_name + " value");
        } else if (v.type == ValueType::Array) {
            const uint32_t element_id = cur.read<uint32_t>(key_name + " array element type");
            if (!is_valid_value_type(element_id)) throw Error(name + ": " + key_name + " has invalid array element type " + std::to_string(element_id));
            v.element_type = static_cast<ValueType>(element_id);
            if (v.element_type == ValueType::Array) throw Error(name + ": " + key_name + " is a nested array, which GGUF does not allow");
            v.element_count = cur.read<uint64_t>(key_name + " array length");
            v.array_offset = cur.pos();
            if (v.element_type == ValueType::String) {
                if (v.element_count > cur.remaining() / 8) {
                    throw Error(name + ": " + key_name + " claims " + std::to_string(v.element_count) + " strings, more than the file can hold");
                }
                for (uint64_t j = 0; j < v.element_count; ++j) cur.read_string(key_name + " element " + std::to_string(j));
            } else {
                uint64_t bytes = 0;
                if (!checked_mul(v.element_count, fixed_value_size(v.element_type), bytes) || bytes > cur.remaining()) {
                    throw Error(name + ": " + key_name + " claims " + std::to_string(v.element_count) + " elements of " +
                                std::string(value_type_name(v.element_type)) + ", beyond the end of the file");
                }
                cur.skip(bytes, key_name + " array data");
            }
        } else {
            const uint64_t n = fixed_value_size(v.type);
            cur.need(n, key_name + " value");
            decode_scalar(v.type, bytes_ + cur.pos(), v);
            cur.skip(n, key_name + " value");
        }
        metadata_index_.emplace(std::string(key), metadata_.size());
        metadata_.emplace_back(std::string(key), v);
    }

    // Alignment.
    if (const Value* a = find("general.alignment")) {
        if (!a->is_integer()) throw Error(name + ": metadata key 'general.alignment' has type " + std::string(value_type_name(a->type)) + ", expected uint32");
        const uint64_t align = is_signed_type(a->type) ? static_cast<uint64_t>(std::max<int64_t>(a->int_value, 0)) : a->uint_value;
        if (align == 0 || (align & (align - 1)) != 0 || align > (1u << 30)) {
            throw Error(name + ": general.alignment " + std::to_string(align) + " is not a power of two up to 2^30");
        }
        alignment_ = static_cast<uint32_t>(align);
    }

    // Tensor table.
    tensors_.reserve(n_tensors);
    for (uint64_t i = 0; i < n_tensors; ++i) {
        const std::string where = "tensor " + std::to_string(i);
        const std::string_view tname = cur.read_string(where + " name");
        if (tname.empty()) throw Error(name + ": " + where + " has an empty name");
        if (tname.size() > kMaxTensorNameBytes) {
            throw Error(name + ": " + where + " name '" + printable(tname) + "' is " + std::to_string(tname.size()) + " bytes long (at most " +
                        std::to_string(kMaxTensorNameBytes) + ")");
        }
        const std::string label = "tensor '" + printable(tname) + "'";
        if (tensor_index_.count(tname)) throw Error(name + ": duplicate " + label);
        TensorInfo t;
        t.name = std::string(tname);
        t.n_dims = cur.read<uint32_t>(label + " dimension count");
        if (t.n_dims == 0 || t.n_dims > kMaxDims) {
            throw Error(name + ": " + label + " has " + std::to_string(t.n_dims) + " dimensions (1 to 4 allowed)");
        }
        for (uint32_t d = 0; d < t.n_dims; ++d) {
            t.ne[d] = cur.read<uint64_t>(label + " dimension " + std::to_string(d));
            if (t.ne[d] == 0 || t.ne[d] > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
                throw Error(name + ": " + label + " has invalid dimension " + std::to_string(d) + " = " + std::to_string(t.ne[d]));
            }
        }
        uint64_t elements = 1;
        for (uint32_t d = 0; d < kMaxDims; ++d) {
            if (!checked_mul(elements, t.ne[d], elements) || elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
                throw Error(name + ": " + label + " element count overflows (shape " + t.shape_string() + ")");
            }
        }
        const uint32_t type_id = cur.read<uint32_t>(label + " type");
        const std::optional<TensorTypeInfo> info = tensor_type_info(type_id);
        if (!info) throw Error(name + ": " + label + " has unknown type id " + std::to_string(type_id));
        t.type = info->type;
        if (t.ne[0] % info->block_size != 0) {
            throw Error(name + ": " + label + " of type " + std::string(info->name) + " has ne0 = " + std::to_string(t.ne[0]) +
                        ", not a multiple of the block size " + std::to_string(info->block_size));
        }
        uint64_t bytes = t.ne[0] / info->block_size * info->type_size;
        for (uint32_t d = 1; d < kMaxDims; ++d) {
            if (!checked_mul(bytes, t.ne[d], bytes)) throw Error(name + ": " + label + " byte size overflows (shape " + t.shape_string() + ")");
        }
        t.size_bytes = bytes;
        t.offset = cur.read<uint64_t>(label + " data offset");
        tensor_index_.emplace(t.name, tensors_.size());
        tensors_.push_back(std::move(t));
    }

    // Data section: after the header, rounded up to the alignment.
    if (!checked_align_up(cur.pos(), alignment_, data_offset_)) throw Error(name + ": data offset overflows");
    if (!tensors_.empty() && data_offset_ > size_) {
        throw Error(name + ": truncated file: the data section would start at offset " + std::to_string(data_offset_) + " but the file has " +
                    std::to_string(size_) + " bytes");
    }
    for (TensorInfo& t : tensors_) {
        const std::string label = "tensor '" + printable(t.name) + "'";
        if (t.offset % alignment_ != 0) {
            throw Error(name + ": " + label + " data offset " + std::to_string(t.offset) + " is not a multiple of the alignment " + std::to_string(alignment_));
        }
        uint64_t start = 0, end = 0;
        if (!checked_add(data_offset_, t.offset, start) || !checked_add(start, t.size_bytes, end) || end > size_) {
            throw Error(name + ": " + label + " data (" + std::to_string(t.size_bytes) + " bytes at data offset " + std::to_string(t.offset) +
                        ") extends beyond the end of the file (" + std::to_string(size_) + " bytes)");
        }
        t.data = bytes_ + start;
    }
    std::vector<size_t> order(tensors_.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return tensors_[a].offset < tensors_[b].offset; });
    for (size_t k = 1; k < order.size(); ++k) {
        const TensorInfo& prev = tensors_[order[k - 1]];
        const TensorInfo& next = tensors_[order[k]];
        if (next.offset < prev.offset + prev.size_bytes) {
            throw Error(name + ": tensor '" + printable(prev.name) + "' and tensor '" + printable(next.name) + "' overlap in the data section");
        }
    }
}

const Value* File::find(std::string_view key) const {
    const auto it = metadata_index_.find(key);
    return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

void File::fail_key(std::string_view key, const std::string& what) const {
    throw Error(display_name_ + ": metadata key '" + std::string(key) + "' " + what);
}

void File::fail_array_type(std::string_view key, const Value& v, std::string_view expected) const {
    fail_key(key, "has type " + std::string(value_type_name(v.type)) +
                      (v.type == ValueType::Array ? " of " + std::string(value_type_name(v.element_type)) : std::string()) + ", expected " +
                      std::string(expected));
}

const Value& File::require(std::string_view key) const {
    const Value* v = find(key);
    if (!v) fail_key(key, "is missing");
    return *v;
}

uint64_t File::get_uint(std::string_view key) const {
    const Value& v = require(key);
    if (!v.is_integer()) fail_key(key, "has type " + std::string(value_type_name(v.type)) + ", expected an unsigned integer");
    if (is_signed_type(v.type)) {
        if (v.int_value < 0) fail_key(key, "is negative (" + std::to_string(v.int_value) + ")");
        return static_cast<uint64_t>(v.int_value);
    }
    return v.uint_value;
}

uint32_t File::get_u32(std::string_view key) const {
    const uint64_t v = get_uint(key);
    if (v > std::numeric_limits<uint32_t>::max()) fail_key(key, "value " + std::to_string(v) + " does not fit in 32 bits");
    return static_cast<uint32_t>(v);
}

uint32_t File::get_u32_or(std::string_view key, uint32_t fallback) const { return has(key) ? get_u32(key) : fallback; }

int64_t File::get_int(std::string_view key) const {
    const Value& v = require(key);
    if (!v.is_integer()) fail_key(key, "has type " + std::string(value_type_name(v.type)) + ", expected an integer");
    if (is_signed_type(v.type)) return v.int_value;
    if (v.uint_value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) fail_key(key, "value does not fit in 64-bit signed");
    return static_cast<int64_t>(v.uint_value);
}

double File::get_float(std::string_view key) const {
    const Value& v = require(key);
    if (!v.is_float()) fail_key(key, "has type " + std::string(value_type_name(v.type)) + ", expected a float");
    return v.float_value;
}

float File::get_f32_or(std::string_view key, float fallback) const { return has(key) ? static_cast<float>(get_float(key)) : fallback; }

bool File::get_bool(std::string_view key) const {
    const Value& v = require(key);
    if (v.type != ValueType::Bool) fail_key(key, "has type " + std::string(value_type_name(v.type)) + ", expected bool");
    return v.uint_value != 0;
}

bool File::get_bool_or(std::string_view key, bool fallback) const { return has(key) ? get_bool(key) : fallback; }

std::string_view File::get_string(std::string_view key) const {
    const Value& v = require(key);
    if (v.type != ValueType::String) fail_key(key, "has type " + std::string(value_type_name(v.type)) + ", expected string");
    return v.string_value;
}

std::optional<std::string_view> File::get_string_opt(std::string_view key) const {
    if (!has(key)) return std::nullopt;
    return get_string(key);
}

uint64_t File::get_array_size(std::string_view key) const {
    const Value& v = require(key);
    if (v.type != ValueType::Array) fail_key(key, "has type " + std::string(value_type_name(v.type)) + ", expected array");
    return v.element_count;
}

std::vector<std::string_view> File::get_string_array(std::string_view key) const {
    const Value& v = require(key);
    if (v.type != ValueType::Array || v.element_type != ValueType::String) {
        fail_array_type(key, v, "array of string");
    }
    // Lengths were validated while parsing; the cursor re-checks them anyway.
    Cursor cur(bytes_, size_, display_name_);
    cur.seek(v.array_offset);
    std::vector<std::string_view> out;
    out.reserve(v.element_count);
    for (uint64_t i = 0; i < v.element_count; ++i) out.push_back(cur.read_string(std::string(key) + " element"));
    return out;
}

std::vector<int64_t> File::get_int_array(std::string_view key) const {
    const Value& v = require(key);
    if (v.type != ValueType::Array || !is_integer_type(v.element_type)) {
        fail_array_type(key, v, "array of integers");
    }
    const uint64_t stride = fixed_value_size(v.element_type);
    std::vector<int64_t> out;
    out.reserve(v.element_count);
    for (uint64_t i = 0; i < v.element_count; ++i) {
        Value e;
        decode_scalar(v.element_type, bytes_ + v.array_offset + i * stride, e);
        if (is_signed_type(v.element_type)) {
            out.push_back(e.int_value);
        } else {
            if (e.uint_value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) fail_key(key, "element " + std::to_string(i) + " is too large");
            out.push_back(static_cast<int64_t>(e.uint_value));
        }
    }
    return out;
}

std::vector<double> File::get_float_array(std::string_view key) const {
    const Value& v = require(key);
    if (v.type != ValueType::Array || (v.element_type != ValueType::Float32 && v.element_type != ValueType::Float64)) {
        fail_array_type(key, v, "array of floats");
    }
    const uint64_t stride = fixed_value_size(v.element_type);
    std::vector<double> out;
    out.reserve(v.element_count);
    for (uint64_t i = 0; i < v.element_count; ++i) {
        Value e;
        decode_scalar(v.element_type, bytes_ + v.array_offset + i * stride, e);
        out.push_back(e.float_value);
    }
    return out;
}

std::string File::value_to_string(const Value& value, size_t max_elements) const {
    auto scalar = [](const Value& v) -> std::string {
        if (v.type == ValueType::Bool) return v.uint_value ? "true" : "false";
        if (v.is_float()) {
            char buf[64];
            std::snprintf(buf, sizeof buf, "%.9g", v.float_value);
            return buf;
        }
        if (is_signed_type(v.type)) return std::to_string(v.int_value);
        return std::to_string(v.uint_value);
    };
    auto short_string = [](std::string_view s) {
        std::string p = printable(s, 60);
        return "\"" + p + "\"";
    };
    if (value.type == ValueType::String) return short_string(value.string_value);
    if (value.type != ValueType::Array) return scalar(value);
    std::string out = "[" + std::string(value_type_name(value.element_type)) + " x " + std::to_string(value.element_count) + "]";
    const uint64_t shown = std::min<uint64_t>(value.element_count, max_elements);
    if (shown == 0) return out;
    out += " ";
    Cursor cur(bytes_, size_, display_name_);
    cur.seek(value.array_offset);
    for (uint64_t i = 0; i < shown; ++i) {
        if (i) out += ", ";
        if (value.element_type == ValueType::String) {
            out += short_string(cur.read_string("array element"));
        } else {
            Value e;
            e.type = value.element_type;
            decode_scalar(value.element_type, bytes_ + value.array_offset + i * fixed_value_size(value.element_type), e);
            out += scalar(e);
        }
    }
    if (value.element_count > shown) out += ", ...";
    return out;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
    const auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

// ---- Split models ---------------------------------------------------------------------------

std::optional<SplitName> parse_split_name(const std::filesystem::path& path) {
    const std::string s = path.string();
    // <prefix>-NNNNN-of-MMMMM.gguf : the fixed tail is 20 characters.
    constexpr size_t kTail = 20;
    if (s.size() <= kTail) return std::nullopt;
    const std::string tail = s.substr(s.size() - kTail);
    auto digits = [](const std::string& t, size_t from) {
        for (size_t i = from; i < from + 5; ++i) {
            if (t[i] < '0' || t[i] > '9') return false;
        }
        return true;
    };
    if (tail[0] != '-' || !digits(tail, 1) || tail.compare(6, 4, "-of-") != 0 || !digits(tail, 10) || tail.compare(15, 5, ".gguf") != 0) {
        return std::nullopt;
    }
    SplitName out;
    out.prefix = s.substr(0, s.size() - kTail);
    out.index = static_cast<uint32_t>(std::stoul(tail.substr(1, 5)));
    out.count = static_cast<uint32_t>(std::stoul(tail.substr(10, 5)));
    if (out.index == 0 || out.count == 0 || out.index > out.count) return std::nullopt;
    return out;
}

std::filesystem::path split_path(const std::string& prefix, uint32_t index, uint32_t count) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "-%05u-of-%05u.gguf", index, count);
    return prefix + buf;
}

std::unique_ptr<ModelFiles> ModelFiles::open(const std::filesystem::path& path) {
    std::unique_ptr<ModelFiles> model(new ModelFiles());
    std::unique_ptr<File> given = File::open(path);
    const uint32_t count = given->has("split.count") ? given->get_u32("split.count") : 1;
    if (count <= 1) {
        model->parts_.push_back(std::move(given));
    } else {
        const std::optional<SplitName> split = parse_split_name(path);
        if (!split || split->count != count) {
            throw Error(path.string() + ": file says it is one of " + std::to_string(count) +
                        " split parts, but its name does not follow <prefix>-NNNNN-of-" + std::to_string(count) + ".gguf");
        }
        for (uint32_t i = 1; i <= count; ++i) {
            std::unique_ptr<File> part = (i == split->index) ? std::move(given) : File::open(split_path(split->prefix, i, count));
            const uint32_t part_count = part->get_u32_or("split.count", 0);
            if (part_count != count) {
                throw Error(part->display_name() + ": split.count is " + std::to_string(part_count) + ", expected " + std::to_string(count));
            }
            if (part->has("split.no") && part->get_u32("split.no") != i - 1) {
                throw Error(part->display_name() + ": split.no is " + std::to_string(part->get_u32("split.no")) + ", expected " + std::to_string(i - 1));
            }
            model->parts_.push_back(std::move(part));
        }
    }
    for (uint32_t p = 0; p < model->parts_.size(); ++p) {
        for (const TensorInfo& t : model->parts_[p]->tensors()) {
            if (model->tensor_index_.count(t.name)) {
                throw Error(model->parts_[p]->display_name() + ": tensor '" + t.name + "' also appears in an earlier split part");
            }
            TensorInfo copy = t;
            copy.file_index = p;
            model->tensor_index_.emplace(copy.name, model->tensors_.size());
            model->tensors_.push_back(std::move(copy));
        }
    }
    if (model->parts_.size() > 1 && model->main().has("split.tensors.count")) {
        const uint64_t expected = model->main().get_uint("split.tensors.count");
        if (expected != model->tensors_.size()) {
            throw Error(model->main().display_name() + ": split.tensors.count is " + std::to_string(expected) + " but the parts hold " +
                        std::to_string(model->tensors_.size()) + " tensors");
        }
    }
    return model;
}

const TensorInfo* ModelFiles::find_tensor(std::string_view name) const {
    const auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

uint64_t ModelFiles::total_file_bytes() const {
    uint64_t total = 0;
    for (const auto& p : parts_) total += p->file_size();
    return total;
}

void ModelFiles::check_not_faulted() const {
    for (const auto& p : parts_) {
        if (p->mapping() != nullptr && p->mapping()->faulted()) throw ModelFileChanged(p->mapping()->path(), "it was truncated while in use");
    }
}

void ModelFiles::check_unchanged() const {
    for (const auto& p : parts_) {
        if (p->mapping() != nullptr) p->mapping()->check_unchanged();
    }
}

} // namespace latent::gguf
