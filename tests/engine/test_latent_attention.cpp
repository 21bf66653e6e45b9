// The CPU latent-attention kernel against its slow reference on fresh random inputs over a grid
// of head counts, context lengths (incl. 1 and long splits across threads) and cache types.
#include "cpu/latent_attention.h"
#include "cpu/thread_pool.h"
#include "tensor/tensor_types.h"

#include <QtTest>

#include <cmath>
#include <cstring>
#include <random>

using namespace latent;

class TestLatentAttention : public QObject {
    Q_OBJECT

private slots:
    void matches_reference_data() {
        QTest::addColumn<int>("heads");
        QTest::addColumn<int>("keys");
        QTest::addColumn<bool>("f16");
        QTest::addColumn<int>("threads");
        for (int heads : {1, 4, 16}) {
            for (int keys : {1, 17, 300, 4096}) {
                for (bool f16 : {true, false}) {
                    for (int threads : {1, 3}) {
                        QTest::newRow(qPrintable(QString("H%1 keys%2 %3 t%4").arg(heads).arg(keys).arg(f16 ? "f16" : "f32").arg(threads))) << heads << keys << f16 << threads;
                    }
                }
            }
        }
    }
    void matches_reference() {
        QFETCH(int, heads);
        QFETCH(int, keys);
        QFETCH(bool, f16);
        QFETCH(int, threads);
        const uint32_t latent = 64, rope = 16, width = latent + rope;
        std::mt19937 rng(static_cast<uint32_t>(heads * 7919 + keys * 31 + (f16 ? 1 : 0) + threads));
        std::normal_distribution<float> normal(0.0f, 1.0f);
        const size_t elem = f16 ? 2 : 4;
        std::vector<uint8_t> rows(static_cast<size_t>(keys) * width * elem);
        for (size_t i = 0; i < static_cast<size_t>(keys) * width; ++i) {
            const float v = normal(rng);
            if (f16) {
                const uint16_t h = fp32_to_fp16(v);
                std::memcpy(rows.data() + i * 2, &h, 2);
            } else {
                std::memcpy(rows.data() + i * 4, &v, 4);
            }
        }
        std::vector<float> queries(static_cast<size_t>(heads) * width);
        for (float& q : queries) q = normal(rng);
        cpu::LatentCache cache;
        cache.rows = rows.data();
        cache.type = f16 ? TensorType::F16 : TensorType::F32;
        cache.row_width = width;
        cache.latent_width = latent;
        cache.row_bytes = width * elem;
        const float scale = 0.35f;
        std::vector<float> want(static_cast<size_t>(heads) * latent), got(want.size(), std::numeric_limits<float>::quiet_NaN());
        cpu::latent_attention_reference(queries.data(), static_cast<uint32_t>(heads), cache, static_cast<uint32_t>(keys), scale, want.data());
        cpu::ThreadPool pool(static_cast<unsigned>(threads));
        cpu::LatentAttentionScratch scratch;
        cpu::latent_attention(queries.data(), static_cast<uint32_t>(heads), cache, static_cast<uint32_t>(keys), scale, got.data(), threads > 1 ? &pool : nullptr, scratch);
        double max_err = 0.0;
        for (size_t i = 0; i < want.size(); ++i) {
            QVERIFY2(std::isfinite(got[i]), "non-finite output");
            max_err = std::max(max_err, static_cast<double>(std::abs(got[i] - want[i])));
        }
        // Outputs are convex combinations of N(0,1) latents: float32 accumulation error only.
        QVERIFY2(max_err < 2e-4, qPrintable(QString::number(max_err)));
    }
};

QTEST_APPLESS_MAIN(TestLatentAttention)
#include "test_latent_attention.moc"
