// Embedding gather: one block per token, threads across the row. The table is read once per
// token row, so it is bandwidth-trivial; what matters is that a bad id cannot read out of bounds.
#include "common/cuda_compat.cuh"

#include "embedding.h"

#include <stdexcept>
#include <string>

namespace latent::kernels {

namespace {

constexpr unsigned kThreads = 256;

__device__ __forceinline__ float load_element(const float* row, int64_t i) { return row[i]; }
__device__ __forceinline__ float load_element(const __half* row, int64_t i) { return __half2float(row[i]); }
__device__ __forceinline__ float load_element(const __nv_bfloat16* row, int64_t i) { return __bfloat162float(row[i]); }

template <class Element>
__global__ void __launch_bounds__(kThreads) embedding_gather_kernel(float* out, const Element* table, int64_t cols, int64_t n_vocab,
                                                                    const int32_t* token_ids) {
    const int64_t t = blockIdx.x;
    const int32_t id = token_ids[t];
    float* row_out = out + t * cols;
    if (id < 0 || id >= n_vocab) {
        for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) row_out[i] = NAN;
        return;
    }
    const Element* row = table + static_cast<int64_t>(id) * cols;
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) row_out[i] = load_element(row, i);
}

template <class Element>
void launch_gather(float* out, const void* table, int64_t cols, int64_t n_vocab, const int32_t* token_ids, int64_t n_tokens,
                   gpu::Stream stream) {
    auto* kernel = &embedding_gather_kernel<Element>;
    LATENT_LAUNCH(kernel, static_cast<unsigned>(n_tokens), kThreads, 0, stream, out, static_cast<const Element*>(table), cols,
                  n_vocab, token_ids);
    LATENT_CHECK_LAUNCH();
}

} // namespace

void embedding_gather(float* out, const void* table, uint32_t gguf_type, int64_t cols, int64_t n_vocab,
                      const int32_t* token_ids, int64_t n_tokens, gpu::Stream stream) {
    if (!out || !table || !token_ids) throw std::invalid_argument("embedding_gather: null pointer");
    if (cols <= 0 || n_vocab <= 0 || n_tokens <= 0 || n_tokens > 0x7FFFFFFF) {
        throw std::invalid_argument("embedding_gather: cols, n_vocab and n_tokens must be positive");
    }
    switch (gguf_type) {
    case kEmbeddingF32: return launch_gather<float>(out, table, cols, n_vocab, token_ids, n_tokens, stream);
    case kEmbeddingF16: return launch_gather<__half>(out, table, cols, n_vocab, token_ids, n_tokens, stream);
    case kEmbeddingBF16: return launch_gather<__nv_bfloat16>(out, table, cols, n_vocab, token_ids, n_tokens, stream);
    default: throw std::invalid_argument("embedding_gather: no kernel for GGUF type " + std::to_string(gguf_type));
    }
}

} // namespace latent::kernels
