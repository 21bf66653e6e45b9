// Helpers the forward-pass suites share: generated models, token sequences, logits of a batch
// and the comparison of two logit matrices.
#pragma once

#include "backend/backend.h"
#include "model/model.h"
#include "model/model_builder.h"
#include "tensor/tensor_types.h"

#include <QString>
#include <QTemporaryDir>

#include <cstdint>
#include <memory>
#include <vector>

namespace latent::test {

// Logits of every position of `tokens` evaluated in one batch.
std::vector<float> all_logits(Backend& b, const std::vector<int32_t>& tokens);

// BOS then n ordinary byte tokens from a fixed LCG of `seed`.
std::vector<int32_t> test_tokens(const Model& m, size_t n, uint32_t seed);

struct Diff {
    double max_abs = 0, mean_abs = 0, max_rel = 0;
    double top1 = 1; // share of rows with the same argmax
};

// Compares two logit matrices of rows of n_vocab (max_rel: relative to the row's largest |logit|).
Diff compare(const std::vector<float>& a, const std::vector<float>& b, size_t n_vocab);

// For a fresh backend with n_ctx 8: a negative token id, an id past the vocabulary and a batch
// past the context are refused ("context full") with the cache unchanged; then a valid batch
// is accepted. Reports through QVERIFY (check QTest::currentTestFailed()).
void check_batch_errors_leave_cache_unchanged(Backend& b);

// A preset's shape with n_embd set; at 256 the other widths grow with it (every block type fits).
ModelShape preset_shape(const QString& preset, int n_embd);

// The weight types the "all <type>" rows force on every matrix (all but F32, which the schemes cover).
std::vector<TensorType> forced_weight_types();
// "q4_K" etc., as a QString for row names.
QString tensor_type_qname(TensorType t);

// Build options for `scheme` with `seed`; force_type >= 0 stores every matrix (except the router)
// whose rows hold whole blocks of that type in it.
BuildOptions scheme_build_options(const QString& scheme, int force_type, uint64_t seed);

// Whether the model's matrices are float (f32/f16/bf16 scheme, or a forced F16/BF16).
bool float_weights(const QString& scheme, int force_type);

std::unique_ptr<Model> build_and_load(const QTemporaryDir& dir, const QString& name, const ModelShape& shape, const BuildOptions& options);

} // namespace latent::test
