// The __host__ __device__ block helpers (kernels/common/quant_blocks.cuh) run natively against
// the engine's oracle on fresh random blocks of every type:
//  * decode_slice + slice_value reproduce dequantize_row bit for bit (the same float
//    operations in the same order);
//  * quantize_slice reproduces the CPU backend's Q8_32 activation quantiser bit for bit (for
//    ordinary, all-zero and non-finite slices);
//  * dot_slice_q8 equals sum_j W[j] * d*q[j] up to float rounding: its integer sums are exact,
//    so the only error is a few roundings of partial products no larger than
//    sum_j (|S q_j| + |M|) |d q_x,j| (W = S q - M); limit 16 * 2^-24 times that sum.
#include "common/quant_blocks.cuh"

#include "cpu/quant_dot.h"
#include "tensor/tensor_types.h"

#include "quant_test_data.h"

#include <QtTest>

#include <cmath>
#include <cstring>
#include <limits>

using namespace latent;
using kernels::QuantType;
namespace quant = kernels::quant;

namespace {

template <QuantType T>
void decode_row(const uint8_t* row, int64_t cols, float* out) {
    constexpr int kParts = quant::slices_per_block(T);
    for (int64_t s = 0; s < cols / 32; ++s) {
        quant::SliceQ8 slice{};
        quant::decode_slice<T>(row + (s / kParts) * quant::block_bytes(T), static_cast<int>(s % kParts), slice);
        for (int j = 0; j < 32; ++j) out[s * 32 + j] = quant::slice_value(slice, j);
    }
}

template <QuantType T>
void float_row(const uint8_t* row, int64_t cols, float* out) {
    for (int64_t i = 0; i < cols; ++i) out[i] = quant::float_element<T>(row, i);
}

// Runs f<T> for the runtime type.
template <template <QuantType> class F, class... Args>
void dispatch_block_type(QuantType type, Args&&... args) {
    switch (type) {
    case QuantType::Q4_0: F<QuantType::Q4_0>::run(args...); return;
    case QuantType::Q4_1: F<QuantType::Q4_1>::run(args...); return;
    case QuantType::Q5_0: F<QuantType::Q5_0>::run(args...); return;
    case QuantType::Q5_1: F<QuantType::Q5_1>::run(args...); return;
    case QuantType::Q8_0: F<QuantType::Q8_0>::run(args...); return;
    case QuantType::IQ4_NL: F<QuantType::IQ4_NL>::run(args...); return;
    case QuantType::Q2_K: F<QuantType::Q2_K>::run(args...); return;
    case QuantType::Q3_K: F<QuantType::Q3_K>::run(args...); return;
    case QuantType::Q4_K: F<QuantType::Q4_K>::run(args...); return;
    case QuantType::Q5_K: F<QuantType::Q5_K>::run(args...); return;
    case QuantType::Q6_K: F<QuantType::Q6_K>::run(args...); return;
    case QuantType::IQ4_XS: F<QuantType::IQ4_XS>::run(args...); return;
    default: QFAIL("not a block type");
    }
}

template <QuantType T>
struct DecodeRow {
    static void run(const uint8_t* row, int64_t cols, float* out) { decode_row<T>(row, cols, out); }
};

// The dot of every slice of a row with quantised activations, summed in double.
template <QuantType T>
struct DotRow {
    static void run(const uint8_t* row, int64_t cols, const std::vector<quant::ActivationSliceQ8>& x,
                    std::vector<double>& per_slice, std::vector<double>& magnitude) {
        constexpr int kParts = quant::slices_per_block(T);
        per_slice.assign(static_cast<size_t>(cols / 32), 0.0);
        magnitude.assign(static_cast<size_t>(cols / 32), 0.0);
        for (int64_t s = 0; s < cols / 32; ++s) {
            quant::SliceQ8 slice{};
            quant::decode_slice<T>(row + (s / kParts) * quant::block_bytes(T), static_cast<int>(s % kParts), slice);
            const quant::ActivationSliceQ8& xs = x[static_cast<size_t>(s)];
            per_slice[static_cast<size_t>(s)] = quant::dot_slice_q8<T>(slice, xs.q, xs.d);
            // sum_j (|S q_j| + |M|) |d_x q_x,j|: the size of the partial products the dot adds.
            for (int j = 0; j < 32; ++j) {
                const double q = static_cast<int8_t>(slice.q[j / 4] >> (8 * (j % 4)));
                const double qx = static_cast<int8_t>(xs.q[j / 4] >> (8 * (j % 4)));
                magnitude[static_cast<size_t>(s)] +=
                    (std::fabs(slice.scale[j / 16] * q) + std::fabs(slice.min[j / 16])) * std::fabs(xs.d * qx);
            }
        }
    }
};

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

void add_block_type_rows() {
    QTest::addColumn<int>("type");
    for (QuantType t : kernels::kAllQuantTypes) {
        if (!quant::is_float_type(t)) QTest::newRow(kernels::quant_type_name(t)) << static_cast<int>(t);
    }
}

} // namespace

class TestQuantBlocks : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() { latent::test::test_seed(); }

    // The kernels' type table agrees with the engine's.
    void typeFacts() {
        for (QuantType t : kernels::kAllQuantTypes) {
            const TensorTypeInfo& info = tensor_type_info(static_cast<TensorType>(static_cast<uint32_t>(t)));
            QCOMPARE(std::string(info.name), std::string(kernels::quant_type_name(t)));
            QCOMPARE(static_cast<int>(info.block_size), quant::block_elements(t));
            QCOMPARE(static_cast<int>(info.type_size), quant::block_bytes(t));
            QVERIFY(info.can_decode);
            QCOMPARE(static_cast<size_t>(quant::row_bytes(t, 512)), tensor_row_bytes(info.type, 512));
        }
        QVERIFY(!kernels::is_known_quant_type(static_cast<uint32_t>(TensorType::Q8_K)));
        QVERIFY(kernels::is_known_quant_type(static_cast<uint32_t>(TensorType::IQ4_XS)));
    }

    void decodeMatchesEngine_data() { add_block_type_rows(); }
    void decodeMatchesEngine() {
        QFETCH(int, type);
        const auto t = static_cast<QuantType>(type);
        test::Random random(test::test_seed() + static_cast<uint32_t>(type));
        constexpr int64_t kRows = 6, kCols = 1024;
        const std::vector<uint8_t> data = test::random_quant_matrix(t, kRows, kCols, random);
        const std::vector<float> expected = test::dequantize_matrix(t, data, kRows, kCols);
        std::vector<float> got(expected.size());
        const int64_t row_bytes = quant::row_bytes(t, kCols);
        for (int64_t r = 0; r < kRows; ++r) {
            dispatch_block_type<DecodeRow>(t, data.data() + r * row_bytes, kCols, got.data() + r * kCols);
        }
        for (size_t i = 0; i < got.size(); ++i) {
            if (!same_bits(got[i], expected[i])) {
                QFAIL(qPrintable(QString("%1 element %2: got %3, engine %4")
                                     .arg(kernels::quant_type_name(t)).arg(i).arg(double(got[i]), 0, 'g', 9)
                                     .arg(double(expected[i]), 0, 'g', 9)));
            }
        }
    }

    void floatTypesMatchEngine() {
        test::Random random(test::test_seed() + 99);
        constexpr int64_t kCols = 256;
        for (QuantType t : {QuantType::F32, QuantType::F16, QuantType::BF16}) {
            const std::vector<uint8_t> data = test::random_quant_matrix(t, 1, kCols, random);
            const std::vector<float> expected = test::dequantize_matrix(t, data, 1, kCols);
            std::vector<float> got(kCols);
            if (t == QuantType::F32) float_row<QuantType::F32>(data.data(), kCols, got.data());
            if (t == QuantType::F16) float_row<QuantType::F16>(data.data(), kCols, got.data());
            if (t == QuantType::BF16) float_row<QuantType::BF16>(data.data(), kCols, got.data());
            for (int64_t i = 0; i < kCols; ++i) QVERIFY2(same_bits(got[i], expected[i]), kernels::quant_type_name(t));
        }
        // Every f16 bit pattern, subnormals, infinities and NaNs included.
        for (uint32_t h = 0; h < 65536; ++h) {
            const float want = fp16_to_fp32(static_cast<uint16_t>(h));
            const float got = quant::half_to_float(h);
            QVERIFY2(same_bits(got, want) || (std::isnan(got) && std::isnan(want)), qPrintable(QString::number(h, 16)));
        }
    }

    // Same scales and quants as the CPU backend's Q8_32 activations.
    void activationQuantisationMatchesCpu() {
        test::Random random(test::test_seed() + 7);
        constexpr int64_t kCols = 512;
        std::vector<float> x = test::random_activations(1, kCols, random);
        x[100] = std::numeric_limits<float>::quiet_NaN();          // slice 3 non-finite
        x[200] = std::numeric_limits<float>::infinity();           // slice 6 non-finite
        for (int j = 0; j < 32; ++j) x[static_cast<size_t>(256 + j)] = 1e-31f; // slice 8 "zero"
        x[300] = 127.5f;                                          // ties around the largest value
        cpu::ActivationBuffer cpu_x;
        cpu::quantize_activations(TensorType::Q4_0, x.data(), kCols, 1, cpu_x);
        for (int64_t s = 0; s < kCols / 32; ++s) {
            quant::ActivationSliceQ8 slice{};
            quant::quantize_slice(x.data() + s * 32, slice);
            const float cpu_d = cpu_x.token_scales(0)[s];
            QVERIFY2(same_bits(slice.d, cpu_d) || (std::isnan(slice.d) && std::isnan(cpu_d)),
                     qPrintable(QString("slice %1: d %2 vs cpu %3").arg(s).arg(double(slice.d)).arg(double(cpu_d))));
            int8_t q[32];
            std::memcpy(q, slice.q, sizeof q);
            QCOMPARE(std::memcmp(q, cpu_x.token_quants(0) + s * 32, 32), 0);
        }
    }

    void dotMatchesDecodedProduct_data() { add_block_type_rows(); }
    void dotMatchesDecodedProduct() {
        QFETCH(int, type);
        const auto t = static_cast<QuantType>(type);
        test::Random random(test::test_seed() + 1000 + static_cast<uint32_t>(type));
        constexpr int64_t kCols = 2048;
        const std::vector<uint8_t> data = test::random_quant_matrix(t, 1, kCols, random);
        const std::vector<float> w = test::dequantize_matrix(t, data, 1, kCols);
        const std::vector<float> x = test::random_activations(1, kCols, random);
        const std::vector<float> xq = test::quantized_activation_values(x);
        std::vector<quant::ActivationSliceQ8> slices(kCols / 32);
        for (int64_t s = 0; s < kCols / 32; ++s) quant::quantize_slice(x.data() + s * 32, slices[static_cast<size_t>(s)]);
        std::vector<double> per_slice, magnitude;
        dispatch_block_type<DotRow>(t, data.data(), kCols, slices, per_slice, magnitude);
        double worst = 0.0;
        for (int64_t s = 0; s < kCols / 32; ++s) {
            double want = 0.0;
            for (int64_t j = s * 32; j < s * 32 + 32; ++j) {
                want += static_cast<double>(w[static_cast<size_t>(j)]) * xq[static_cast<size_t>(j)];
            }
            const double limit = 16.0 * 0x1.0p-24 * magnitude[static_cast<size_t>(s)] + 1e-30;
            const double err = std::fabs(per_slice[static_cast<size_t>(s)] - want);
            worst = std::max(worst, err / limit);
            QVERIFY2(err <= limit, qPrintable(QString("%1 slice %2: dot %3, exact %4 (limit %5)")
                                                  .arg(kernels::quant_type_name(t)).arg(s)
                                                  .arg(per_slice[static_cast<size_t>(s)], 0, 'g', 9)
                                                  .arg(want, 0, 'g', 9).arg(limit, 0, 'g', 3)));
        }
        qInfo("%s: worst error %.3f of the limit", kernels::quant_type_name(t), worst);
    }
};

QTEST_APPLESS_MAIN(TestQuantBlocks)
#include "test_quant_blocks.moc"
