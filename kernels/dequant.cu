// Weight tiles to f16 / bf16 (dequant.h). One warp per 32 consecutive slices of the tile (the
// rows are packed, so a tile is one contiguous byte range): block types are staged into the
// warp's shared window with 16-byte loads exactly as in the decode matvec, float types are read
// with 16-byte loads directly; each lane then writes its slice's 32 values as four 16-byte stores.
#include "common/cuda_compat.cuh"

#include "common/matvec_warp.cuh"
#include "common/quant_dispatch.h"
#include "dequant.h"

#include <stdexcept>
#include <string>

namespace latent::kernels {
namespace {

namespace wr = warp_rows;

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / wr::kWarpSize;

template <HalfFormat F>
__device__ __forceinline__ uint32_t to_half_bits(float v) {
    if constexpr (F == HalfFormat::F16) {
        return __half_as_ushort(__float2half_rn(v));
    } else {
        return __bfloat16_as_ushort(__float2bfloat16_rn(v));
    }
}

// Writes 32 values as 64 bytes of 16-bit values.
template <HalfFormat F>
__device__ __forceinline__ void store_slice(const float* v, uint8_t* out) {
    for (int k = 0; k < 4; ++k) {
        uint4 word;
        word.x = to_half_bits<F>(v[8 * k]) | (to_half_bits<F>(v[8 * k + 1]) << 16);
        word.y = to_half_bits<F>(v[8 * k + 2]) | (to_half_bits<F>(v[8 * k + 3]) << 16);
        word.z = to_half_bits<F>(v[8 * k + 4]) | (to_half_bits<F>(v[8 * k + 5]) << 16);
        word.w = to_half_bits<F>(v[8 * k + 6]) | (to_half_bits<F>(v[8 * k + 7]) << 16);
        *reinterpret_cast<uint4*>(out + 16 * k) = word;
    }
}

// Slices [tile_first, tile_first + n_slices) of the matrix at `w` (16-byte aligned, `total`
// bytes) into out (n_slices * 32 values). A tile starting inside a row that is not a multiple of
// 16 bytes is fine: staging widens to 16-byte boundaries of the matrix, not of the tile.
template <QuantType T, HalfFormat F>
__global__ void __launch_bounds__(kThreads)
    dequant_tile_kernel(const uint8_t* __restrict__ w, int64_t total, int64_t tile_first, int64_t n_slices,
                        uint8_t* __restrict__ out) {
    const int warp = static_cast<int>(threadIdx.x) / wr::kWarpSize;
    const int lane = static_cast<int>(threadIdx.x) % wr::kWarpSize;
    const int64_t first = (int64_t{blockIdx.x} * kWarps + warp) * wr::kWarpSize; // within the tile
    if (first >= n_slices) return;
    const int64_t slice = first + lane;
    float v[quant::kSlice];
    if constexpr (quant::is_float_type(T)) {
        if (slice < n_slices) wr::load_float_slice<T>(w + (tile_first + slice) * quant::float_slice_bytes(T), v);
    } else {
        __shared__ uint4 window[kWarps][wr::kStageWords];
        constexpr int kParts = quant::slices_per_block(T);
        constexpr int kBlockBytes = quant::block_bytes(T);
        // tile_first is a whole number of rows, so a multiple of kParts, as is first.
        const int64_t last = first + wr::kWarpSize < n_slices ? first + wr::kWarpSize : n_slices;
        const int64_t begin = (tile_first + first) / kParts * kBlockBytes;
        const int64_t end = (tile_first + last + kParts - 1) / kParts * kBlockBytes;
        const uint8_t* staged = wr::stage_range(w, begin, end, total, window[warp], lane);
        if (slice < n_slices) {
            quant::SliceQ8 s;
            quant::decode_slice<T>(staged + (lane / kParts) * kBlockBytes, static_cast<int>(slice % kParts), s);
            for (int j = 0; j < quant::kSlice; ++j) v[j] = quant::slice_value(s, j);
        }
    }
    if (slice < n_slices) store_slice<F>(v, out + slice * quant::kSlice * 2);
}

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument("dequantize_rows: " + what); }

} // namespace

void dequantize_rows(const QuantMatrix& w, int64_t row_begin, int64_t row_end, HalfFormat format, void* out,
                     gpu::Stream stream) {
    if (!is_known_quant_type(static_cast<uint32_t>(w.type))) {
        fail("no kernel for tensor type id " + std::to_string(static_cast<uint32_t>(w.type)));
    }
    const int64_t granule = quant::is_float_type(w.type) ? quant::kSlice : quant::block_elements(w.type);
    if (w.rows <= 0 || w.cols <= 0 || w.cols % granule != 0) {
        fail(std::string("a ") + quant_type_name(w.type) + " matrix needs cols a positive multiple of " +
             std::to_string(granule) + " (got " + std::to_string(w.rows) + " x " + std::to_string(w.cols) + ")");
    }
    if (row_begin < 0 || row_end > w.rows || row_begin >= row_end) {
        fail("row range [" + std::to_string(row_begin) + ", " + std::to_string(row_end) + ") is not inside 0.." +
             std::to_string(w.rows));
    }
    if (!w.data || (reinterpret_cast<uintptr_t>(w.data) & 15u) != 0) fail("the weights are null or not 16-byte aligned");
    if (!out || (reinterpret_cast<uintptr_t>(out) & 15u) != 0) fail("the output is null or not 16-byte aligned");
    const int64_t slices_per_row = w.cols / quant::kSlice;
    const int64_t n_slices = (row_end - row_begin) * slices_per_row;
    const int64_t total = w.rows * quant::row_bytes(w.type, w.cols);
    const auto* base = static_cast<const uint8_t*>(w.data);
    const int64_t per_block = int64_t{kWarps} * wr::kWarpSize;
    const dim3 grid(static_cast<unsigned>((n_slices + per_block - 1) / per_block));
    auto* dst = static_cast<uint8_t*>(out);
    with_quant_type(w.type, [&](auto tag) {
        constexpr QuantType T = decltype(tag)::value;
        auto* kernel = format == HalfFormat::F16 ? &dequant_tile_kernel<T, HalfFormat::F16>
                                                 : &dequant_tile_kernel<T, HalfFormat::BF16>;
        LATENT_LAUNCH(kernel, grid, dim3(kThreads), 0, stream, base, total, row_begin * slices_per_row, n_slices, dst);
        LATENT_CHECK_LAUNCH();
    });
}

size_t dequantize_rows_bytes(const QuantMatrix& w, int64_t row_begin, int64_t row_end) {
    const int64_t rows = row_end - row_begin;
    return static_cast<size_t>(rows * quant::row_bytes(w.type, w.cols) + rows * w.cols * 2);
}

} // namespace latent::kernels
