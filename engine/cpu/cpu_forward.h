// The forward pass of the `cpu` backend over a batch whose tokens may belong to several
// sequences, each with its own latent cache. Everything but attention treats the batch as one
// matrix of tokens (each weight is read once per batch); attention runs per run over that run's
// cache, in the absorbed form (§4.7), or for prompts in the decompressed form (§4.6), whichever
// costs fewer multiply-adds (use_decompressed).
//
// It can hold only the first `n_layers` layers: the cuda backend runs a model's first layers
// whole on the CPU with it when even the split of routed experts does not fit the GPU
// (gpu_placement.h), then continues on the GPU from the residual stream it leaves.
//
// Memory beyond the map: the KV cache of its layers, activation buffers sized by the batch, and
// a float16 (float32 for float weights) copy of the per-head attention up-projections W_UKᵀ and
// W_UV of its layers.
#pragma once

#include "backend/backend.h"
#include "cpu/ffn_runner.h"
#include "cpu/quant_dot.h"
#include "cpu/thread_pool.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace latent::cpu {

// A run of consecutive batch tokens that extends one sequence's cache from position first_pos.
struct TokenRun {
    uint32_t sequence = 0;  // whose cache
    uint32_t first_pos = 0; // position of the run's first token
    size_t begin = 0;       // index of its first token in the batch
    size_t count = 0;       // tokens in the run
};

// Which attention form CpuForward uses (tests force each in turn; Auto: the cheaper one). The
// environment variable LATENT_CPU_ATTENTION=absorbed|decompressed sets it at start.
enum class AttentionForm { Auto, Absorbed, Decompressed };
void set_attention_form(AttentionForm form);

class CpuForward {
public:
    // Layers [0, n_layers) (clamped to the model's) with caches of options.n_ctx positions for
    // each of n_sequences sequences.
    CpuForward(const Model& model, const BackendOptions& options, uint32_t n_sequences, uint32_t n_layers);

    // The whole model (n_layers must be every layer): evaluates tokens (validated by the caller)
    // placed by runs (in batch order, covering it), writes their cache rows and the logits of
    // logit_rows (ascending batch indices).
    void forward(std::span<const int32_t> tokens, std::span<const TokenRun> runs, std::span<const uint32_t> logit_rows, float* logits);

    // x (n × D) = the token embeddings.
    void embed(std::span<const int32_t> tokens, std::vector<float>& x) const;
    // Runs this object's layers on the residual stream x (n × D) in place, writing cache rows.
    void run_layers(std::vector<float>& x, std::span<const TokenRun> runs);

    uint32_t n_layers() const { return n_layers_; }
    FfnRunner& ffn() { return ffn_; }

private:
    // Per-layer views the forward pass needs beyond the bound tensors.
    struct LayerViews {
        std::vector<WeightMatrix> wk_t; // per head: r_kv rows × d_n (W_UK,hᵀ): q_latent = wk_t · q_nope
        std::vector<WeightMatrix> wv;   // per head: d_v rows × r_kv (W_UV,h): o_h = wv · o_latent
        size_t wk_t_bytes = 0, wv_bytes = 0; // of the layer's copies in absorbed_store_
        std::vector<float> attn_norm, ffn_norm, q_a_norm, kv_a_norm, selection_bias;
    };

    void matmul(const WeightMatrix& wm, const float* x, size_t n, float* y) { ffn_.matmul(wm, x, n, y); }
    void matmul_precise(const WeightMatrix& wm, const float* x, size_t n, float* y) { ffn_.matmul_precise(wm, x, n, y); }
    void prepare_layers();
    void prefault_weights();
    void reload_small_pages(const std::vector<const gguf::TensorInfo*>& tensors);
    void attention(uint32_t il, const LayerWeights& lw, const LayerViews& lv, const std::vector<float>& xn, size_t n, std::span<const TokenRun> runs);
    bool use_decompressed(std::span<const TokenRun> runs) const;
    // Both fill o (n × H × d_v): each head's attention output before W_O.
    void attention_absorbed(uint32_t il, const LayerViews& lv, size_t n, std::span<const TokenRun> runs, std::vector<float>& o);
    void attention_decompressed(uint32_t il, const LayerViews& lv, std::span<const TokenRun> runs, std::vector<float>& o);
    void dense_ffn(const gguf::TensorInfo& gate, const gguf::TensorInfo& up, const gguf::TensorInfo& down, const float* x, size_t n, std::vector<float>& out);
    void moe(const LayerWeights& lw, const LayerViews& lv, const std::vector<float>& xn, size_t n);

    const Model& model_;
    const ModelConfig& c_;
    BackendOptions options_;
    uint32_t n_layers_ = 0;
    ThreadPool pool_;
    FfnRunner ffn_;
    uint32_t row_width_ = 0;
    size_t elem_bytes_ = 4;
    // Per sequence, one buffer of every layer's cache (n_ctx rows of [c̃ ‖ RoPE(k_pe)] in f16 or
    // f32 per layer, layer after layer), in 2 MiB pages where the system allows: a decode step
    // at a long context reads every row of every layer, and with 4 KiB pages each one costs a
    // TLB miss. cache_rows(sequence, layer) is a layer's first row.
    std::vector<AlignedArray<uint8_t>> caches_;
    size_t layer_cache_bytes_ = 0;
    uint8_t* cache_rows(uint32_t sequence, uint32_t layer) { return caches_[sequence].data() + layer * layer_cache_bytes_; }
    std::vector<LayerViews> views_;
    std::vector<uint8_t> absorbed_store_; // every layer's W_UK,hᵀ and W_UV,h copies (prepare_layers)
    std::vector<float> output_norm_;
    std::vector<float> buf_queries_, buf_gathered_, buf_latents_;
    // attention_decompressed's scratch, one set per concurrent task (at most the pool's size).
    struct HeadScratch {
        std::vector<float> wk, wv, decoded, k_nope, keys, values_t, queries, scores, out;
        std::vector<uint32_t> valid;
    };
    std::vector<HeadScratch> head_scratch_;
    // attention_absorbed's per-head projections: one set per pool thread.
    struct AbsorbedScratch {
        std::vector<float> gathered, projected;
        ActivationBuffer act;
    };
    std::vector<AbsorbedScratch> absorbed_scratch_;
    template <class Body>
    void for_each_head(Body&& body);
    static void project_rows(AbsorbedScratch& s, const WeightMatrix& w, const float* src, size_t stride, size_t n, ThreadPool* pool);
    std::vector<float> buf_x_, buf_xn_, buf_q_, buf_kv_, buf_o_, buf_out_, buf_tmp_;
};

} // namespace latent::cpu
