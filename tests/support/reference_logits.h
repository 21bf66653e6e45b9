// Reference logits in the conformance kit's JSON form, and the kit's comparison with them (its
// README's tolerances), shared by the suites that check the engine against an independent
// implementation: the kit itself (test_forward_conformance) and the demo model's PyTorch logits
// (test_demo_model).
#pragma once

#include "backend/backend.h"
#include "model/model.h"

#include <QJsonObject>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace latent::test {

// One prompt's reference: its token ids, per position the log-sum-exp and the top logits
// (id, value), and the greedy continuation.
struct ReferenceLogits {
    std::string text; // the prompt, where the file has it
    std::vector<int32_t> tokens;
    std::vector<double> lse;
    std::vector<std::vector<std::pair<int32_t, double>>> top;
    std::vector<int32_t> greedy;
};

ReferenceLogits parse_reference_logits(const QJsonObject& o);

double log_sum_exp(const float* v, size_t n);
int32_t argmax(const float* v, size_t n);

// Logits of every position (rows of n_vocab) against the reference. Strict (the kit's float
// tolerance): every listed logit and every lse within 2e-3 and the same top-1 everywhere; the
// first violation is in `failure`. Otherwise only the statistics are filled, for the fast-path
// tolerance (mean |dlogit| <= 0.15, top-1 agreement >= 85%), which `failure` also reports.
struct ReferenceCheck {
    double max_err = 0, mean_err = 0, top1 = 0;
    std::string failure; // empty: within the tolerance asked for
};
ReferenceCheck check_reference_logits(const std::vector<float>& logits, size_t n_vocab, const ReferenceLogits& e, bool strict);

// The backend the suites compare: "ref", "cpu" or "cuda" (the GPU plugin; on the CPU emulator
// when LATENT_GPU_EMULATOR=1, with an f16 cache as the GPU keeps it). Null with `skip` set when
// there is no GPU plugin; throws if "cuda" fell back to another backend.
std::unique_ptr<Backend> backend_named(const Model& m, const std::string& name, BackendOptions options, std::string* skip);

// The greedy continuation of e.greedy.size() tokens from the batch's last row, one token at a time
// through the backend's cache.
std::vector<int32_t> greedy_continuation(Backend& b, const std::vector<float>& logits, size_t n_vocab, size_t n);

} // namespace latent::test
