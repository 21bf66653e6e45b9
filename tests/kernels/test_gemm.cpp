// gemm() (kernels/gemm.cu): cuBLAS on a GPU, the portable kernel in the emulator, against a
// double-precision product of the same 16-bit inputs, on fresh random data, f16 and bf16, with
// shapes that are not multiples of any tile. Limit per output: (cols + 16) * 2^-24 * 2 *
// sum_i |w_i x_i| (f32 accumulation of exact 16-bit products, in any order), and the output is
// poisoned first, with a guard after it.
#include "dequant.h"
#include "device.h"
#include "gpu_test.h"
#include "gemm.h"

#include "tensor/tensor_types.h"

#include "quant_test_data.h"

#include <QtTest>

#include <cmath>
#include <cstring>

using namespace latent;

class TestGemm : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() {
        LATENT_REQUIRE_GPU();
        qInfo("gemm through %s on %s", kernels::gemm_uses_cublas() ? "cuBLAS" : "the portable kernel",
              gpu::device_name().c_str());
    }

    void matchesReference_data() {
        QTest::addColumn<bool>("bf16");
        QTest::addColumn<int>("rows");
        QTest::addColumn<int>("tokens");
        QTest::addColumn<int>("cols");
        for (bool bf16 : {false, true}) {
            QTest::addRow("%s 37x5x96", bf16 ? "bf16" : "f16") << bf16 << 37 << 5 << 96;
            QTest::addRow("%s 70x19x40", bf16 ? "bf16" : "f16") << bf16 << 70 << 19 << 40;
            if (test::gpu_big_grids()) QTest::addRow("%s 3072x512x2048", bf16 ? "bf16" : "f16") << bf16 << 3072 << 512 << 2048;
        }
    }

    void matchesReference() {
        QFETCH(bool, bf16);
        QFETCH(int, rows);
        QFETCH(int, tokens);
        QFETCH(int, cols);
        test::Random random(test::test_seed() + static_cast<uint32_t>(rows * 31 + tokens));
        const auto round16 = [&](float v) { return bf16 ? fp32_to_bf16(v) : fp32_to_fp16(v); };
        const auto widen = [&](uint16_t h) { return bf16 ? bf16_to_fp32(h) : fp16_to_fp32(h); };
        std::vector<uint16_t> w(static_cast<size_t>(rows * cols)), x(static_cast<size_t>(tokens * cols));
        for (uint16_t& v : w) v = round16(static_cast<float>(0.05 * random.normal()));
        for (uint16_t& v : x) v = round16(static_cast<float>(random.normal()));
        const gpu::Buffer wd = gpu::upload(w), xd = gpu::upload(x);
        const size_t outputs = static_cast<size_t>(rows * tokens);
        gpu::Buffer y((outputs + 32) * sizeof(float));
        gpu::device_memset(y.data(), 0xFF, y.bytes());
        kernels::gemm(bf16 ? kernels::HalfFormat::BF16 : kernels::HalfFormat::F16, wd.data(), rows, xd.data(), tokens, cols,
                  y.as<float>());
        const std::vector<float> got = gpu::download<float>(y);
        for (int t = 0; t < tokens; ++t) {
            for (int o = 0; o < rows; ++o) {
                double want = 0.0, magnitude = 0.0;
                for (int i = 0; i < cols; ++i) {
                    const double p = static_cast<double>(widen(w[static_cast<size_t>(o * cols + i)])) *
                                     widen(x[static_cast<size_t>(t * cols + i)]);
                    want += p;
                    magnitude += std::fabs(p);
                }
                const double limit = 2.0 * (cols + 16) * 0x1.0p-24 * magnitude + 1e-30;
                const float g = got[static_cast<size_t>(t * rows + o)];
                QVERIFY2(std::fabs(g - want) <= limit,
                         qPrintable(QString("y[%1][%2] = %3, want %4").arg(t).arg(o).arg(double(g)).arg(want)));
            }
        }
        for (size_t i = outputs; i < got.size(); ++i) {
            uint32_t bits;
            std::memcpy(&bits, &got[i], sizeof bits);
            QCOMPARE(bits, 0xFFFFFFFFu);
        }
    }

    void refusesBadShapes() {
        const gpu::Buffer b(256);
        bool threw = false;
        try {
            kernels::gemm(kernels::HalfFormat::F16, b.data(), 0, b.data(), 1, 8, b.as<float>());
        } catch (const std::invalid_argument&) {
            threw = true;
        }
        QVERIFY(threw);
    }
};

QTEST_GUILESS_MAIN(TestGemm)
#include "test_gemm.moc"
