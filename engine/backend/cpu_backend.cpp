// The `cpu` backend: the same forward pass as `ref`, fast (the pass itself: cpu/cpu_forward.h).
// Weights are used in place from the read-only map; activations are quantised once per matmul
// and dotted against quantised weight blocks (engine/cpu/quant_dot.h) on a persistent thread
// pool. Attention always runs in the absorbed form (§4.7): the latent cache rows are the
// "weights" of a batched matmul against all heads' latent-space queries. MoE groups the batch's
// tokens by expert so each chosen expert's weights are read once per batch, and only the chosen
// experts are touched.
//
// Memory beyond the map: the KV cache, activation buffers sized by the batch, and a float16
// (float32 for float weights) copy of the per-head attention up-projections W_UKᵀ and W_UV
// (n_layer·H·r_kv·(d_n + d_v)·2 bytes: 108 MiB for V2-Lite), which the absorbed form multiplies
// with float activations.
#include "backend/backend.h"
#include "backend/backend_common.h"
#include "backend/multi_sequence.h"

#include "core/error.h"
#include "cpu/cpu_forward.h"

namespace latent {
namespace {

using cpu::CpuForward;
using cpu::TokenRun;

// One sequence: the backend every single-conversation caller uses.
class CpuBackend final : public SequenceBackend {
public:
    CpuBackend(const Model& model, const BackendOptions& options)
        : SequenceBackend(model, options), forward_(model, options, 1, model.config().n_layer) {}

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
        : model_(model), options_(checked_options(options)), n_cached_(n_sequences, 0), forward_(model, options, n_sequences, model.config().n_layer) {}

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
