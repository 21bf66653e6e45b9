// Embedding gather against the engine's float conversions (exact), with out-of-range ids.
#include "embedding.h"
#include "gpu_test.h"
#include "tensor/tensor_types.h"

#include <QTest>

#include <cmath>
#include <cstring>

using namespace latent;

class TestEmbedding : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() { LATENT_REQUIRE_GPU(); }

    void gather_data() {
        QTest::addColumn<uint32_t>("type");
        QTest::addColumn<int>("cols");
        for (uint32_t type : {kernels::kEmbeddingF32, kernels::kEmbeddingF16, kernels::kEmbeddingBF16}) {
            for (int cols : {1, 33, 2048}) QTest::addRow("type%u_cols%d", type, cols) << type << cols;
        }
    }

    void gather() {
        QFETCH(uint32_t, type);
        QFETCH(int, cols);
        const int64_t n_vocab = 300;
        test::Random random(type * 1000 + static_cast<uint32_t>(cols));
        const auto values = test::random_floats(random, n_vocab * cols);
        // The table in its stored type, and what each element decodes to on the CPU.
        std::vector<uint8_t> table;
        std::vector<float> decoded(values.size());
        for (std::size_t i = 0; i < values.size(); ++i) {
            if (type == kernels::kEmbeddingF32) {
                decoded[i] = values[i];
                table.resize(table.size() + 4);
                std::memcpy(table.data() + 4 * i, &values[i], 4);
            } else {
                const uint16_t bits = type == kernels::kEmbeddingF16 ? fp32_to_fp16(values[i]) : fp32_to_bf16(values[i]);
                decoded[i] = type == kernels::kEmbeddingF16 ? fp16_to_fp32(bits) : bf16_to_fp32(bits);
                table.resize(table.size() + 2);
                std::memcpy(table.data() + 2 * i, &bits, 2);
            }
        }
        std::vector<int32_t> ids = {0, 299, 17, 17, -1, 300, 123};
        for (int i = 0; i < 9; ++i) ids.push_back(static_cast<int32_t>(random.bits() % n_vocab));
        std::vector<float> expected;
        for (int32_t id : ids) {
            for (int c = 0; c < cols; ++c) expected.push_back(id >= 0 && id < n_vocab ? decoded[id * cols + c] : NAN);
        }
        const gpu::Buffer dtable = gpu::upload(table), dids = gpu::upload(ids);
        gpu::Buffer out = test::poisoned_buffer<float>(expected.size());
        gpu::device_memset(out.data(), 0, out.bytes()); // so the NaN rows are the kernel's own
        kernels::embedding_gather(out.as<float>(), dtable.data(), type, cols, n_vocab, dids.as<int32_t>(),
                                  static_cast<int64_t>(ids.size()));
        LATENT_COMPARE_FLOATS(gpu::download<float>(out), expected, 0.0);
    }

    void unsupported_type_is_refused() {
        gpu::Buffer b(256);
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                                 kernels::embedding_gather(b.as<float>(), b.data(), 2 /* Q4_0 */, 32, 1, b.as<int32_t>(), 1));
    }
};

QTEST_GUILESS_MAIN(TestEmbedding)
#include "test_embedding.moc"
