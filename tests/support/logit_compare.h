// Helpers the forward-pass suites share: generated models, token sequences, logits of a batch
// and the comparison of two logit matrices.
#pragma once

#include "backend/backend.h"
#include "model/model.h"
#include "model/model_builder.h"

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

std::unique_ptr<Model> build_and_load(const QTemporaryDir& dir, const QString& name, const ModelShape& shape, const BuildOptions& options);

} // namespace latent::test
