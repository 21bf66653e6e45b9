// Argmax and top-k on the device against the sampler's own argmax and top_k_reference: the same
// ids in the same order (ties by lower id, NaN as -inf).
#include "gpu_test.h"
#include "logits.h"
#include "sampling/sampler.h"

#include <QTest>

#include <cmath>

using namespace latent;
using namespace latent::sampling;

namespace {

// Logits with many exact ties (values on a coarse grid) and a few NaN.
std::vector<float> tie_heavy_logits(test::Random& random, int64_t count) {
    std::vector<float> logits(count);
    for (float& v : logits) v = static_cast<float>(static_cast<int>(random.bits() % 64)) * 0.25f - 8.0f;
    for (int64_t i = 0; i < count / 50; ++i) logits[random.bits() % count] = NAN;
    return logits;
}

} // namespace

class TestLogits : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() { LATENT_REQUIRE_GPU(); }

    void argmax_and_top_k_match_the_sampler_data() {
        QTest::addColumn<int>("n_vocab");
        QTest::addColumn<int>("k");
        for (int n_vocab : {1, 31, 1000, 5000}) { // 5000: three first-pass chunks, the last partial
            for (int k : {1, 8, 40}) {
                if (k <= n_vocab) QTest::addRow("v%d_k%d", n_vocab, k) << n_vocab << k;
            }
        }
        QTest::addRow("v32000_k4") << 32000 << 4;
        if (test::gpu_big_grids()) QTest::addRow("v102400_k64") << 102400 << 64;
    }

    void argmax_and_top_k_match_the_sampler() {
        QFETCH(int, n_vocab);
        QFETCH(int, k);
        const int64_t n_rows = 3;
        test::Random random(static_cast<uint32_t>(n_vocab * 7 + k));
        const auto logits = tie_heavy_logits(random, n_vocab * n_rows);
        const gpu::Buffer dlogits = gpu::upload(logits);
        gpu::Buffer argmax_ids = test::poisoned_buffer<int32_t>(n_rows);
        gpu::Buffer top_ids = test::poisoned_buffer<int32_t>(n_rows * k), top_values = test::poisoned_buffer<float>(n_rows * k);
        gpu::Buffer scratch = test::poisoned_buffer<uint8_t>(kernels::logits_scratch_bytes(n_vocab, n_rows, k));
        kernels::logits_argmax(argmax_ids.as<int32_t>(), dlogits.as<float>(), n_vocab, n_rows, scratch.data());
        kernels::logits_top_k(top_ids.as<int32_t>(), top_values.as<float>(), dlogits.as<float>(), n_vocab, n_rows, k, scratch.data());
        const auto got_argmax = gpu::download<int32_t>(argmax_ids);
        const auto got_ids = gpu::download<int32_t>(top_ids);
        const auto got_values = gpu::download<float>(top_values);
        for (int64_t r = 0; r < n_rows; ++r) {
            CandidateList list;
            list.assign(std::span<const float>(logits.data() + r * n_vocab, n_vocab));
            bool any_finite = false;
            for (const auto& c : list.items) any_finite |= c.logit > -INFINITY;
            QCOMPARE(got_argmax[r], any_finite ? argmax(list) : -1);
            top_k_reference(list, k);
            for (int i = 0; i < k && i < static_cast<int>(list.items.size()); ++i) {
                QCOMPARE(got_ids[r * k + i], list.items[i].id);
                QCOMPARE(got_values[r * k + i], list.items[i].logit);
            }
        }
    }

    void a_row_without_finite_logits_gives_minus_one() {
        const std::vector<float> logits = {NAN, -INFINITY, NAN};
        const gpu::Buffer d = gpu::upload(logits);
        gpu::Buffer id = test::poisoned_buffer<int32_t>(1), scratch(kernels::logits_scratch_bytes(3, 1, 1));
        kernels::logits_argmax(id.as<int32_t>(), d.as<float>(), 3, 1, scratch.data());
        QCOMPARE(gpu::download<int32_t>(id)[0], -1);
    }

    void bad_k_is_refused() {
        gpu::Buffer b(64);
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, kernels::logits_top_k(b.as<int32_t>(), b.as<float>(), b.as<float>(), 4, 1, 5, b.data()));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, kernels::logits_top_k(b.as<int32_t>(), b.as<float>(), b.as<float>(), 4, 1, 0, b.data()));
    }
};

QTEST_GUILESS_MAIN(TestLogits)
#include "test_logits.moc"
