// matmul_quant / quantize_q8 (kernels/matvec_quant.cu) on the device layer (emulator in CI, a
// GPU in the device run) against the engine's oracle, on fresh random weights of every type
// over a grid of shapes: rows not a multiple of a block's rows, rows short enough that one warp
// takes several (64 and 96 columns), one warp step of 64 slices with idle lanes (1024 = 32 and
// 1088 = 34 slices, 1280 = 40), exactly one step (2048), two steps with a partial second one
// (2080 = 65 slices, 2304 = 72), and 1, 3 and 16 tokens. Outputs are poisoned (NaN)
// before every launch, with poisoned guard elements after them that must stay untouched.
//
// Limits per output y[t][o] (W = dequantize_row's weights, x the float activations, x^ the
// activations as quantised, h_i = d/2 of x_i's 32-value block; float weight types: x^ = x, h = 0):
//  * against sum_i W_i x^_i in double: float rounding only, <= kappa * (cols/32 + 32) * 2^-24 *
//    sum_i |W_i| |x^_i| (one rounding per slice summed, the shuffle tree and the slice's own few
//    products); kappa = 8 for types with a minimum (W = S q - M: the partial products S q and M
//    can each exceed |W|), 1 otherwise;
//  * against sum_i W_i x_i (the unquantised product): that plus sum_i |W_i| h_i, the most
//    the activation rounding can move it.
#include "dequant.h"
#include "device.h"
#include "gpu_test.h"
#include "matvec_quant.h"

#include "cpu/quant_dot.h"
#include "tensor/tensor_types.h"

#include "quant_test_data.h"

#include <QtTest>

#include <cmath>
#include <cstring>
#include <limits>

using namespace latent;
using kernels::QuantType;

namespace {

constexpr int64_t kGuard = 64; // poisoned floats after every output

bool is_float_type(QuantType t) { return t == QuantType::F32 || t == QuantType::F16 || t == QuantType::BF16; }
bool has_min(QuantType t) {
    return t == QuantType::Q4_1 || t == QuantType::Q5_1 || t == QuantType::Q2_K || t == QuantType::Q4_K ||
           t == QuantType::Q5_K;
}
int64_t granule(QuantType t) {
    const int64_t block = tensor_type_info(static_cast<TensorType>(static_cast<uint32_t>(t))).block_size;
    return block == 1 ? 32 : block;
}

// Runs one product on the device and returns y (n_tokens, rows); checks the guard.
std::vector<float> device_product(QuantType type, const std::vector<uint8_t>& weights, int64_t rows, int64_t cols,
                                  const std::vector<float>& x, int64_t n_tokens) {
    const gpu::Buffer w = gpu::upload(weights);
    const gpu::Buffer xf = gpu::upload(x);
    gpu::Buffer q8(kernels::q8_activation_bytes(cols, n_tokens));
    const size_t outputs = static_cast<size_t>(n_tokens * rows);
    gpu::Buffer y((outputs + kGuard) * sizeof(float));
    gpu::device_memset(y.data(), 0xFF, y.bytes());
    if (kernels::uses_q8_activations(type)) kernels::quantize_q8(xf.as<float>(), cols, n_tokens, q8.data());
    const kernels::QuantMatrix m{type, w.data(), rows, cols};
    kernels::matmul_quant(m, xf.as<float>(), q8.data(), n_tokens, y.as<float>());
    std::vector<float> out = gpu::download<float>(y);
    for (size_t i = outputs; i < out.size(); ++i) {
        uint32_t bits;
        std::memcpy(&bits, &out[i], sizeof bits);
        if (bits != 0xFFFFFFFFu) {
            QTest::qFail(qPrintable(QString("wrote past the output (element %1)").arg(i)), __FILE__, __LINE__);
            break;
        }
    }
    out.resize(outputs);
    return out;
}

} // namespace

class TestMatvecQuant : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() {
        LATENT_REQUIRE_GPU();
        qInfo("device: %s", gpu::device_name().c_str());
        test::test_seed();
    }

    void matchesReference_data() {
        QTest::addColumn<int>("type");
        QTest::addColumn<int>("rows");
        QTest::addColumn<int>("cols");
        QTest::addColumn<int>("tokens");
        struct Shape {
            int rows, cols;
        };
        const bool big = test::gpu_big_grids();
        for (QuantType t : kernels::kAllQuantTypes) {
            std::vector<Shape> shapes;
            if (granule(t) == 256) {
                shapes = {{37, 256}, {9, 1280}, {5, 2048}, {3, 2304}};
            } else {
                shapes = {{37, 64}, {21, 96}, {6, 1088}, {3, 1024}, {2, 2080}};
            }
            if (big) { // the V2-Lite decode shapes
                shapes.push_back({3072, 2048});
                shapes.push_back({576, 2048});
                if (granule(t) == 32) shapes.push_back({2048, 1408});
                shapes.push_back({2048, static_cast<int>(2816 / granule(t) * granule(t))});
            }
            for (const Shape& s : shapes) {
                for (int tokens : {1, 3, 16}) {
                    if (big && s.rows > 64 && tokens == 3) continue;
                    QTest::addRow("%s %dx%d t%d", kernels::quant_type_name(t), s.rows, s.cols, tokens)
                        << static_cast<int>(t) << s.rows << s.cols << tokens;
                }
            }
        }
    }

    void matchesReference() {
        QFETCH(int, type);
        QFETCH(int, rows);
        QFETCH(int, cols);
        QFETCH(int, tokens);
        const auto t = static_cast<QuantType>(type);
        test::Random random(test::test_seed() ^ static_cast<uint32_t>(type * 7919 + rows * 131 + cols * 17 + tokens));
        const std::vector<uint8_t> data = test::random_quant_matrix(t, rows, cols, random);
        const std::vector<float> w = test::dequantize_matrix(t, data, rows, cols);
        const std::vector<float> x = test::random_activations(tokens, cols, random);
        std::vector<float> half_steps;
        const std::vector<float> xq = is_float_type(t) ? x : test::quantized_activation_values(x, &half_steps);
        if (is_float_type(t)) half_steps.assign(x.size(), 0.0f);

        const std::vector<float> got = device_product(t, data, rows, cols, x, tokens);
        const test::ReferenceProduct on_quantized = test::reference_product(w, rows, cols, xq, tokens);
        const test::ReferenceProduct on_float = test::reference_product(w, rows, cols, x, tokens, &half_steps);
        const double kappa = has_min(t) ? 8.0 : 1.0;
        const double eps = kappa * (static_cast<double>(cols) / 32 + 32) * 0x1.0p-24;
        double worst = 0.0;
        for (size_t k = 0; k < got.size(); ++k) {
            const double limit = eps * on_quantized.magnitude[k] + 1e-30;
            const double err = std::fabs(got[k] - on_quantized.y[k]);
            worst = std::max(worst, err / limit);
            if (!(err <= limit)) {
                QFAIL(qPrintable(QString("token %1 row %2: got %3, reference on the quantised activations %4 "
                                         "(limit %5)")
                                     .arg(k / static_cast<size_t>(rows)).arg(k % static_cast<size_t>(rows))
                                     .arg(double(got[k]), 0, 'g', 9).arg(on_quantized.y[k], 0, 'g', 9)
                                     .arg(limit, 0, 'g', 3)));
            }
            const double float_limit = limit + on_float.bound[k];
            if (!(std::fabs(got[k] - on_float.y[k]) <= float_limit)) {
                QFAIL(qPrintable(QString("token %1 row %2: got %3, reference on the float activations %4 (limit %5)")
                                     .arg(k / static_cast<size_t>(rows)).arg(k % static_cast<size_t>(rows))
                                     .arg(double(got[k]), 0, 'g', 9).arg(on_float.y[k], 0, 'g', 9)
                                     .arg(float_limit, 0, 'g', 3)));
            }
        }
        qInfo("worst error %.3f of the rounding limit", worst);
    }

    // The device quantiser writes what the CPU backend's Q8_32 quantiser writes, bit for bit.
    void quantizeMatchesCpu() {
        test::Random random(test::test_seed() + 5);
        constexpr int64_t kCols = 256, kTokens = 3;
        std::vector<float> x = test::random_activations(kTokens, kCols, random);
        x[70] = std::numeric_limits<float>::quiet_NaN();
        x[kCols + 5] = -std::numeric_limits<float>::infinity();
        const gpu::Buffer xf = gpu::upload(x);
        gpu::Buffer q8(kernels::q8_activation_bytes(kCols, kTokens));
        gpu::device_memset(q8.data(), 0xAB, q8.bytes());
        kernels::quantize_q8(xf.as<float>(), kCols, kTokens, q8.data());
        const std::vector<uint8_t> got = gpu::download<uint8_t>(q8);
        cpu::ActivationBuffer cpu_x;
        cpu::quantize_activations(TensorType::Q8_0, x.data(), kCols, kTokens, cpu_x);
        QCOMPARE(std::memcmp(got.data(), cpu_x.token_quants(0), kCols * kTokens), 0);
        const size_t scales_at = kernels::q8_activation_bytes(kCols, kTokens) - kCols / 32 * kTokens * sizeof(float);
        for (int64_t s = 0; s < kCols / 32 * kTokens; ++s) {
            float d;
            std::memcpy(&d, got.data() + scales_at + static_cast<size_t>(s) * sizeof(float), sizeof d);
            const float want = cpu_x.scales.data()[s];
            QVERIFY2(std::memcmp(&d, &want, sizeof d) == 0 || (std::isnan(d) && std::isnan(want)),
                     qPrintable(QString("scale %1: %2 vs cpu %3").arg(s).arg(double(d)).arg(double(want))));
        }
    }

    // Bad shapes, types, token counts and pointers are refused before anything is launched.
    void launcherValidates() {
        const gpu::Buffer w(4096), x(4096), y(4096);
        const auto refuses = [&](kernels::QuantMatrix m, int64_t tokens, const void* wq8) {
            try {
                kernels::matmul_quant(m, x.as<float>(), wq8, tokens, y.as<float>());
            } catch (const std::invalid_argument& e) {
                qInfo("refused: %s", e.what());
                return true;
            }
            return false;
        };
        QVERIFY(refuses({QuantType::Q4_K, w.data(), 4, 128}, 1, x.data()));  // not whole super-blocks
        QVERIFY(refuses({QuantType::F16, w.data(), 4, 40}, 1, x.data()));    // not whole slices
        QVERIFY(refuses({QuantType::Q8_0, w.data(), 4, 64}, 17, x.data()));  // too many tokens
        QVERIFY(refuses({QuantType::Q8_0, w.data(), 4, 64}, 0, x.data()));   // no tokens
        QVERIFY(refuses({QuantType::Q8_0, w.data(), 0, 64}, 1, x.data()));   // no rows
        QVERIFY(refuses({static_cast<QuantType>(15), w.data(), 4, 256}, 1, x.data())); // Q8_K: no kernel
        QVERIFY(refuses({QuantType::Q8_0, w.as<uint8_t>() + 2, 4, 64}, 1, x.data())); // misaligned weights
        QVERIFY(refuses({QuantType::Q8_0, w.data(), 4, 64}, 1, nullptr));    // no activations
        bool threw = false;
        try {
            kernels::quantize_q8(x.as<float>(), 48, 1, w.data());
        } catch (const std::invalid_argument&) {
            threw = true;
        }
        QVERIFY(threw);
    }

    // Weight tiles to f16 / bf16 equal the engine's decoding rounded to nearest-even, including
    // tiles that start inside a row range whose rows are not 16-byte multiples (Q6_K, 768 columns).
    void dequantMatchesEngine_data() {
        QTest::addColumn<int>("type");
        for (QuantType t : kernels::kAllQuantTypes) QTest::newRow(kernels::quant_type_name(t)) << static_cast<int>(t);
    }
    void dequantMatchesEngine() {
        QFETCH(int, type);
        const auto t = static_cast<QuantType>(type);
        test::Random random(test::test_seed() + 77 + static_cast<uint32_t>(type));
        const int64_t rows = 11, cols = granule(t) == 256 ? 768 : 96, begin = 3, end = 10;
        const std::vector<uint8_t> data = test::random_quant_matrix(t, rows, cols, random);
        const std::vector<float> decoded = test::dequantize_matrix(t, data, rows, cols);
        const gpu::Buffer w = gpu::upload(data);
        for (kernels::HalfFormat format : {kernels::HalfFormat::F16, kernels::HalfFormat::BF16}) {
            const size_t count = static_cast<size_t>((end - begin) * cols);
            gpu::Buffer out((count + kGuard) * 2);
            gpu::device_memset(out.data(), 0xFF, out.bytes());
            kernels::dequantize_rows({t, w.data(), rows, cols}, begin, end, format, out.data());
            const std::vector<uint16_t> got = gpu::download<uint16_t>(out);
            for (size_t i = 0; i < count; ++i) {
                const float v = decoded[static_cast<size_t>(begin * cols) + i];
                const uint16_t want = format == kernels::HalfFormat::F16 ? fp32_to_fp16(v) : fp32_to_bf16(v);
                if (got[i] != want) {
                    QFAIL(qPrintable(QString("%1 element %2: 0x%3, want 0x%4")
                                         .arg(format == kernels::HalfFormat::F16 ? "f16" : "bf16").arg(i)
                                         .arg(got[i], 4, 16).arg(want, 4, 16)));
                }
            }
            for (size_t i = count; i < got.size(); ++i) QCOMPARE(got[i], uint16_t{0xFFFF});
        }
    }
};

QTEST_GUILESS_MAIN(TestMatvecQuant)
#include "test_matvec_quant.moc"
