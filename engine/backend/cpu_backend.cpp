// The `cpu` backend: the same forward pass as `ref`, fast. Weights are used in place from the
// read-only map; activations are quantised once per matmul and dotted against quantised weight
// blocks (engine/cpu/quant_dot.h) on a persistent thread pool. Attention always runs in the
// absorbed form (§4.7): the latent cache rows are the "weights" of a batched matmul against all
// heads' latent-space queries. MoE groups the batch's tokens by expert so each chosen expert's
// weights are read once per batch, and only the chosen experts are touched.
//
// Memory beyond the map: the KV cache, activation buffers sized by the batch, and a float16
// (float32 for float weights) copy of the per-head attention up-projections W_UKᵀ and W_UV
// (n_layer·H·r_kv·(d_n + d_v)·2 bytes: 108 MiB for V2-Lite), which the absorbed form multiplies
// with float activations.
#include "backend/backend.h"
#include "backend/backend_common.h"
#include "backend/multi_sequence.h"

#include "core/error.h"
#include "cpu/ffn_runner.h"
#include "cpu/latent_attention.h"
#include "cpu/quant_dot.h"
#include "cpu/thread_pool.h"
#include "tensor/tensor_types.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

namespace latent {
namespace {

using cpu::WeightMatrix;

WeightMatrix matrix_of(const gguf::TensorInfo& t) { return cpu::weight_matrix(t); }

void rms_norm_rows(float* x, size_t n, size_t width, const float* gain, float eps) {
    for (size_t t = 0; t < n; ++t) {
        float* v = x + t * width;
        double sum = 0.0;
        for (size_t i = 0; i < width; ++i) sum += static_cast<double>(v[i]) * v[i];
        const float scale = 1.0f / std::sqrt(static_cast<float>(sum / static_cast<double>(width)) + eps);
        for (size_t i = 0; i < width; ++i) v[i] = (v[i] * scale) * gain[i];
    }
}

// Per-layer views the forward pass needs beyond the bound tensors.
struct LayerViews {
    std::vector<WeightMatrix> wk_t; // per head: r_kv rows × d_n (W_UK,hᵀ): q_latent = wk_t · q_nope
    std::vector<WeightMatrix> wv;   // per head: d_v rows × r_kv (W_UV,h): o_h = wv · o_latent
    std::vector<uint8_t> wk_t_store; // owns wk_t: H × r_kv × d_n in copy_type
    std::vector<uint8_t> wv_store;   // owns wv: H × d_v × r_kv in copy_type
    std::vector<float> attn_norm, ffn_norm, q_a_norm, kv_a_norm, selection_bias;
};

// Wall time per forward-pass section, printed at debug level after each evaluate (latent -v)
// so a slow section shows up without a profiler.
struct SectionTimes {
    double attention_in = 0, attention = 0, attention_out = 0, dense = 0, router = 0, experts = 0, shared = 0, head = 0;
};

class ScopedTimer {
public:
    explicit ScopedTimer(double& sink) : sink_(sink), start_(std::chrono::steady_clock::now()) {}
    ~ScopedTimer() { sink_ += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count(); }
    ScopedTimer(const ScopedTimer&) = delete;
    ScopedTimer& operator=(const ScopedTimer&) = delete;

private:
    double& sink_;
    std::chrono::steady_clock::time_point start_;
};

// A run of consecutive batch tokens that extends one sequence's cache from position first_pos.
struct TokenRun {
    uint32_t sequence = 0;  // whose cache
    uint32_t first_pos = 0; // position of the run's first token
    size_t begin = 0;       // index of its first token in the batch
    size_t count = 0;       // tokens in the run
};

// The forward pass over a batch whose tokens may belong to several sequences, each with its
// own latent cache. Everything but attention treats the batch as one matrix of tokens (each
// weight is read once per batch); attention runs per run over that run's cache.
class CpuForward {
public:
    CpuForward(const Model& model, const BackendOptions& options, uint32_t n_sequences)
        : model_(model), c_(model.config()), options_(options), pool_(options.n_threads), ffn_(model.config(), pool_) {
        if (options.cache_type == KvCacheType::BF16) throw Error("a bf16 KV cache needs the cuda backend; use --cache-type f16 or f32");
        row_width_ = c_.kv_lora_rank + c_.qk_rope_dim;
        elem_bytes_ = options.cache_type == KvCacheType::F16 ? 2 : 4;
        caches_.resize(n_sequences);
        for (auto& cache : caches_) {
            cache.resize(c_.n_layer);
            for (auto& layer : cache) layer.assign(static_cast<size_t>(options.n_ctx) * row_width_ * elem_bytes_, 0);
        }
        prepare_layers();
    }

    // Evaluates tokens (validated by the caller) placed by runs (in batch order, covering it),
    // writes their cache rows and the logits of logit_rows (ascending batch indices).
    void forward(std::span<const int32_t> tokens, std::span<const TokenRun> runs, std::span<const uint32_t> logit_rows, float* logits) {
        const ModelWeights& w = model_.weights();
        const size_t n = tokens.size(), d = c_.n_embd;

        std::vector<float>& x = buf_x_;
        x.resize(n * d);
        const size_t embd_row_bytes = tensor_row_bytes(w.token_embd->type, static_cast<int64_t>(d));
        for (size_t t = 0; t < n; ++t) dequantize_row(w.token_embd->type, w.token_embd->data + static_cast<size_t>(tokens[t]) * embd_row_bytes, x.data() + t * d, static_cast<int64_t>(d));

        std::vector<float>& xn = buf_xn_;
        for (uint32_t il = 0; il < c_.n_layer; ++il) {
            const LayerWeights& lw = w.layers[il];
            const LayerViews& lv = views_[il];
            xn = x;
            rms_norm_rows(xn.data(), n, d, lv.attn_norm.data(), c_.rms_eps);
            attention(il, lw, lv, xn, n, runs);
            for (size_t i = 0; i < n * d; ++i) x[i] += buf_out_[i];

            xn = x;
            rms_norm_rows(xn.data(), n, d, lv.ffn_norm.data(), c_.rms_eps);
            if (lw.is_moe) moe(lw, lv, xn, n);
            else dense_ffn(*lw.ffn_gate, *lw.ffn_up, *lw.ffn_down, xn.data(), n, buf_out_);
            for (size_t i = 0; i < n * d; ++i) x[i] += buf_out_[i];
        }
        if (!logit_rows.empty()) {
            std::vector<float> rows(logit_rows.size() * d);
            for (size_t r = 0; r < logit_rows.size(); ++r) std::copy_n(x.data() + logit_rows[r] * d, d, rows.data() + r * d);
            rms_norm_rows(rows.data(), logit_rows.size(), d, output_norm_.data(), c_.rms_eps);
            matmul(matrix_of(*w.output), rows.data(), logit_rows.size(), logits);
        }
    }

private:
    void matmul(const WeightMatrix& wm, const float* x, size_t n, float* y) { ffn_.matmul(wm, x, n, y); }
    void matmul_precise(const WeightMatrix& wm, const float* x, size_t n, float* y) { ffn_.matmul_precise(wm, x, n, y); }

    static std::vector<float> decode_vector(const gguf::TensorInfo* t) {
        if (!t) return {};
        std::vector<float> v(t->ne[0]);
        dequantize_row(t->type, t->data, v.data(), static_cast<int64_t>(t->ne[0]));
        return v;
    }

    // Per-head up-projections as float matrices, for both file layouts: the absorbed form
    // multiplies them with float activations (the latent query and the attention-weighted
    // latent), which keeps attention as exact as the decompressed form, where each key's latent
    // is rounded separately and the rounding averages out over the keys. Quantised weights are
    // kept as float16 (their own rounding is far coarser than f16's), float weights as float32
    // (exactly the decoded values).
    void prepare_layers() {
        const ModelWeights& w = model_.weights();
        const uint32_t H = c_.n_head, dn = c_.qk_nope_dim, dv = c_.v_head_dim, rkv = c_.kv_lora_rank;
        output_norm_ = decode_vector(w.output_norm);
        views_.resize(c_.n_layer);
        for (uint32_t il = 0; il < c_.n_layer; ++il) {
            const LayerWeights& lw = w.layers[il];
            LayerViews& v = views_[il];
            v.attn_norm = decode_vector(lw.attn_norm);
            v.ffn_norm = decode_vector(lw.ffn_norm);
            v.q_a_norm = decode_vector(lw.attn_q_a_norm);
            v.kv_a_norm = decode_vector(lw.attn_kv_a_norm);
            v.selection_bias = decode_vector(lw.exp_probs_b);
            const gguf::TensorInfo* source = lw.attn_kv_b ? lw.attn_kv_b : lw.attn_k_b;
            const bool float_source = cpu::activation_format(source->type) == cpu::ActivationFormat::F32;
            const TensorType copy_type = float_source ? TensorType::F32 : TensorType::F16;
            const size_t elem = float_source ? 4 : 2;
            auto matrix = [&](const std::vector<uint8_t>& store, size_t offset, int64_t rows, int64_t cols) {
                WeightMatrix m;
                m.type = copy_type;
                m.rows = rows;
                m.cols = cols;
                m.row_bytes = static_cast<size_t>(cols) * elem;
                m.data = store.data() + offset * elem;
                return m;
            };
            absorbed_head_matrices(model_, il, float_source, v.wk_t_store, v.wv_store);
            for (uint32_t h = 0; h < H; ++h) {
                v.wk_t.push_back(matrix(v.wk_t_store, static_cast<size_t>(h) * rkv * dn, rkv, dn));
                v.wv.push_back(matrix(v.wv_store, static_cast<size_t>(h) * dv * rkv, dv, rkv));
            }
        }
    }

    void attention(uint32_t il, const LayerWeights& lw, const LayerViews& lv, const std::vector<float>& xn, size_t n, std::span<const TokenRun> runs) {
        const uint32_t H = c_.n_head, dqk = c_.qk_head_dim, dn = c_.qk_nope_dim, dr = c_.qk_rope_dim, dv = c_.v_head_dim, rkv = c_.kv_lora_rank;
        std::vector<float>& q = buf_q_;
        q.resize(n * H * dqk);
        if (c_.q_compressed()) {
            std::vector<float>& qa = buf_tmp_;
            qa.resize(n * c_.q_lora_rank);
            matmul_precise(matrix_of(*lw.attn_q_a), xn.data(), n, qa.data());
            rms_norm_rows(qa.data(), n, c_.q_lora_rank, lv.q_a_norm.data(), c_.rms_eps);
            matmul_precise(matrix_of(*lw.attn_q_b), qa.data(), n, q.data());
        } else {
            matmul_precise(matrix_of(*lw.attn_q), xn.data(), n, q.data());
        }
        std::vector<float>& kv = buf_kv_;
        kv.resize(n * (rkv + dr));
        matmul_precise(matrix_of(*lw.attn_kv_a_mqa), xn.data(), n, kv.data());

        // Cache rows and roped queries.
        std::vector<float> cos_table(dr / 2), sin_table(dr / 2);
        for (const TokenRun& run : runs) for (size_t t = run.begin; t < run.begin + run.count; ++t) {
            const uint32_t pos = run.first_pos + static_cast<uint32_t>(t - run.begin);
            float* row = kv.data() + t * (rkv + dr);
            rms_norm_rows(row, 1, rkv, lv.kv_a_norm.data(), c_.rms_eps);
            rope_angles(c_, pos, cos_table.data(), sin_table.data());
            apply_rope(row + rkv, dr, cos_table.data(), sin_table.data());
            uint8_t* dst = caches_[run.sequence][il].data() + static_cast<size_t>(pos) * row_width_ * elem_bytes_;
            if (elem_bytes_ == 2) {
                for (uint32_t i = 0; i < row_width_; ++i) {
                    const uint16_t h = fp32_to_fp16(row[i]);
                    std::memcpy(dst + i * 2, &h, 2);
                }
            } else {
                std::memcpy(dst, row, row_width_ * 4);
            }
            for (uint32_t h = 0; h < H; ++h) apply_rope(q.data() + (t * H + h) * dqk + dn, dr, cos_table.data(), sin_table.data());
        }

        // Latent-space queries [W_UKᵀ q_nope ‖ q_rope] for every token and head: one matmul per
        // head over the whole batch, so each head's matrix is read once per batch.
        const size_t qw = row_width_;
        std::vector<float>& queries = buf_queries_;
        queries.resize(n * H * qw);
        std::vector<float>& gathered = buf_gathered_;
        std::vector<float>& projected = buf_projected_;
        for (uint32_t h = 0; h < H; ++h) {
            gathered.resize(n * dn);
            for (size_t t = 0; t < n; ++t) std::copy_n(q.data() + (t * H + h) * dqk, dn, gathered.data() + t * dn);
            projected.resize(n * rkv);
            matmul(lv.wk_t[h], gathered.data(), n, projected.data());
            for (size_t t = 0; t < n; ++t) {
                float* dst = queries.data() + (t * H + h) * qw;
                std::copy_n(projected.data() + t * rkv, rkv, dst);
                std::copy_n(q.data() + (t * H + h) * dqk + dn, dr, dst + rkv);
            }
        }

        // Attention of each token over its sequence's cache rows up to its position: a run of
        // many tokens (prefill) runs in parallel, one token per thread; a shorter run (a decode
        // step) splits each token's keys across the threads. The choice is made per run, so a
        // sequence in a batch with others is computed exactly as it would be alone.
        std::vector<float>& latents = buf_latents_;
        latents.resize(n * H * rkv);
        for (const TokenRun& run : runs) {
            cpu::LatentCache cache;
            cache.rows = caches_[run.sequence][il].data();
            cache.type = options_.cache_type == KvCacheType::F16 ? TensorType::F16 : TensorType::F32;
            cache.row_width = row_width_;
            cache.latent_width = rkv;
            cache.row_bytes = static_cast<size_t>(row_width_) * elem_bytes_;
            auto attend = [&](size_t i, cpu::ThreadPool* pool) {
                thread_local cpu::LatentAttentionScratch scratch;
                const size_t t = run.begin + i;
                const uint32_t n_keys = run.first_pos + static_cast<uint32_t>(i) + 1;
                cpu::latent_attention(queries.data() + t * H * qw, H, cache, n_keys, c_.kq_scale, latents.data() + t * H * rkv, pool, scratch);
            };
            if (run.count >= pool_.size() && pool_.size() > 1) {
                pool_.parallel_for(run.count, [&](size_t i, unsigned) { attend(i, nullptr); });
            } else {
                for (size_t i = 0; i < run.count; ++i) attend(i, &pool_);
            }
        }

        // Values: W_UV per head over the batch's attention-weighted latents.
        std::vector<float>& o = buf_o_;
        o.resize(n * H * dv);
        for (uint32_t h = 0; h < H; ++h) {
            gathered.resize(n * rkv);
            for (size_t t = 0; t < n; ++t) std::copy_n(latents.data() + (t * H + h) * rkv, rkv, gathered.data() + t * rkv);
            projected.resize(n * dv);
            matmul(lv.wv[h], gathered.data(), n, projected.data());
            for (size_t t = 0; t < n; ++t) std::copy_n(projected.data() + t * dv, dv, o.data() + (t * H + h) * dv);
        }
        buf_out_.resize(n * c_.n_embd);
        matmul(matrix_of(*lw.attn_output), o.data(), n, buf_out_.data());
    }

    void dense_ffn(const gguf::TensorInfo& gate, const gguf::TensorInfo& up, const gguf::TensorInfo& down, const float* x, size_t n, std::vector<float>& out) {
        out.resize(n * c_.n_embd);
        ffn_.swiglu(matrix_of(gate), matrix_of(up), matrix_of(down), x, n, out.data(), true);
    }

    void moe(const LayerWeights& lw, const LayerViews& lv, const std::vector<float>& xn, size_t n) {
        buf_out_.resize(n * c_.n_embd);
        ffn_.moe(lw, lv.selection_bias, xn.data(), n, buf_out_.data());
    }

    const Model& model_;
    const ModelConfig& c_;
    BackendOptions options_;
    cpu::ThreadPool pool_;
    cpu::FfnRunner ffn_;
    uint32_t row_width_ = 0;
    size_t elem_bytes_ = 4;
    std::vector<std::vector<std::vector<uint8_t>>> caches_; // per sequence, per layer: n_ctx rows of [c̃ ‖ RoPE(k_pe)] in f16 or f32
    std::vector<LayerViews> views_;
    std::vector<float> output_norm_;
    std::vector<float> buf_queries_, buf_gathered_, buf_projected_, buf_latents_;
    std::vector<float> buf_x_, buf_xn_, buf_q_, buf_kv_, buf_o_, buf_out_, buf_tmp_;
};

// One sequence: the backend every single-conversation caller uses.
class CpuBackend final : public SequenceBackend {
public:
    CpuBackend(const Model& model, const BackendOptions& options) : SequenceBackend(model, options), forward_(model, options, 1) {}

    std::string_view name() const override { return "cpu"; }

    void evaluate(std::span<const int32_t> tokens, std::span<const uint32_t> logit_rows, float* logits) override {
        check_batch(model_, n_cached_, options_.n_ctx, tokens, logit_rows);
        const TokenRun run{0, n_cached_, 0, tokens.size()};
        forward_.forward(tokens, std::span<const TokenRun>(&run, 1), logit_rows, logits);
        commit_batch(tokens.size());
    }

private:
    CpuForward forward_;
};

class CpuMultiBackend final : public MultiSequenceBackend {
public:
    CpuMultiBackend(const Model& model, const BackendOptions& options, uint32_t n_sequences)
        : model_(model), options_(checked_options(options)), n_cached_(n_sequences, 0), forward_(model, options, n_sequences) {}

    std::string_view name() const override { return "cpu"; }
    const Model& model() const override { return model_; }
    uint32_t n_sequences() const override { return static_cast<uint32_t>(n_cached_.size()); }
    uint32_t context_size() const override { return options_.n_ctx; }
    uint32_t n_cached(uint32_t sequence) const override { return n_cached_.at(sequence); }

    void truncate(uint32_t sequence, uint32_t n) override {
        if (sequence >= n_cached_.size()) throw Error("truncate: no sequence " + std::to_string(sequence));
        if (n > n_cached_[sequence]) throw Error("truncate beyond the cached positions");
        n_cached_[sequence] = n;
    }

    void evaluate(std::span<const SequenceSlice> slices, float* logits) override {
        check_slices(model_, n_cached_, options_.n_ctx, slices);
        tokens_.clear();
        runs_.clear();
        logit_rows_.clear();
        for (const SequenceSlice& slice : slices) {
            runs_.push_back(TokenRun{slice.sequence, n_cached_[slice.sequence], tokens_.size(), slice.tokens.size()});
            tokens_.insert(tokens_.end(), slice.tokens.begin(), slice.tokens.end());
            if (slice.logits) logit_rows_.push_back(static_cast<uint32_t>(tokens_.size() - 1));
        }
        forward_.forward(tokens_, runs_, logit_rows_, logits);
        model_.check_files_intact(); // rows computed from pages lost under the batch are never kept
        for (const SequenceSlice& slice : slices) n_cached_[slice.sequence] += static_cast<uint32_t>(slice.tokens.size());
    }

private:
    static const BackendOptions& checked_options(const BackendOptions& options) {
        if (options.n_ctx == 0) throw Error("context size must be at least 1");
        return options;
    }

    const Model& model_;
    BackendOptions options_;
    std::vector<uint32_t> n_cached_; // per sequence
    CpuForward forward_;
    std::vector<int32_t> tokens_;
    std::vector<TokenRun> runs_;
    std::vector<uint32_t> logit_rows_;
};

} // namespace

std::unique_ptr<Backend> create_cpu_backend(const Model& model, const BackendOptions& options) {
    return std::make_unique<CpuBackend>(model, options);
}

std::unique_ptr<MultiSequenceBackend> create_cpu_multi_backend(const Model& model, const BackendOptions& options, uint32_t n_sequences) {
    if (n_sequences == 0) throw Error("a multi-sequence backend needs at least one sequence");
    return std::make_unique<CpuMultiBackend>(model, options, n_sequences);
}

} // namespace latent
