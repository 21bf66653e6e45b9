// Facts and small helpers shared by every backend: the RoPE/YaRN angle table (ggml's float
// arithmetic), MoE routing, and the bytes one token reads.
#pragma once

#include "backend/backend.h"
#include "backend/multi_sequence.h"
#include "model/model_config.h"

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace latent {

// cos/sin for the d_r/2 interleaved pairs of a token at position `position`, as ggml's
// rope_cache_init + rope_yarn compute them (float arithmetic, angle by repeated
// multiplication). The rotary magnitude is 1 for every deepseek2 model (§4.4).
void rope_angles(const ModelConfig& config, uint32_t position, float* cos_out, float* sin_out);

// Rotates interleaved pairs (x[2i], x[2i+1]) in place.
void apply_rope(float* x, uint32_t rope_dim, const float* cos_table, const float* sin_table);

// One token's routing decision in an MoE layer (§4.10): the chosen experts and their weights.
struct ExpertChoice {
    std::vector<uint32_t> experts; // K expert indices, best first
    std::vector<float> weights;    // their weights (unbiased scores, renormalised/scaled per config)
};

// router_logits: E values W_gate_inp·x. selection_bias: E values or empty.
ExpertChoice route_token(const ModelConfig& config, std::span<const float> router_logits, std::span<const float> selection_bias);

// Bytes of weights read per generated token: every non-expert weight once (the token
// embedding only one row), routed experts K/E of their bytes (the average), plus the latent
// cache of n_cached positions at the cache's element size.
uint64_t bytes_read_per_token(const Model& model, uint32_t n_cached, KvCacheType cache_type);

// The per-head attention up-projections of layer `il` for the absorbed form, from either kv_b
// file layout: wk_t = H matrices W_UK,hᵀ of r_kv rows × d_n, wv = H matrices W_UV,h of d_v rows ×
// r_kv, row-major, each value exactly decoded and stored as float32 (as_float32) or rounded to
// float16 (quantised sources: their own rounding is far coarser than f16's).
void absorbed_head_matrices(const Model& model, uint32_t il, bool as_float32, std::vector<uint8_t>& wk_t, std::vector<uint8_t>& wv);
// The same into caller-owned memory: wk_t and wv must be exactly H·r_kv·d_n and H·d_v·r_kv
// elements of 4 (as_float32) or 2 bytes (absorbed_head_bytes); throws latent::Error otherwise.
void absorbed_head_matrices(const Model& model, uint32_t il, bool as_float32, std::span<uint8_t> wk_t, std::span<uint8_t> wv);
// Bytes of one layer's wk_t and wv in that form.
std::pair<size_t, size_t> absorbed_head_bytes(const ModelConfig& c, bool as_float32);

// Throws latent::Error unless the batch is valid for a backend holding n_cached of n_ctx, and
// ModelFileChanged when the model's file was truncated under an earlier batch.
void check_batch(const Model& model, uint32_t n_cached, uint32_t n_ctx, std::span<const int32_t> tokens, std::span<const uint32_t> logit_rows);

// The same for one call of MultiSequenceBackend::evaluate over caches filled to n_cached[sequence]:
// every slice non-empty and fitting, sequences known and distinct, token ids in the vocabulary.
void check_slices(const Model& model, std::span<const uint32_t> n_cached, uint32_t n_ctx, std::span<const SequenceSlice> slices);

// The bookkeeping every single-sequence backend shares: the model, the options and how many
// positions of the cache are filled.
class SequenceBackend : public Backend {
public:
    SequenceBackend(const Model& model, const BackendOptions& options);
    const Model& model() const override { return model_; }
    uint32_t context_size() const override { return options_.n_ctx; }
    uint32_t n_cached() const override { return n_cached_; }
    void truncate(uint32_t n) override;
    uint64_t bytes_per_token() const override { return bytes_read_per_token(model_, n_cached_, options_.cache_type); }

protected:
    // The end of a successful evaluate(): the batch's rows join the cache, unless reading the
    // weights faulted (the model file was truncated during the batch, core/mapping_faults.h).
    // Then ModelFileChanged is thrown and the cache keeps only what it held before, so nothing
    // computed from the lost pages is ever used. Every thread of the batch has finished here, so
    // a fault in a thread-pool worker is seen too.
    void commit_batch(size_t n_tokens);

    const Model& model_;
    const ModelConfig& c_;
    BackendOptions options_;
    uint32_t n_cached_ = 0;
};

} // namespace latent
