// The sequential multi-sequence backend: one single-sequence backend per sequence, slices run
// one after another (see multi_sequence.h).
#include "backend/multi_sequence.h"

#include "backend/backend_common.h"
#include "core/error.h"

namespace latent {
namespace {

class SequentialMultiBackend final : public MultiSequenceBackend {
public:
    explicit SequentialMultiBackend(std::vector<std::unique_ptr<Backend>> backends) : backends_(std::move(backends)) {
        if (backends_.empty()) throw Error("a multi-sequence backend needs at least one sequence");
        for (const auto& b : backends_) {
            if (&b->model() != &backends_[0]->model() || b->context_size() != backends_[0]->context_size()) {
                throw Error("sequential multi-sequence backend: every sequence needs the same model and context size");
            }
        }
    }

    std::string_view name() const override { return backends_[0]->name(); }
    const Model& model() const override { return backends_[0]->model(); }
    uint32_t n_sequences() const override { return static_cast<uint32_t>(backends_.size()); }
    uint32_t context_size() const override { return backends_[0]->context_size(); }
    uint32_t n_cached(uint32_t sequence) const override { return backends_.at(sequence)->n_cached(); }
    void truncate(uint32_t sequence, uint32_t n) override {
        if (sequence >= backends_.size()) throw Error("truncate: no sequence " + std::to_string(sequence));
        backends_[sequence]->truncate(n);
    }

    void evaluate(std::span<const SequenceSlice> slices, float* logits) override {
        std::vector<uint32_t> n_cached;
        for (const auto& b : backends_) n_cached.push_back(b->n_cached());
        check_slices(model(), n_cached, context_size(), slices);
        const size_t n_vocab = model().config().n_vocab;
        size_t row = 0;
        try {
            for (const SequenceSlice& slice : slices) {
                const uint32_t last = static_cast<uint32_t>(slice.tokens.size() - 1);
                if (slice.logits) {
                    backends_[slice.sequence]->evaluate(slice.tokens, std::span<const uint32_t>(&last, 1), logits + row * n_vocab);
                    ++row;
                } else {
                    backends_[slice.sequence]->evaluate(slice.tokens, {}, nullptr);
                }
            }
        } catch (...) {
            for (size_t s = 0; s < backends_.size(); ++s) {
                if (backends_[s]->n_cached() > n_cached[s]) backends_[s]->truncate(n_cached[s]); // all or nothing
            }
            throw;
        }
    }

private:
    std::vector<std::unique_ptr<Backend>> backends_;
};

} // namespace

std::unique_ptr<MultiSequenceBackend> create_sequential_multi_backend(std::vector<std::unique_ptr<Backend>> backends) {
    return std::make_unique<SequentialMultiBackend>(std::move(backends));
}

} // namespace latent
