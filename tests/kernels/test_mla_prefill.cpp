// MLA prefill attention (kernels/mla_prefill.cu) against the engine's reference, called per query
// token with its causal key count: chunks of 1 to 64 new tokens after 0 to 100 cached ones, head
// counts that fill a block with several tokens (1, 4) or split into head groups (16, 20), f16 and
// bf16, padded rows; the output is poisoned (NaN) before every run.
#include "gpu_test.h"
#include "mla_runner.h"
#include "mla_test_data.h"
#include "quant_test_data.h"

#include "device.h"

#include <QtTest>

using namespace latent;
using test::MlaShape;

class MlaPrefillTest : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() {
        LATENT_REQUIRE_GPU();
    }

    void matchesReference_data() {
        QTest::addColumn<MlaShape>("s");
        struct Row {
            uint32_t heads, latent, rope, cached, tokens;
            kernels::QuantType type;
        };
        std::vector<Row> rows = {
            {1, 64, 32, 0, 1, kernels::QuantType::F16},   {1, 64, 32, 0, 33, kernels::QuantType::F16},
            {4, 64, 32, 9, 7, kernels::QuantType::BF16},  {4, 32, 8, 100, 40, kernels::QuantType::F16},
            {16, 64, 32, 0, 64, kernels::QuantType::F16}, {20, 32, 8, 5, 9, kernels::QuantType::BF16},
            {3, 64, 16, 50, 5, kernels::QuantType::F16},  {16, 512, 64, 20, 12, kernels::QuantType::BF16},
        };
        if (test::gpu_big_grids()) {
            rows.push_back({16, 512, 64, 0, 512, kernels::QuantType::F16});
            rows.push_back({16, 512, 64, 4096, 64, kernels::QuantType::BF16}); // the CPU reference bounds the size
        }
        for (const Row& r : rows) {
            MlaShape s;
            s.n_heads = r.heads;
            s.latent_dim = r.latent;
            s.rope_dim = r.rope;
            s.n_tokens = r.tokens;
            s.n_keys = r.cached + r.tokens;
            s.cache_type = r.type;
            if (r.heads == 3) s.row_stride = 96;
            QTest::newRow(s.name().c_str()) << s;
        }
    }
    void matchesReference() {
        QFETCH(MlaShape, s);
        test::Random random(test::test_seed() ^ (s.n_keys * 131u + s.n_heads));
        const test::MlaInputs in = test::random_mla_inputs(s, random);
        // The decode test's limits: outputs are convex combinations of unit-scale latents.
        LATENT_COMPARE_FLOATS(test::run_mla(s, in, test::MlaMode::Prefill), test::mla_reference(s, in), 1e-3, 1e-4);
    }
};

QTEST_GUILESS_MAIN(MlaPrefillTest)
#include "test_mla_prefill.moc"
