// Embedding gather: one block per token, threads across the row. The table is read once per
// token row, so it is bandwidth-trivial; what matters is that a bad id cannot read out of bounds.
// Float tables are read element by element; block-quantised tables one 32-element slice per
// thread, decoded by quant_blocks.cuh (decode_slice + slice_value: bit-exact with the engine's
// dequantize_row).
#include "common/cuda_compat.cuh"

#include "common/quant_blocks.cuh"
#include "common/quant_dispatch.h"
#include "embedding.h"

#include <stdexcept>
#include <string>

namespace latent::kernels {

namespace {

constexpr unsigned kThreads = 256;

template <QuantType T>
__global__ void __launch_bounds__(kThreads) embedding_gather_kernel(float* out, const uint8_t* table, int64_t cols, int64_t n_vocab,
                                                                    const int32_t* token_ids) {
    const int64_t t = blockIdx.x;
    const int32_t id = token_ids[t];
    float* row_out = out + t * cols;
    if (id < 0 || id >= n_vocab) {
        for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) row_out[i] = NAN;
        return;
    }
    const uint8_t* row = table + static_cast<int64_t>(id) * quant::row_bytes(T, cols);
    if constexpr (quant::is_float_type(T)) {
        for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) row_out[i] = quant::float_element<T>(row, i);
    } else {
        constexpr int kParts = quant::slices_per_block(T);
        const int64_t n_slices = cols / quant::kSlice;
        for (int64_t s = threadIdx.x; s < n_slices; s += blockDim.x) {
            quant::SliceQ8 slice;
            quant::decode_slice<T>(row + (s / kParts) * quant::block_bytes(T), static_cast<int>(s % kParts), slice);
            for (int j = 0; j < quant::kSlice; ++j) row_out[s * quant::kSlice + j] = quant::slice_value(slice, j);
        }
    }
}

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument("embedding_gather: " + what); }

} // namespace

void embedding_gather(float* out, const void* table, uint32_t gguf_type, int64_t cols, int64_t n_vocab,
                      const int32_t* token_ids, int64_t n_tokens, gpu::Stream stream) {
    if (!out || !table || !token_ids) fail("null pointer");
    if (cols <= 0 || n_vocab <= 0 || n_tokens <= 0 || n_tokens > 0x7FFFFFFF) {
        fail("cols, n_vocab and n_tokens must be positive");
    }
    if (!is_known_quant_type(gguf_type)) fail("no kernel for GGUF type " + std::to_string(gguf_type));
    const auto type = static_cast<QuantType>(gguf_type);
    const int granule = quant::block_elements(type);
    if (cols % granule != 0) {
        fail(std::string("a ") + quant_type_name(type) + " table needs cols a multiple of " + std::to_string(granule) +
             " (got " + std::to_string(cols) + ")");
    }
    const auto* bytes = static_cast<const uint8_t*>(table);
    with_quant_type(type, [&](auto tag) {
        auto* kernel = &embedding_gather_kernel<decltype(tag)::value>;
        LATENT_LAUNCH(kernel, static_cast<unsigned>(n_tokens), kThreads, 0, stream, out, bytes, cols, n_vocab, token_ids);
        LATENT_CHECK_LAUNCH();
    });
}

} // namespace latent::kernels
