// Embedding gather for every weight type against the engine's dequantize_row (the oracle; the
// gather decodes exactly as it does, so the comparison is exact), on fresh random tables, with
// out-of-range ids and the output poisoned both ways (NaN bytes, then zeros) before each launch.
#include "common/quant_blocks.cuh"
#include "embedding.h"
#include "gpu_test.h"
#include "quant_test_data.h"

#include <QTest>

#include <climits>
#include <cmath>

using namespace latent;
using kernels::QuantType;

Q_DECLARE_METATYPE(QuantType)

class TestEmbedding : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() { LATENT_REQUIRE_GPU(); }

    void gather_data() {
        QTest::addColumn<QuantType>("type");
        QTest::addColumn<int>("cols");
        for (QuantType type : kernels::kAllQuantTypes) {
            const int block = kernels::quant::block_elements(type);
            const std::vector<int> shapes = block == 1 ? std::vector<int>{1, 33, 2048} : std::vector<int>{block, 2048 + block};
            for (int cols : shapes) {
                QTest::addRow("%s_cols%d", kernels::quant_type_name(type), cols) << type << cols;
            }
        }
    }

    void gather() {
        QFETCH(QuantType, type);
        QFETCH(int, cols);
        const int64_t n_vocab = 40;
        test::Random random(test::test_seed() ^ (static_cast<uint32_t>(type) * 7919u + static_cast<uint32_t>(cols)));
        const std::vector<uint8_t> table = test::random_quant_matrix(type, n_vocab, cols, random);
        const std::vector<float> decoded = test::dequantize_matrix(type, table, n_vocab, cols);
        std::vector<int32_t> ids = {0, 39, 17, 17, -1, 40, INT32_MIN, INT32_MAX, 23};
        for (int i = 0; i < 7; ++i) ids.push_back(static_cast<int32_t>(random.bits() % n_vocab));
        std::vector<float> expected;
        for (int32_t id : ids) {
            for (int c = 0; c < cols; ++c) expected.push_back(id >= 0 && id < n_vocab ? decoded[id * cols + c] : NAN);
        }
        const gpu::Buffer dtable = gpu::upload(table), dids = gpu::upload(ids);
        // NaN bytes first (an element left unwritten fails), then zeros (a NaN row left unwritten fails).
        for (int fill : {0xFF, 0x00}) {
            gpu::Buffer out = test::poisoned_buffer<float>(expected.size());
            gpu::device_memset(out.data(), fill, out.bytes());
            kernels::embedding_gather(out.as<float>(), dtable.data(), static_cast<uint32_t>(type), cols, n_vocab,
                                      dids.as<int32_t>(), static_cast<int64_t>(ids.size()));
            LATENT_COMPARE_FLOATS(gpu::download<float>(out), expected, 0.0);
        }
    }

    void bad_arguments_are_refused() {
        gpu::Buffer b(4096);
        // A type id outside QuantType (9 is Q8_1, which no kernel reads).
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                                 kernels::embedding_gather(b.as<float>(), b.data(), 9, 32, 1, b.as<int32_t>(), 1));
        // Block types need whole blocks per row.
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, kernels::embedding_gather(b.as<float>(), b.data(), 2 /* Q4_0 */, 48,
                                                                                  1, b.as<int32_t>(), 1));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, kernels::embedding_gather(b.as<float>(), b.data(), 12 /* Q4_K */, 128,
                                                                                  1, b.as<int32_t>(), 1));
    }
};

QTEST_GUILESS_MAIN(TestEmbedding)
#include "test_embedding.moc"
