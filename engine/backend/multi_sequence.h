// Many sequences in one forward pass (continuous batching, for `latent serve --parallel N`).
//
// A MultiSequenceBackend owns N latent KV caches of n_ctx positions each (MLA keeps them small:
// (kv_lora_rank + rope dim) values per layer and position) and evaluates, in one call, a slice
// of new tokens for each of several sequences. The weight matmuls take every slice's tokens as
// one batch, so the weights are read once for all of them; attention runs per sequence over its
// own cache. Sequences join and leave between calls: a slice only names the sequence it extends.
//
// Agreement with running each sequence alone on the single-sequence backend of the same kind:
//   - cpu: bit for bit whenever the call's batch (all slices' tokens together) is below
//     cpu::kBatchKernelMinTokens (the per-row quantised kernels do not depend on how tokens are
//     grouped, and attention is computed per slice exactly as the single backend computes a
//     batch of that size), so decode steps of up to 5 sequences give the same tokens as one by
//     one; larger batches take the batch kernel, whose rounding differs by a few ulps.
//   - sequential (below): always, it is the single backend run slice by slice — the oracle.
#pragma once

#include "backend/backend.h"

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace latent {

struct SequenceSlice {
    uint32_t sequence = 0;            // which cache, 0 … n_sequences() − 1
    std::span<const int32_t> tokens;  // evaluated at positions n_cached(sequence) … (not empty)
    bool logits = false;              // wants the logits after its last token
};

class MultiSequenceBackend {
public:
    virtual ~MultiSequenceBackend() = default;

    virtual std::string_view name() const = 0;
    virtual const Model& model() const = 0;
    virtual uint32_t n_sequences() const = 0;
    virtual uint32_t context_size() const = 0;               // positions each cache holds
    virtual uint32_t n_cached(uint32_t sequence) const = 0;  // positions [0, n) of that cache hold rows
    // Forgets that sequence's rows at positions >= n (n <= n_cached(sequence)).
    virtual void truncate(uint32_t sequence, uint32_t n) = 0;

    // Evaluates every slice in one batch and appends their cache rows. Writes one row of n_vocab
    // logits per slice with `logits` set, in slice order. A sequence may appear in at most one
    // slice per call. Throws latent::Error for an invalid call (unknown or repeated sequence, an
    // empty slice, a slice that does not fit its context, a token id outside the vocabulary) and
    // ModelFileChanged when the model's file was truncated; no cache changes then.
    virtual void evaluate(std::span<const SequenceSlice> slices, float* logits) = 0;
};

// The cpu backend's batched form: n_sequences caches, one threaded forward pass per call.
std::unique_ptr<MultiSequenceBackend> create_cpu_multi_backend(const Model& model, const BackendOptions& options, uint32_t n_sequences);

// One single-sequence backend per sequence, run one slice after another: the oracle for the
// batched backends, and the way to serve several sequences on a backend that does not batch.
// Takes ownership; every backend must be for the same model and context size.
std::unique_ptr<MultiSequenceBackend> create_sequential_multi_backend(std::vector<std::unique_ptr<Backend>> backends);

} // namespace latent
