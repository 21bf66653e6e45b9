// The CPU latent-attention kernel against its slow reference on fresh random inputs over a grid
// of head counts, context lengths (incl. 1 and long splits across threads), cache types, row
// shapes (incl. the DeepSeek 512 + 64 one and one the AVX-512 kernel does not take) and every
// kernel the CPU supports (forced in turn).
#include "cpu/latent_attention.h"
#include "cpu/thread_pool.h"
#include "tensor/tensor_types.h"

#include <QtTest>

#include <cmath>
#include <cstring>
#include <random>
#include <utility>

using namespace latent;

class TestLatentAttention : public QObject {
    Q_OBJECT

private slots:
    void matches_reference_data() {
        QTest::addColumn<int>("heads");
        QTest::addColumn<int>("keys");
        QTest::addColumn<bool>("f16");
        QTest::addColumn<int>("threads");
        QTest::addColumn<int>("latent");
        QTest::addColumn<int>("rope");
        QTest::addColumn<int>("kernel");
        const std::pair<int, const char*> kernels[] = {{static_cast<int>(cpu::LatentAttentionKernel::Auto), "auto"},
                                                       {static_cast<int>(cpu::LatentAttentionKernel::Portable), "portable"},
                                                       {static_cast<int>(cpu::LatentAttentionKernel::Avx2), "avx2"},
                                                       {static_cast<int>(cpu::LatentAttentionKernel::Avx512), "avx512"}};
        auto add = [&](int heads, int keys, bool f16, int threads, int latent, int rope, std::pair<int, const char*> kernel) {
            QTest::newRow(qPrintable(QString("H%1 keys%2 %3 t%4 w%5+%6 %7")
                                         .arg(heads)
                                         .arg(keys)
                                         .arg(f16 ? "f16" : "f32")
                                         .arg(threads)
                                         .arg(latent)
                                         .arg(rope)
                                         .arg(kernel.second)))
                << heads << keys << f16 << threads << latent << rope << kernel.first;
        };
        for (const auto& kernel : kernels) {
            for (int heads : {1, 4, 5, 16}) {
                for (int keys : {1, 17, 65, 300, 4096}) {
                    for (bool f16 : {true, false}) {
                        for (int threads : {1, 3}) add(heads, keys, f16, threads, 64, 16, kernel);
                    }
                }
            }
            for (bool f16 : {true, false}) {
                for (int threads : {1, 2}) {
                    add(16, 33, f16, threads, 512, 64, kernel);
                    add(16, 1000, f16, threads, 512, 64, kernel);
                    add(12, 129, f16, threads, 40, 8, kernel);
                }
            }
        }
    }
    void matches_reference() {
        QFETCH(int, heads);
        QFETCH(int, keys);
        QFETCH(bool, f16);
        QFETCH(int, threads);
        QFETCH(int, latent);
        QFETCH(int, rope);
        QFETCH(int, kernel);
        if (!cpu::set_latent_attention_kernel(static_cast<cpu::LatentAttentionKernel>(kernel))) QSKIP("kernel not supported by this CPU");
        struct Restore {
            ~Restore() { cpu::set_latent_attention_kernel(cpu::LatentAttentionKernel::Auto); }
        } restore;
        const uint32_t width = static_cast<uint32_t>(latent + rope);
        std::mt19937 rng(static_cast<uint32_t>(heads * 7919 + keys * 31 + (f16 ? 1 : 0) + threads + latent * 131));
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
        cache.latent_width = static_cast<uint32_t>(latent);
        cache.row_bytes = width * elem;
        const float scale = 0.35f;
        std::vector<float> want(static_cast<size_t>(heads) * static_cast<size_t>(latent)), got(want.size(), std::numeric_limits<float>::quiet_NaN());
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
