// float32 -> stored blocks for the types the engine writes (F32, F16, BF16, Q8_0, Q4_0, Q4_K).
//
// Q8_0 follows the reference encoder's arithmetic (d = amax/127, q = round(x/d) with ties away
// from zero), so encoding reproduces reference files and activations bit for bit. Q4_0 and Q4_K
// search their scales for the smallest squared error as the decoder will actually reconstruct
// it (f16-rounded scales, the decoder's float order), which is never worse per block than the
// reference's closed-form choice for Q4_0 and in practice better for Q4_K.
#include "tensor/block_layouts.h"
#include "tensor/tensor_types.h"

#include "core/error.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

namespace latent {
namespace {

using namespace blocks;

int clamp_int(int v, int lo, int hi) { return std::min(std::max(v, lo), hi); }

// Nearest integer, ties away from zero (as roundf): the reference's rounding, for Q8_0.
int round_nearest(float v) { return static_cast<int>(std::lround(v)); }

// Nearest integer (ties to even) of a value the caller clamps to a small range anyway: adding
// and removing 1.5 * 2^23 rounds in the FPU without a library call, which keeps the scale
// searches below cheap. NaN goes to the low end.
int round_small(float v) {
    constexpr float kMagic = 12582912.0f;
    const float bounded = std::fmin(std::fmax(v, -256.0f), 256.0f);
    return static_cast<int>((bounded + kMagic) - kMagic);
}

// ---- Q8_0 -------------------------------------------------------------------------------------

void encode_q8_0(const float* x, uint8_t* block) {
    float amax = 0.0f;
    for (int j = 0; j < kBlock32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float inverse = d != 0.0f ? 1.0f / d : 0.0f;
    store_u16(block + q8_0::d, fp32_to_fp16(d));
    for (int j = 0; j < kBlock32; ++j) {
        const int q = clamp_int(round_nearest(x[j] * inverse), -127, 127);
        block[q8_0::qs + j] = static_cast<uint8_t>(static_cast<int8_t>(q));
    }
}

// ---- Q4_0 -------------------------------------------------------------------------------------

// Squared error of a Q4_0 block with the decoded scale d when every element takes its nearest
// level k in -8..7 (reconstructed as k*d, as the decoder does). Writes the levels when asked.
double q4_0_error(const float* x, float d, int* levels) {
    double error = 0.0;
    for (int j = 0; j < kBlock32; ++j) {
        const int k = d != 0.0f ? clamp_int(round_small(x[j] / d), -8, 7) : 0;
        const double diff = static_cast<double>(x[j]) - static_cast<double>(static_cast<float>(k) * d);
        error += diff * diff;
        if (levels) levels[j] = k;
    }
    return error;
}

void encode_q4_0(const float* x, uint8_t* block) {
    // The signed value of largest magnitude anchors the grid: mapping it to -8 uses the extra
    // negative level (the reference's choice); mapping it to +7 or a little inside the range
    // sometimes fits the rest of the block better. Each candidate is judged after f16 rounding,
    // then refined once by least squares on the levels it chose.
    float extreme = 0.0f;
    for (int j = 0; j < kBlock32; ++j) {
        if (std::fabs(x[j]) > std::fabs(extreme)) extreme = x[j];
    }
    uint16_t best_d = 0;
    double best_error = q4_0_error(x, 0.0f, nullptr);
    auto consider = [&](float d) {
        const uint16_t stored = fp32_to_fp16(d);
        const float decoded = fp16_to_fp32(stored);
        if (!std::isfinite(decoded)) return;
        int levels[kBlock32];
        const double error = q4_0_error(x, decoded, levels);
        if (error < best_error) {
            best_error = error;
            best_d = stored;
        }
        // Least-squares scale for these levels.
        double xk = 0.0, kk = 0.0;
        for (int j = 0; j < kBlock32; ++j) {
            xk += static_cast<double>(x[j]) * levels[j];
            kk += static_cast<double>(levels[j]) * levels[j];
        }
        if (kk > 0.0) {
            const uint16_t refit = fp32_to_fp16(static_cast<float>(xk / kk));
            const float refit_decoded = fp16_to_fp32(refit);
            if (std::isfinite(refit_decoded)) {
                const double refit_error = q4_0_error(x, refit_decoded, nullptr);
                if (refit_error < best_error) {
                    best_error = refit_error;
                    best_d = refit;
                }
            }
        }
    };
    if (extreme != 0.0f) {
        consider(extreme / -8.0f);
        for (int step = 0; step <= 16; ++step) {
            const float level = 6.0f + 0.125f * static_cast<float>(step); // 6 .. 8
            consider(extreme / -level);
            if (level <= 7.5f) consider(extreme / level);
        }
    }
    store_u16(block + q4_0::d, best_d);
    int levels[kBlock32];
    q4_0_error(x, fp16_to_fp32(best_d), levels);
    uint8_t* qs = block + q4_0::qs;
    for (int j = 0; j < 16; ++j) {
        qs[j] = static_cast<uint8_t>((levels[j] + 8) | ((levels[j + 16] + 8) << 4));
    }
}

// ---- Q4_K -------------------------------------------------------------------------------------

constexpr int kQ4kSubBlock = 32;
constexpr int kQ4kMaxLevel = 15;
constexpr int kQ4kMaxScale = 63; // 6-bit scales and mins

// A sub-block reconstructed as scale*q - offset with q in 0..15. The format only stores
// non-negative scale and offset, so the grid always reaches down to min(0, min x).
struct AffineFit {
    float scale = 0.0f;
    float offset = 0.0f;
};

int nearest_level(float x, float scale, float offset) {
    if (scale <= 0.0f) return 0;
    return clamp_int(round_small((x + offset) / scale), 0, kQ4kMaxLevel);
}

// Squared error of a sub-block under the decoder's arithmetic: y = scale*q - offset.
double affine_error(const float* x, float scale, float offset) {
    double error = 0.0;
    for (int j = 0; j < kQ4kSubBlock; ++j) {
        const int q = nearest_level(x[j], scale, offset);
        const double diff = static_cast<double>(x[j]) - static_cast<double>(scale * static_cast<float>(q) - offset);
        error += diff * diff;
    }
    return error;
}

// Least-squares scale and offset for fixed levels, with offset kept >= 0.
bool refit_affine(const float* x, const int* levels, AffineFit& fit) {
    double sq = 0.0, sqq = 0.0, sx = 0.0, sxq = 0.0;
    for (int j = 0; j < kQ4kSubBlock; ++j) {
        sq += levels[j];
        sqq += static_cast<double>(levels[j]) * levels[j];
        sx += x[j];
        sxq += static_cast<double>(x[j]) * levels[j];
    }
    const double n = kQ4kSubBlock;
    const double det = n * sqq - sq * sq;
    if (det <= 0.0) return false;
    double scale = (n * sxq - sq * sx) / det;
    double bias = (sqq * sx - sq * sxq) / det; // x ~ scale*q + bias
    if (bias > 0.0) {
        bias = 0.0;
        scale = sxq / sqq;
    }
    if (!(scale > 0.0)) return false;
    fit.scale = static_cast<float>(scale);
    fit.offset = static_cast<float>(-bias);
    return true;
}

// Best continuous (scale, offset) for one sub-block: grids spanning [min(0, lo), hi] with
// 15 +- 1 steps, each refit by least squares, then alternate requantize/refit while it helps.
AffineFit fit_sub_block(const float* x) {
    float lo = 0.0f, hi = x[0];
    for (int j = 0; j < kQ4kSubBlock; ++j) {
        lo = std::min(lo, x[j]);
        hi = std::max(hi, x[j]);
    }
    if (hi <= lo) return AffineFit{0.0f, -lo};
    const float range = hi - lo;
    AffineFit best{range / kQ4kMaxLevel, -lo};
    double best_error = affine_error(x, best.scale, best.offset);
    int levels[kQ4kSubBlock];
    for (int step = -10; step <= 10; ++step) {
        const float inverse = (static_cast<float>(kQ4kMaxLevel) + 0.1f * static_cast<float>(step)) / range;
        for (int j = 0; j < kQ4kSubBlock; ++j) {
            levels[j] = clamp_int(round_small(inverse * (x[j] - lo)), 0, kQ4kMaxLevel);
        }
        AffineFit fit;
        if (!refit_affine(x, levels, fit)) continue;
        const double error = affine_error(x, fit.scale, fit.offset);
        if (error < best_error) {
            best_error = error;
            best = fit;
        }
    }
    for (int round = 0; round < 4; ++round) {
        for (int j = 0; j < kQ4kSubBlock; ++j) levels[j] = nearest_level(x[j], best.scale, best.offset);
        AffineFit fit;
        if (!refit_affine(x, levels, fit)) break;
        const double error = affine_error(x, fit.scale, fit.offset);
        if (!(error < best_error)) break;
        best_error = error;
        best = fit;
    }
    return best;
}

void encode_q4_k(const float* x, uint8_t* block) {
    AffineFit fits[8];
    float max_scale = 0.0f, max_offset = 0.0f;
    for (int k = 0; k < 8; ++k) {
        fits[k] = fit_sub_block(x + kQ4kSubBlock * k);
        max_scale = std::max(max_scale, fits[k].scale);
        max_offset = std::max(max_offset, fits[k].offset);
    }
    // The super-block scales make the largest sub-block scale/offset the top 6-bit code.
    const uint16_t d_stored = fp32_to_fp16(max_scale / kQ4kMaxScale);
    const uint16_t dmin_stored = fp32_to_fp16(max_offset / kQ4kMaxScale);
    const float d = fp16_to_fp32(d_stored);
    const float dmin = fp16_to_fp32(dmin_stored);

    // Each sub-block then picks the 6-bit codes near its ideal that decode best.
    uint8_t scale_codes[8], offset_codes[8];
    for (int k = 0; k < 8; ++k) {
        const float* xs = x + kQ4kSubBlock * k;
        const int sc0 = d > 0.0f ? clamp_int(round_nearest(fits[k].scale / d), 0, kQ4kMaxScale) : 0;
        const int m0 = dmin > 0.0f ? clamp_int(round_nearest(fits[k].offset / dmin), 0, kQ4kMaxScale) : 0;
        double best_error = std::numeric_limits<double>::infinity();
        int best_sc = sc0, best_m = m0;
        for (int sc = std::max(sc0 - 2, 0); sc <= std::min(sc0 + 2, kQ4kMaxScale); ++sc) {
            if (sc > 0 && d == 0.0f) break;
            for (int m = std::max(m0 - 2, 0); m <= std::min(m0 + 2, kQ4kMaxScale); ++m) {
                if (m > 0 && dmin == 0.0f) break;
                const double error = affine_error(xs, d * static_cast<float>(sc), dmin * static_cast<float>(m));
                if (error < best_error) {
                    best_error = error;
                    best_sc = sc;
                    best_m = m;
                }
            }
        }
        scale_codes[k] = static_cast<uint8_t>(best_sc);
        offset_codes[k] = static_cast<uint8_t>(best_m);
    }

    store_u16(block + q4_k::d, d_stored);
    store_u16(block + q4_k::dmin, dmin_stored);
    pack_scale_min_k4(scale_codes, offset_codes, block + q4_k::scales);
    for (int g = 0; g < 4; ++g) {
        const int k_low = 2 * g, k_high = 2 * g + 1;
        const float scale_low = d * static_cast<float>(scale_codes[k_low]);
        const float offset_low = dmin * static_cast<float>(offset_codes[k_low]);
        const float scale_high = d * static_cast<float>(scale_codes[k_high]);
        const float offset_high = dmin * static_cast<float>(offset_codes[k_high]);
        uint8_t* qs = block + q4_k::qs + 32 * g;
        for (int l = 0; l < 32; ++l) {
            const int low = nearest_level(x[64 * g + l], scale_low, offset_low);
            const int high = nearest_level(x[64 * g + 32 + l], scale_high, offset_high);
            qs[l] = static_cast<uint8_t>(low | (high << 4));
        }
    }
}

using BlockEncoder = void (*)(const float* x, uint8_t* block);

BlockEncoder block_encoder(TensorType type) {
    switch (type) {
    case TensorType::Q8_0: return encode_q8_0;
    case TensorType::Q4_0: return encode_q4_0;
    case TensorType::Q4_K: return encode_q4_k;
    default: return nullptr;
    }
}

} // namespace

void quantize_row(TensorType type, const float* src, void* dst, int64_t n) {
    const TensorTypeInfo& info = tensor_type_info(type); // throws for an unknown id
    if (!info.can_encode) {
        throw Error("cannot encode tensor type " + std::string(info.name) + " (id " +
                    std::to_string(static_cast<uint32_t>(type)) + ")");
    }
    if (n < 0 || n % info.block_size != 0) {
        throw Error("quantize_row: " + std::to_string(n) + " elements is not a whole number of " +
                    std::string(info.name) + " blocks");
    }
    auto* bytes = static_cast<uint8_t*>(dst);
    switch (type) {
    case TensorType::F32:
        if (n > 0) std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
        return;
    case TensorType::F16:
        for (int64_t i = 0; i < n; ++i) store_u16(bytes + 2 * i, fp32_to_fp16(src[i]));
        return;
    case TensorType::BF16:
        for (int64_t i = 0; i < n; ++i) store_u16(bytes + 2 * i, fp32_to_bf16(src[i]));
        return;
    default: break;
    }
    const BlockEncoder encode = block_encoder(type);
    if (!encode) throw Error("cannot encode tensor type " + std::string(info.name)); // table/switch mismatch
    const int64_t n_blocks = n / info.block_size;
    for (int64_t b = 0; b < n_blocks; ++b) encode(src + b * info.block_size, bytes + b * info.type_size);
}

} // namespace latent
