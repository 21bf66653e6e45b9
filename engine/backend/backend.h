// The backend interface: a backend owns its view of the weights and one sequence's latent KV
// cache, and evaluates a batch of tokens at the next positions, returning logits for the
// positions asked. Implementations: `ref` (plain float32 over exactly decoded weights, the
// oracle), `cpu` (threaded, SIMD, quantised dot products), later `cuda`.
#pragma once

#include "model/model.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace latent {

// F16 and F32 on every backend; BF16 (float32's range, 8-bit mantissa) on the cuda backend only.
enum class KvCacheType { F32, F16, BF16 };
// Bytes of one cache element.
inline uint32_t kv_cache_element_bytes(KvCacheType type) { return type == KvCacheType::F32 ? 4 : 2; }
std::string_view kv_cache_type_name(KvCacheType type);

// How attention is computed. Both forms read and write the same latent cache; they agree up to
// float rounding.
enum class AttentionForm {
    Auto,         // the backend's choice (absorbed for decode, decompressed for long prefill)
    Absorbed,     // queries projected into the latent space (§4.7)
    Decompressed, // keys and values expanded per head from the latents (§4.6)
};

struct BackendOptions {
    uint32_t n_ctx = 4096;                  // positions the KV cache holds
    KvCacheType cache_type = KvCacheType::F16;
    uint32_t n_threads = 0;                 // 0: one per hardware thread (cpu backend)
    AttentionForm attention = AttentionForm::Auto;

    // GPU backends only (ignored by ref and cpu):
    // MoE layers whose routed experts stay in host memory and run on the CPU (the first ones):
    // -1 chooses from free GPU memory (none when everything fits), kAllExpertsOnCpu every layer.
    int32_t experts_on_cpu = -1;
    // The first this many layers run whole on the CPU (attention, cache, FFN): -1 only when
    // even every MoE layer's experts on the CPU does not fit (gpu_placement.h).
    int32_t layers_on_cpu = -1;
    // Decode steps replay one captured CUDA graph (false: every launch issued eagerly).
    bool gpu_graphs = true;
    // Upload progress in [0, 1] while weights go to the GPU, layer by layer; returning false
    // cancels the load (latent::Cancelled, nothing left allocated).
    std::function<bool(float progress)> load_progress;
};

inline constexpr int32_t kAllExpertsOnCpu = 1 << 30;

class Backend {
public:
    virtual ~Backend() = default;

    virtual std::string_view name() const = 0;
    virtual const Model& model() const = 0;
    virtual uint32_t context_size() const = 0; // n_ctx
    virtual uint32_t n_cached() const = 0;     // positions [0, n_cached) hold cache rows

    // Forgets cache rows at positions >= n (n <= n_cached()), e.g. to reuse a common prefix.
    virtual void truncate(uint32_t n) = 0;

    // Evaluates tokens at positions n_cached() … n_cached() + tokens.size() − 1 in one batch,
    // appends their cache rows, and writes logits for the batch indices in logit_rows
    // (ascending) to logits, one row of n_vocab floats each. Throws latent::Error if the batch
    // does not fit the context or holds a token id outside the vocabulary (the cache is then
    // unchanged).
    virtual void evaluate(std::span<const int32_t> tokens, std::span<const uint32_t> logit_rows, float* logits) = 0;

    // Bytes of weights and KV cache read to evaluate one token at the current context length
    // (for GB/s figures).
    virtual uint64_t bytes_per_token() const = 0;
};

std::unique_ptr<Backend> create_ref_backend(const Model& model, const BackendOptions& options);
std::unique_ptr<Backend> create_cpu_backend(const Model& model, const BackendOptions& options);

} // namespace latent
