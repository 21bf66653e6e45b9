// 16-bit float conversions and __dp4a on the device (the emulator's own implementations, or the
// GPU's) against the engine's bit-exact conversions and a plain loop: all 65,536 half/bf16
// patterns, and float patterns covering every exponent, ties, subnormals, infinities and NaN.
#include "gpu_test.h"
#include "probe_kernels.h"
#include "tensor/tensor_types.h"

#include <QTest>

#include <bit>
#include <cmath>

using namespace latent;

namespace {

bool same_float(float a, float b) { return std::isnan(a) ? std::isnan(b) : std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b); }

// Both sides NaN counts as equal: the payload of a converted NaN is not specified by CUDA.
bool same_16bit(uint16_t a, uint16_t b, bool bf16) {
    const float fa = bf16 ? bf16_to_fp32(a) : fp16_to_fp32(a), fb = bf16 ? bf16_to_fp32(b) : fp16_to_fp32(b);
    return (std::isnan(fa) && std::isnan(fb)) || a == b;
}

} // namespace

class TestIntrinsics : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() { LATENT_REQUIRE_GPU(); }

    void conversions_match_the_engine() {
        const unsigned n = 65536;
        std::vector<uint16_t> halves(n);
        std::vector<float> floats(n);
        test::Random random(7);
        for (unsigned i = 0; i < n; ++i) {
            halves[i] = static_cast<uint16_t>(i);
            // Every half pattern as a float, nudged half the time to just around a rounding tie,
            // and random 32-bit patterns for the rest of the float range.
            const float exact = fp16_to_fp32(static_cast<uint16_t>(i));
            const uint32_t bits = std::bit_cast<uint32_t>(exact);
            switch (i % 4) {
            case 0: floats[i] = exact; break;
            case 1: floats[i] = std::bit_cast<float>(bits + 0x1000u); break; // a half-ulp tie for normal halves
            case 2: floats[i] = std::bit_cast<float>(bits + 0x1001u); break;
            default: floats[i] = std::bit_cast<float>(random.bits()); break;
            }
        }
        const gpu::Buffer dhalves = gpu::upload(halves), dfloats = gpu::upload(floats);
        gpu::Buffer to_float = test::poisoned_buffer<float>(2 * n), from_float = test::poisoned_buffer<uint16_t>(2 * n);
        test::probe::convert_16bit(to_float.as<float>(), dhalves.as<uint16_t>(), from_float.as<uint16_t>(), dfloats.as<float>(), n);
        const auto got_float = gpu::download<float>(to_float);
        const auto got_bits = gpu::download<uint16_t>(from_float);
        for (unsigned i = 0; i < n; ++i) {
            const auto h = static_cast<uint16_t>(i);
            QVERIFY2(same_float(got_float[2 * i], fp16_to_fp32(h)), qPrintable(QString("half 0x%1").arg(i, 4, 16)));
            QVERIFY2(same_float(got_float[2 * i + 1], bf16_to_fp32(h)), qPrintable(QString("bf16 0x%1").arg(i, 4, 16)));
            QVERIFY2(same_16bit(got_bits[2 * i], fp32_to_fp16(floats[i]), false),
                     qPrintable(QString("float %1 -> half").arg(std::bit_cast<uint32_t>(floats[i]), 8, 16)));
            QVERIFY2(same_16bit(got_bits[2 * i + 1], fp32_to_bf16(floats[i]), true),
                     qPrintable(QString("float %1 -> bf16").arg(std::bit_cast<uint32_t>(floats[i]), 8, 16)));
        }
    }

    void dp4a_matches_a_loop() {
        const unsigned n = 4096;
        test::Random random(11);
        std::vector<int> a(n), b(n), c(n), expected(n);
        for (unsigned i = 0; i < n; ++i) {
            a[i] = static_cast<int>(random.bits()), b[i] = static_cast<int>(random.bits()), c[i] = static_cast<int>(random.bits() >> 4);
            int sum = c[i];
            for (int k = 0; k < 4; ++k) sum += static_cast<int8_t>(a[i] >> (8 * k)) * static_cast<int8_t>(b[i] >> (8 * k));
            expected[i] = sum;
        }
        const gpu::Buffer da = gpu::upload(a), db = gpu::upload(b), dc = gpu::upload(c);
        gpu::Buffer out = test::poisoned_buffer<int>(n);
        test::probe::dp4a(out.as<int>(), da.as<int>(), db.as<int>(), dc.as<int>(), n);
        QCOMPARE(gpu::download<int>(out), expected);
    }
};

QTEST_GUILESS_MAIN(TestIntrinsics)
#include "test_intrinsics.moc"
