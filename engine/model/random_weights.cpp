#include "model/random_weights.h"

#include "core/error.h"

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace latent {

namespace {

uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void put_u16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v & 0xFF);
    p[1] = static_cast<uint8_t>(v >> 8);
}
void put_f16(uint8_t* p, float v) { put_u16(p, fp32_to_fp16(v)); }
void put_f32(uint8_t* p, float v) { std::memcpy(p, &v, sizeof v); } // engine targets are little-endian

// Uniform signed byte in [-127, 127] from 8 random bits.
int8_t q8_value(uint8_t random) { return static_cast<int8_t>(static_cast<int>((random * 255u) >> 8) - 127); }

// Sub-block scales are drawn from [kScaleLow, kScaleLow + 15]: a narrow range, as real
// quantisers produce for smooth weights; kScaleMean is its mean.
constexpr uint32_t kScaleLow = 8;
constexpr float kScaleMean = 15.5f;
uint8_t sub_scale(WeightRng& rng) { return static_cast<uint8_t>(kScaleLow + (rng.next() & 15u)); }

// Standard deviations of a uniform integer in [0, n-1]: sqrt((n²-1)/12).
constexpr float kStd4Bit = 4.6098f;  // n = 16
constexpr float kStd5Bit = 9.2331f;  // n = 32
constexpr float kStd6Bit = 18.4730f; // n = 64
constexpr float kStd8Bit = 73.6116f; // n = 255
constexpr float kStd2Bit = 1.1180f;  // n = 4
constexpr float kStd3Bit = 2.2913f;  // n = 8

// Packs 8 six-bit scales and 8 six-bit mins the way get_scale_min_k4 unpacks them (§7.4).
void pack_k4_scales(const uint8_t* sc, const uint8_t* m, uint8_t* out) {
    for (int k = 0; k < 4; ++k) {
        out[k] = static_cast<uint8_t>((sc[k] & 63) | ((sc[k + 4] >> 4) << 6));
        out[k + 4] = static_cast<uint8_t>((m[k] & 63) | ((m[k + 4] >> 4) << 6));
        out[k + 8] = static_cast<uint8_t>((sc[k + 4] & 0x0F) | ((m[k + 4] & 0x0F) << 4));
    }
}

// One block of each layout. Offsets follow deepseek2-gguf.md §7.3-7.4.
void block_q4_0(uint8_t* b, float sd, WeightRng& rng) {
    put_f16(b, sd / kStd4Bit);
    rng.fill_bytes(b + 2, 16);
}
void block_q4_1(uint8_t* b, float sd, WeightRng& rng) {
    const float d = sd / kStd4Bit;
    put_f16(b, d);
    put_f16(b + 2, -7.5f * d);
    rng.fill_bytes(b + 4, 16);
}
void block_q5_0(uint8_t* b, float sd, WeightRng& rng) {
    put_f16(b, sd / kStd5Bit);
    rng.fill_bytes(b + 2, 20);
}
void block_q5_1(uint8_t* b, float sd, WeightRng& rng) {
    const float d = sd / kStd5Bit;
    put_f16(b, d);
    put_f16(b + 2, -15.5f * d);
    rng.fill_bytes(b + 4, 20);
}
void block_q8_0(uint8_t* b, float sd, WeightRng& rng) {
    put_f16(b, sd / kStd8Bit);
    rng.fill_bytes(b + 2, 32);
    for (int j = 0; j < 32; ++j) b[2 + j] = static_cast<uint8_t>(q8_value(b[2 + j]));
}
void block_q2_k(uint8_t* b, float sd, WeightRng& rng) {
    // x = d·sc·q − dmin·m with q in 0..3 and 4-bit sc = m in [8, 15] (mean 11.5): dmin = 1.5·d
    // centres each sub-block.
    const float d = sd / (11.5f * kStd2Bit);
    for (int i = 0; i < 16; ++i) {
        const uint8_t s = static_cast<uint8_t>(8u + (rng.next() & 7u));
        b[i] = static_cast<uint8_t>(s | (s << 4));
    }
    rng.fill_bytes(b + 16, 64);
    put_f16(b + 80, d);
    put_f16(b + 82, 1.5f * d);
}
void block_q3_k(uint8_t* b, float sd, WeightRng& rng) {
    // q = q2 − (h ? 0 : 4) in −4..3; signed 6-bit scales stored with +32.
    rng.fill_bytes(b, 96); // hmask[32] + qs[64]
    uint8_t* s = b + 96;
    std::memset(s, 0, 12);
    for (int i = 0; i < 16; ++i) {
        const uint32_t v = sub_scale(rng) + 32u; // stored value; sc = v − 32
        const uint32_t low4 = v & 0xF, high2 = (v >> 4) & 3;
        if (i < 8) s[i] = static_cast<uint8_t>(s[i] | low4);
        else s[i - 8] = static_cast<uint8_t>(s[i - 8] | (low4 << 4));
        s[8 + (i % 4)] = static_cast<uint8_t>(s[8 + (i % 4)] | (high2 << (2 * (i / 4))));
    }
    put_f16(b + 108, sd / (kScaleMean * kStd3Bit));
}
void block_q4_k(uint8_t* b, float sd, WeightRng& rng) {
    // x = d·sc·q − dmin·m with q in 0..15: m = sc and dmin = 7.5·d centre each sub-block.
    const float d = sd / (kScaleMean * kStd4Bit);
    uint8_t sc[8];
    for (uint8_t& v : sc) v = sub_scale(rng);
    put_f16(b, d);
    put_f16(b + 2, 7.5f * d);
    pack_k4_scales(sc, sc, b + 4);
    rng.fill_bytes(b + 16, 128);
}
void block_q5_k(uint8_t* b, float sd, WeightRng& rng) {
    const float d = sd / (kScaleMean * kStd5Bit);
    uint8_t sc[8];
    for (uint8_t& v : sc) v = sub_scale(rng);
    put_f16(b, d);
    put_f16(b + 2, 15.5f * d);
    pack_k4_scales(sc, sc, b + 4);
    rng.fill_bytes(b + 16, 160); // qh[32] + qs[128]
}
void block_q6_k(uint8_t* b, float sd, WeightRng& rng) {
    rng.fill_bytes(b, 192); // ql[128] + qh[64]
    for (int i = 0; i < 16; ++i) b[192 + i] = sub_scale(rng);
    put_f16(b + 208, sd / (kScaleMean * kStd6Bit));
}
void block_q8_k(uint8_t* b, float sd, WeightRng& rng) {
    put_f32(b, sd / kStd8Bit);
    int8_t q[256];
    rng.fill_bytes(reinterpret_cast<uint8_t*>(q), 256);
    for (int8_t& v : q) v = q8_value(static_cast<uint8_t>(v));
    std::memcpy(b + 4, q, 256);
    for (int g = 0; g < 16; ++g) {
        int sum = 0;
        for (int j = 0; j < 16; ++j) sum += q[16 * g + j];
        put_u16(b + 260 + 2 * g, static_cast<uint16_t>(static_cast<int16_t>(sum)));
    }
}

// IQ4 blocks: 4-bit indices into the non-linear codebook {-127 … 113}, whose RMS over uniform
// indices is about 62.
constexpr float kIq4CodebookRms = 62.0f;
void block_iq4_nl(uint8_t* b, float sd, WeightRng& rng) {
    put_f16(b, sd / kIq4CodebookRms);
    rng.fill_bytes(b + 2, 16);
}
// IQ4_XS: d, scales_h (u16), scales_l[4], qs[128]; sub-block scale ls − 32 drawn from 1…4.
void block_iq4_xs(uint8_t* b, float sd, WeightRng& rng) {
    put_f16(b, sd / (kIq4CodebookRms * 2.5f));
    uint8_t ls[8];
    for (uint8_t& v : ls) v = static_cast<uint8_t>(33 + (rng.next() & 3u)); // 33…36 → multiplier 1…4
    uint16_t high = 0;
    for (int ib = 0; ib < 8; ++ib) high = static_cast<uint16_t>(high | ((ls[ib] >> 4) & 3) << (2 * ib));
    put_u16(b + 2, high);
    for (int k = 0; k < 4; ++k) b[4 + k] = static_cast<uint8_t>((ls[2 * k] & 0xF) | ((ls[2 * k + 1] & 0xF) << 4));
    rng.fill_bytes(b + 8, 128);
}

using BlockWriter = void (*)(uint8_t*, float, WeightRng&);

BlockWriter block_writer(TensorType type) {
    switch (type) {
    case TensorType::Q4_0: return block_q4_0;
    case TensorType::Q4_1: return block_q4_1;
    case TensorType::Q5_0: return block_q5_0;
    case TensorType::Q5_1: return block_q5_1;
    case TensorType::Q8_0: return block_q8_0;
    case TensorType::Q2_K: return block_q2_k;
    case TensorType::Q3_K: return block_q3_k;
    case TensorType::Q4_K: return block_q4_k;
    case TensorType::Q5_K: return block_q5_k;
    case TensorType::Q6_K: return block_q6_k;
    case TensorType::Q8_K: return block_q8_k;
    case TensorType::IQ4_NL: return block_iq4_nl;
    case TensorType::IQ4_XS: return block_iq4_xs;
    default: return nullptr;
    }
}

bool is_plain_float(TensorType type) {
    return type == TensorType::F32 || type == TensorType::F16 || type == TensorType::BF16 || type == TensorType::F64;
}

} // namespace

WeightRng::WeightRng(uint64_t seed) {
    for (uint64_t& s : state_) s = splitmix64(seed);
}

uint64_t WeightRng::next() {
    const uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
}

float WeightRng::normal() {
    // Sum of four 16-bit uniforms has mean 2 and variance 4/12; rescale to unit variance.
    const uint64_t r = next();
    const float sum = static_cast<float>((r & 0xFFFF) + ((r >> 16) & 0xFFFF) + ((r >> 32) & 0xFFFF) + (r >> 48)) *
                      (1.0f / 65536.0f);
    return (sum - 2.0f) * 1.7320508f;
}

void WeightRng::fill_bytes(uint8_t* out, size_t count) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        const uint64_t r = next();
        std::memcpy(out + i, &r, 8);
    }
    if (i < count) {
        const uint64_t r = next();
        std::memcpy(out + i, &r, count - i);
    }
}

uint64_t tensor_stream_seed(uint64_t seed, std::string_view tensor_name) {
    uint64_t hash = 0xcbf29ce484222325ull; // FNV-1a
    for (char c : tensor_name) hash = (hash ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
    uint64_t mixed = seed ^ hash;
    return splitmix64(mixed);
}

bool has_random_block_layout(TensorType type) { return block_writer(type) != nullptr; }

void fill_from_floats(TensorType type, uint64_t ne0, uint64_t rows, float mean, float stddev, WeightRng& rng,
                      uint8_t* out) {
    const TensorTypeInfo& info = tensor_type_info(type);
    if (!is_plain_float(type) && !info.can_encode)
        throw Error("fill_from_floats: type " + std::string(info.name) + " cannot be encoded");
    const size_t row_bytes = tensor_row_bytes(type, static_cast<int64_t>(ne0));
    std::vector<float> row(ne0);
    for (uint64_t r = 0; r < rows; ++r, out += row_bytes) {
        for (float& v : row) v = mean + stddev * rng.normal();
        switch (type) {
        case TensorType::F32: std::memcpy(out, row.data(), row_bytes); break;
        case TensorType::F16:
            for (uint64_t i = 0; i < ne0; ++i) put_u16(out + 2 * i, fp32_to_fp16(row[i]));
            break;
        case TensorType::BF16:
            for (uint64_t i = 0; i < ne0; ++i) put_u16(out + 2 * i, fp32_to_bf16(row[i]));
            break;
        case TensorType::F64:
            for (uint64_t i = 0; i < ne0; ++i) {
                const double v = row[i];
                std::memcpy(out + 8 * i, &v, 8);
            }
            break;
        default: quantize_row(type, row.data(), out, static_cast<int64_t>(ne0)); break;
        }
    }
}

void fill_random_blocks(TensorType type, uint64_t ne0, uint64_t rows, float stddev, WeightRng& rng, uint8_t* out) {
    const TensorTypeInfo& info = tensor_type_info(type);
    const uint64_t blocks = ne0 / info.block_size * rows;
    const BlockWriter write = block_writer(type);
    if (!write) {
        if (is_plain_float(type)) return fill_from_floats(type, ne0, rows, 0.0f, stddev, rng, out);
        rng.fill_bytes(out, blocks * info.type_size); // integer or undecodable types
        return;
    }
    for (uint64_t i = 0; i < blocks; ++i, out += info.type_size) write(out, stddev, rng);
}

} // namespace latent
