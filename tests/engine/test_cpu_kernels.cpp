// CPU kernels: the thread pool, activation quantization, and matmul on every decodable weight
// type (portable and SIMD paths) against matmul_reference on fresh random weights.
//
// Tolerances (per output y[t][o], with W the exactly decoded weights, x the float activations,
// x^ the activations as quantized, h_i = d/2 of x_i's activation block):
//  * against the reference on x^ (what the kernel multiplies): only float rounding is left, so
//    |y - ref(x^)| <= eps * sum_i |W_i| |x^_i|, eps = kappa * (n_terms + 16) * 2^-24, where
//    n_terms bounds the number of float products summed per output (the standard n*u bound of
//    recursive summation): one per 16-value sub-block plus one per activation block for block
//    types (the kernels sum at most that many), cols / 8 for float weights (8 lanes); kappa = 4
//    for the types with a per-block minimum, whose two partial products can each exceed |W_i|
//    (kappa = 1 otherwise).
//  * against the reference on x: the activation rounding adds at most sum_i |W_i| h_i.
//  * SIMD against portable: both within eps of ref(x^), so within 2 eps of each other.
//  * thread counts, row ranges and the grouping of tokens into calls: the per-output arithmetic
//    does not depend on them, so those results must be bit-identical. The one exception is the
//    AVX2, AVX-VNNI and AVX-512 batch kernels (calls of kBatchKernelMinTokens tokens or more)
//    against one-token calls, which run different kernels and are compared with a tolerance.
//  * the AVX2 and AVX-VNNI batch kernels do the AVX-512 one's integer sums exactly and its float
//    operations lane by lane: all three are bit-identical.
// Every SIMD level the CPU can run is run (portable, AVX2, AVX-VNNI, AVX-512), each against the
// reference; AVX-VNNI also on AVX-512 CPUs that have it.
#include "core/error.h"
#include "cpu/quant_dot.h"
#include "cpu/thread_pool.h"
#include "cpu/vector_math.h"
#include "gguf/gguf.h"
#include "tensor/block_layouts.h"
#include "tensor/tensor_types.h"

#include "test_random.h"

#include <QtTest>

#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <numbers>
#include <random>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace latent;
using namespace latent::cpu;

namespace {

using test::Random;

const std::vector<TensorType> kDecodableTypes = {
    TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q4_0, TensorType::Q4_1,
    TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0, TensorType::Q2_K, TensorType::Q3_K,
    TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K, TensorType::Q8_K, TensorType::IQ4_NL,
    TensorType::IQ4_XS,
};

bool has_block_minimum(TensorType type) {
    return type == TensorType::Q4_1 || type == TensorType::Q5_1 || type == TensorType::Q2_K ||
           type == TensorType::Q4_K || type == TensorType::Q5_K;
}

void store_f16(uint8_t* p, float v) { blocks::store_u16(p, fp32_to_fp16(v)); }

// Random bytes for every field of a block, then sane scales: |d| about 2^-7 (so values stay in
// a weight-like range), mins positive. Every quant value and every sub-block scale is reachable.
void randomize_block(TensorType type, uint8_t* b, Random& random);

// Stores a block's scale fields (d: any sign, positive: > 0), leaving its other bytes alone.
template <class D, class Positive>
void store_scales(TensorType type, uint8_t* b, D&& d, Positive&& positive) {
    using namespace blocks;
    switch (type) {
    case TensorType::Q4_0: store_f16(b + q4_0::d, d()); break;
    case TensorType::Q4_1: store_f16(b + q4_1::d, d()); store_f16(b + q4_1::m, -4 * positive()); break;
    case TensorType::Q5_0: store_f16(b + q5_0::d, d()); break;
    case TensorType::Q5_1: store_f16(b + q5_1::d, d()); store_f16(b + q5_1::m, -8 * positive()); break;
    case TensorType::Q8_0: store_f16(b + q8_0::d, d() / 16); break;
    case TensorType::IQ4_NL: store_f16(b + iq4_nl::d, d() / 16); break;
    case TensorType::Q2_K: store_f16(b + q2_k::d, positive()); store_f16(b + q2_k::dmin, positive()); break;
    case TensorType::Q3_K: store_f16(b + q3_k::d, d() / 8); break;
    case TensorType::Q4_K: store_f16(b + q4_k::d, positive() / 4); store_f16(b + q4_k::dmin, positive() / 4); break;
    case TensorType::Q5_K: store_f16(b + q5_k::d, positive() / 8); store_f16(b + q5_k::dmin, positive() / 4); break;
    case TensorType::Q6_K: store_f16(b + q6_k::d, d() / 64); break;
    case TensorType::Q8_K: {
        const float scale = d() / 16;
        std::memcpy(b + q8_k::d, &scale, sizeof scale);
        break;
    }
    case TensorType::IQ4_XS: store_f16(b + iq4_xs::d, d() / 256); break;
    default: break;
    }
}

void randomize_block(TensorType type, uint8_t* b, Random& random) {
    const TensorTypeInfo& info = tensor_type_info(type);
    for (uint32_t i = 0; i < info.type_size; ++i) b[i] = random.byte();
    store_scales(
        type, b, [&] { return static_cast<float>(random.uniform(0.004, 0.012) * (random.bits() & 1 ? 1 : -1)); },
        [&] { return static_cast<float>(random.uniform(0.0005, 0.003)); });
}

// A (rows, cols) matrix of valid random rows: float types from weight-like floats; block types
// alternate random-field rows with rows encoded from floats where quantize_row supports the type.
std::vector<uint8_t> random_matrix(TensorType type, int64_t rows, int64_t cols, uint32_t seed) {
    const TensorTypeInfo& info = tensor_type_info(type);
    const size_t row_bytes = tensor_row_bytes(type, cols);
    std::vector<uint8_t> data(row_bytes * static_cast<size_t>(rows));
    Random random(seed);
    std::vector<float> values(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
        uint8_t* row = data.data() + row_bytes * static_cast<size_t>(r);
        const bool encode = info.can_encode && (info.block_size == 1 || r % 2 == 1);
        if (encode) {
            for (float& v : values) v = static_cast<float>(0.05 * random.normal());
            values[random.bits() % values.size()] = static_cast<float>(random.uniform(-0.5, 0.5));
            quantize_row(type, values.data(), row, cols);
        } else {
            for (int64_t b = 0; b < cols / info.block_size; ++b) randomize_block(type, row + b * info.type_size, random);
        }
    }
    return data;
}

// Activations like a hidden state: normal, a few large outliers, one all-zero 32-value stretch.
std::vector<float> random_activations(int64_t n_tokens, int64_t cols, uint32_t seed) {
    Random random(seed);
    std::vector<float> x(static_cast<size_t>(n_tokens * cols));
    for (float& v : x) v = static_cast<float>(random.normal());
    for (int64_t t = 0; t < n_tokens; ++t) {
        for (int k = 0; k < 3; ++k) x[static_cast<size_t>(t * cols + random.bits() % cols)] = static_cast<float>(random.uniform(-30, 30));
        if (cols >= 64) {
            for (int64_t i = 32; i < 64; ++i) x[static_cast<size_t>(t * cols + i)] = 0.0f;
        }
    }
    return x;
}

WeightMatrix matrix_of(TensorType type, const std::vector<uint8_t>& data, int64_t rows, int64_t cols) {
    WeightMatrix w;
    w.type = type;
    w.data = data.data();
    w.cols = cols;
    w.rows = rows;
    w.row_bytes = tensor_row_bytes(type, cols);
    return w;
}

std::vector<float> poisoned(size_t n) { return std::vector<float>(n, std::numeric_limits<float>::quiet_NaN()); }

// Restores the SIMD level a test changed.
class SimdLevelScope {
public:
    explicit SimdLevelScope(SimdLevel level) : saved_(simd_level()) { set_simd_level(level); }
    ~SimdLevelScope() { set_simd_level(saved_); }
    SimdLevelScope(const SimdLevelScope&) = delete;
    SimdLevelScope& operator=(const SimdLevelScope&) = delete;

private:
    SimdLevel saved_;
};

// Whether this CPU runs `level` when it is forced (set_simd_level clamps the others).
bool level_runs(SimdLevel level) {
    SimdLevelScope scope(level);
    return simd_level() == level;
}

// Portable first, then every SIMD level this CPU can run.
std::vector<SimdLevel> available_levels() {
    std::vector<SimdLevel> levels;
    for (const SimdLevel level : {SimdLevel::Portable, SimdLevel::Avx2, SimdLevel::AvxVnni, SimdLevel::Avx512, SimdLevel::Avx512Vbmi}) {
        if (level_runs(level)) levels.push_back(level);
    }
    return levels;
}

bool has_batch_kernel(SimdLevel level) { return level != SimdLevel::Portable; }

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// What the kernels of one SIMD level produce, and the bounds of the error analysis above.
struct KernelRun {
    std::vector<float> y;          // matmul output (n_tokens, rows)
    std::vector<float> reference_on_quantized; // matmul_reference on the dequantized activations
    std::vector<float> magnitude;  // sum_i |W_i| |x^_i|
    std::vector<float> rounding;   // sum_i |W_i| h_i
};

} // namespace

class TestCpuKernels : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();

    void matmulMatchesReference_data();
    void matmulMatchesReference();
    void batchKernels_data();
    void batchKernels();
    void batchKernelsExtremeValues_data();
    void batchKernelsExtremeValues();
    void batchEqualsSingleTokens_data();
    void batchEqualsSingleTokens();
    void rowRangesAndThreads_data();
    void rowRangesAndThreads();
    void quantizersAgree_data();
    void quantizersAgree();
    void activationQuantizationBounds();
    void nonFiniteActivationsGiveNaN();
    void gatherActivations();
    void remainderActivations_data();
    void remainderActivations();
    void weightMatrixFromTensor();
    void rejectsMismatchedInputs();
    void matrixEndingAtUnmappedPage();
    void siluMulAgainstDouble();
    void halfRowsMatchScalarConversions();
    void sumWordsMatchesPlainSum();

    void threadPoolRunsEveryTaskOnce_data();
    void threadPoolRunsEveryTaskOnce();
    void threadPoolPropagatesExceptions();
    void threadPoolManySmallCalls_data();
    void threadPoolManySmallCalls();
    void threadPoolNestedAndConcurrentCalls();
    void threadPoolSharesRunInOrder();
};

void TestCpuKernels::initTestCase() {
    qInfo("SIMD level supported: %s, active: %s", std::string(simd_level_name(simd_level_supported())).c_str(),
          std::string(simd_level_name(simd_level())).c_str());
}

// ---- matmul against the reference ---------------------------------------------------------------

void TestCpuKernels::matmulMatchesReference_data() {
    QTest::addColumn<int>("type");
    QTest::addColumn<int>("cols");
    QTest::addColumn<int>("rows");
    QTest::addColumn<int>("tokens");
    for (const TensorType type : kDecodableTypes) {
        const uint32_t block = tensor_type_info(type).block_size;
        std::vector<int> all_cols{256, 512, 2048};
        if (block <= 32) {
            all_cols.push_back(1408); // 1408 = 44 * 32 is not a multiple of 256
            all_cols.push_back(96);   // an odd number of blocks: Q5_0's two-block kernels end on one
            all_cols.push_back(160);  // 5 and 6 blocks: Q5_0's four-block kernel ends on one and on two
            all_cols.push_back(192);
        }
        if (block == 1) all_cols.push_back(37);    // float kernels: a ragged tail
        for (const int cols : all_cols) {
            for (const int rows : {1, 7, 64}) {
                for (const int tokens : {1, 3, 8, 17}) {
                    QTest::addRow("%s cols=%d rows=%d tokens=%d", std::string(tensor_type_name(type)).c_str(), cols, rows,
                                  tokens)
                        << static_cast<int>(type) << cols << rows << tokens;
                }
            }
        }
        // The batch kernels: panels of 16 rows with a ragged last one (37 = 2 * 16 + 5), and
        // token counts on both sides of kBatchKernelMinTokens.
        const int min_tokens = static_cast<int>(kBatchKernelMinTokens);
        for (const int tokens : {min_tokens - 1, min_tokens, min_tokens + 1}) {
            QTest::addRow("%s cols=512 rows=37 tokens=%d", std::string(tensor_type_name(type)).c_str(), tokens)
                << static_cast<int>(type) << 512 << 37 << tokens;
        }
        // The float batch kernel: tiles of two 16-token blocks, a one-block tile after them, a
        // ragged block, whole blocks transposed 8 values at a time with a ragged tail (cols 37),
        // 12-row tiles with a ragged last one (37 rows), and tasks split by tokens (few rows).
        if (block == 1) {
            for (const int cols : {37, 512}) {
                for (const int rows : {5, 37}) {
                    QTest::addRow("%s cols=%d rows=%d tokens=53", std::string(tensor_type_name(type)).c_str(), cols, rows)
                        << static_cast<int>(type) << cols << rows << 53;
                }
            }
        }
    }
}

void TestCpuKernels::matmulMatchesReference() {
    QFETCH(int, type);
    QFETCH(int, cols);
    QFETCH(int, rows);
    QFETCH(int, tokens);
    const auto weight_type = static_cast<TensorType>(type);
    const uint32_t seed = static_cast<uint32_t>(type * 7919 + cols * 31 + rows * 7 + tokens);
    const std::vector<uint8_t> data = random_matrix(weight_type, rows, cols, seed);
    const WeightMatrix w = matrix_of(weight_type, data, rows, cols);
    const std::vector<float> x = random_activations(tokens, cols, seed + 1);
    const size_t n_out = static_cast<size_t>(tokens * rows);

    std::vector<float> reference = poisoned(n_out);
    matmul_reference(w, x.data(), tokens, reference.data());

    // Decoded weights, for the error bounds.
    std::vector<float> decoded(static_cast<size_t>(rows * cols));
    for (int r = 0; r < rows; ++r) {
        dequantize_row(weight_type, data.data() + w.row_bytes * static_cast<size_t>(r), decoded.data() + r * cols, cols);
    }
    const ActivationFormat format = activation_format(weight_type);
    const int64_t act_block = activation_block_size(format);
    const int64_t n_terms = format == ActivationFormat::F32 ? cols / 8 + 8 : cols / 16 + cols / act_block + 8;
    const double eps = (has_block_minimum(weight_type) ? 4.0 : 1.0) * static_cast<double>(n_terms + 16) * 0x1.0p-24;

    std::vector<KernelRun> runs;
    for (const SimdLevel level : available_levels()) {
        SimdLevelScope scope(level);
        ActivationBuffer buffer;
        quantize_activations(weight_type, x.data(), cols, tokens, buffer);
        std::vector<float> dequantized(x.size());
        for (int t = 0; t < tokens; ++t) dequantize_activations(buffer, t, dequantized.data() + t * cols);

        KernelRun run;
        run.y = poisoned(n_out);
        matmul(w, buffer, run.y.data());
        run.reference_on_quantized = poisoned(n_out);
        matmul_reference(w, dequantized.data(), tokens, run.reference_on_quantized.data());
        run.magnitude.assign(n_out, 0.0f);
        run.rounding.assign(n_out, 0.0f);
        for (int t = 0; t < tokens; ++t) {
            for (int r = 0; r < rows; ++r) {
                double magnitude = 0.0, rounding = 0.0;
                for (int i = 0; i < cols; ++i) {
                    const double wi = std::fabs(static_cast<double>(decoded[static_cast<size_t>(r * cols + i)]));
                    magnitude += wi * std::fabs(static_cast<double>(dequantized[static_cast<size_t>(t * cols + i)]));
                    if (format != ActivationFormat::F32) {
                        rounding += wi * 0.5 * static_cast<double>(buffer.token_scales(t)[i / act_block]);
                    }
                }
                run.magnitude[static_cast<size_t>(t * rows + r)] = static_cast<float>(magnitude);
                run.rounding[static_cast<size_t>(t * rows + r)] = static_cast<float>(rounding * (1.0 + 0x1.0p-20));
            }
        }

        for (size_t k = 0; k < n_out; ++k) {
            const double y = run.y[k];
            const double tight = eps * run.magnitude[k] + 1e-30;
            const double loose = run.rounding[k] + eps * run.magnitude[k] + 1e-30;
            if (!(std::fabs(y - run.reference_on_quantized[k]) <= tight) || !(std::fabs(y - reference[k]) <= loose)) {
                QFAIL(qPrintable(QString("%1: output %2 (token %3, row %4) = %5; reference %6 (limit %7), on quantized "
                                         "activations %8 (limit %9)")
                                     .arg(QString::fromUtf8(std::string(simd_level_name(level)).c_str()))
                                     .arg(k).arg(k / static_cast<size_t>(rows)).arg(k % static_cast<size_t>(rows))
                                     .arg(y, 0, 'g', 9).arg(static_cast<double>(reference[k]), 0, 'g', 9).arg(loose, 0, 'g', 3)
                                     .arg(static_cast<double>(run.reference_on_quantized[k]), 0, 'g', 9).arg(tight, 0, 'g', 3)));
            }
        }

        // matmul_f32 is matmul on the same quantized activations.
        std::vector<float> y_f32 = poisoned(n_out);
        matmul_f32(w, x.data(), tokens, y_f32.data());
        QVERIFY2(bitwise_equal(y_f32, run.y), "matmul_f32 differs from quantize_activations + matmul");
        runs.push_back(std::move(run));
    }

    for (size_t level = 1; level < runs.size(); ++level) {
        for (size_t k = 0; k < n_out; ++k) {
            const double diff = std::fabs(static_cast<double>(runs[level].y[k]) - runs[0].y[k]);
            QVERIFY2(diff <= 2 * eps * runs[0].magnitude[k] + 1e-30,
                     qPrintable(QString("SIMD %1 vs portable %2 at output %3").arg(runs[level].y[k]).arg(runs[0].y[k]).arg(k)));
        }
    }
}

// ---- batches, threads, row ranges ------------------------------------------------------------

void TestCpuKernels::batchKernels_data() {
    QTest::addColumn<int>("type");
    for (const TensorType type : kDecodableTypes) { // float weights too: quant_dot_avx2_float.cpp
        QTest::addRow("%s", std::string(tensor_type_name(type)).c_str()) << static_cast<int>(type);
    }
}

// The batch kernel of each SIMD level really runs when its level is forced (it differs from the
// per-row AVX2 kernels, which one-token calls take, in rounding), agrees with them within the
// tolerance of a different kernel, and the AVX2, AVX-VNNI and AVX-512 batch kernels are
// bit-identical wherever the CPU runs them. Agreement with the reference is checked by
// matmulMatchesReference.
void TestCpuKernels::batchKernels() {
    if (!level_runs(SimdLevel::Avx2)) QSKIP("this CPU has no AVX2");
    QFETCH(int, type);
    const auto weight_type = static_cast<TensorType>(type);
    // 37 rows: two full panels (a pair for the AVX-512 two-panel tile) and a ragged one alone;
    // 21 rows: a pair whose second panel is ragged. 23 and 20 tokens: full tiles of 8 (one panel)
    // and 6 (two panels) and every smaller one.
    const int cols = tensor_type_info(weight_type).block_size == 256 ? 512 : 1408;
    for (const auto& [kRows, kTokens] : {std::pair{37, 23}, std::pair{21, 20}}) {
        const std::vector<uint8_t> data = random_matrix(weight_type, kRows, cols, 31u + static_cast<uint32_t>(type + kRows));
        const WeightMatrix w = matrix_of(weight_type, data, kRows, cols);
        const std::vector<float> x = random_activations(kTokens, cols, 17);
        ThreadPool pool(2);
        const auto run_at = [&](SimdLevel level) {
            SimdLevelScope scope(level);
            std::vector<float> y = poisoned(kTokens * kRows);
            matmul_f32(w, x.data(), kTokens, y.data(), &pool);
            return y;
        };
        std::vector<float> per_row = poisoned(kTokens * kRows);
        {
            SimdLevelScope scope(SimdLevel::Avx2);
            for (int t = 0; t < kTokens; ++t) matmul_f32(w, x.data() + t * cols, 1, per_row.data() + t * kRows);
        }
        const std::vector<float> avx2 = run_at(SimdLevel::Avx2);
        QVERIFY2(!bitwise_equal(avx2, per_row), "the AVX2 batch kernel did not run");
        std::vector<float> decoded(static_cast<size_t>(cols));
        for (int r = 0; r < kRows; ++r) {
            dequantize_row(weight_type, data.data() + w.row_bytes * static_cast<size_t>(r), decoded.data(), cols);
            for (int t = 0; t < kTokens; ++t) {
                double magnitude = 0.0;
                for (int i = 0; i < cols; ++i) magnitude += std::fabs(decoded[static_cast<size_t>(i)] * x[static_cast<size_t>(t * cols + i)]);
                const size_t k = static_cast<size_t>(t * kRows + r);
                QVERIFY2(std::fabs(static_cast<double>(avx2[k]) - per_row[k]) <= 1e-4 * magnitude + 1e-30,
                         qPrintable(QString("token %1 row %2: AVX2 batch %3, per row %4").arg(t).arg(r).arg(avx2[k]).arg(per_row[k])));
            }
        }
        for (const SimdLevel level : {SimdLevel::AvxVnni, SimdLevel::Avx512, SimdLevel::Avx512Vbmi}) {
            if (!level_runs(level)) continue;
            QVERIFY2(bitwise_equal(avx2, run_at(level)),
                     qPrintable(QString("the AVX2 and %1 batch kernels differ (%2 rows)").arg(std::string(simd_level_name(level)).c_str()).arg(kRows)));
        }
    }
}

void TestCpuKernels::batchKernelsExtremeValues_data() {
    QTest::addColumn<int>("type");
    for (const TensorType type : kDecodableTypes) {
        if (activation_format(type) == ActivationFormat::F32) continue;
        QTest::addRow("%s", std::string(tensor_type_name(type)).c_str()) << static_cast<int>(type);
    }
}

// Every weight at an extreme of its type's range (all quant and scale bytes 0x00, 0xFF, 0x80 or
// 0x7F: Q8_0 -128 and 127, Q4_K 15, Q6_K -32 and 31, IQ4 -127, ...) against activations that
// all quantize to +-127: the batch kernels' int16 intermediate sums (maddubs in the AVX2 one)
// must neither saturate nor wrap, which the reference checks to float rounding.
void TestCpuKernels::batchKernelsExtremeValues() {
    QFETCH(int, type);
    const auto weight_type = static_cast<TensorType>(type);
    const TensorTypeInfo& info = tensor_type_info(weight_type);
    const int cols = info.block_size == 256 ? 512 : 256;
    constexpr int kRows = 20, kTokens = 12;
    const size_t row_bytes = tensor_row_bytes(weight_type, cols);
    std::vector<uint8_t> data(row_bytes * kRows);
    constexpr uint8_t kFills[] = {0x00, 0xFF, 0x80, 0x7F};
    for (int r = 0; r < kRows; ++r) {
        for (int64_t b = 0; b < cols / info.block_size; ++b) {
            uint8_t* block = data.data() + row_bytes * static_cast<size_t>(r) + static_cast<size_t>(b) * info.type_size;
            std::memset(block, kFills[r % 4], info.type_size);
            store_scales(weight_type, block, [] { return 0.01f; }, [] { return 0.002f; });
        }
    }
    const WeightMatrix w = matrix_of(weight_type, data, kRows, cols);
    // Every value +-1 (so +-127 once quantized): all +, all -, and sign patterns.
    std::vector<float> x(static_cast<size_t>(kTokens * cols));
    for (int t = 0; t < kTokens; ++t) {
        for (int i = 0; i < cols; ++i) {
            const bool negative = t == 0 ? false : t == 1 ? true : ((i >> (t % 6)) & 1) != (t >= 6);
            x[static_cast<size_t>(t * cols + i)] = negative ? -1.0f : 1.0f;
        }
    }
    const size_t n_out = static_cast<size_t>(kTokens * kRows);
    std::vector<float> reference = poisoned(n_out);
    matmul_reference(w, x.data(), kTokens, reference.data());
    const int64_t n_terms = cols / 16 + cols / activation_block_size(activation_format(weight_type)) + 8;
    const double eps = 4.0 * static_cast<double>(n_terms + 16) * 0x1.0p-24;
    std::vector<float> decoded(static_cast<size_t>(cols));
    // All kTokens take the batch kernel; the first 3 alone the per-row kernels (the VNNI ones
    // pack int32 sums of 4 products into int16).
    for (const SimdLevel level : available_levels()) {
      for (const int n_tokens : {kTokens, 3}) {
        SimdLevelScope scope(level);
        std::vector<float> y = poisoned(n_out);
        matmul_f32(w, x.data(), n_tokens, y.data());
        for (int r = 0; r < kRows; ++r) {
            dequantize_row(weight_type, data.data() + row_bytes * static_cast<size_t>(r), decoded.data(), cols);
            double magnitude = 0.0;
            for (const float v : decoded) magnitude += std::fabs(static_cast<double>(v));
            for (int t = 0; t < n_tokens; ++t) {
                const size_t k = static_cast<size_t>(t * kRows + r);
                QVERIFY2(std::fabs(static_cast<double>(y[k]) - reference[k]) <= eps * magnitude + 1e-30,
                         qPrintable(QString("%1: token %2 row %3: %4, reference %5")
                                        .arg(std::string(simd_level_name(level)).c_str())
                                        .arg(t).arg(r).arg(static_cast<double>(y[k]), 0, 'g', 9)
                                        .arg(static_cast<double>(reference[k]), 0, 'g', 9)));
            }
        }
      }
    }
}

void TestCpuKernels::batchEqualsSingleTokens_data() {
    QTest::addColumn<int>("type");
    for (const TensorType type : kDecodableTypes) {
        QTest::addRow("%s", std::string(tensor_type_name(type)).c_str()) << static_cast<int>(type);
    }
}

void TestCpuKernels::batchEqualsSingleTokens() {
    QFETCH(int, type);
    const auto weight_type = static_cast<TensorType>(type);
    constexpr int kCols = 512, kRows = 37, kTokens = 71; // 71 tokens: several task chunks and ragged tiles
    const std::vector<uint8_t> data = random_matrix(weight_type, kRows, kCols, 99u + static_cast<uint32_t>(type));
    const WeightMatrix w = matrix_of(weight_type, data, kRows, kCols);
    const std::vector<float> x = random_activations(kTokens, kCols, 7);
    ThreadPool pool(3);
    for (const SimdLevel level : available_levels()) {
        SimdLevelScope scope(level);
        const std::string name(simd_level_name(level));
        std::vector<float> batch = poisoned(kTokens * kRows);
        matmul_f32(w, x.data(), kTokens, batch.data(), &pool);
        std::vector<float> single = poisoned(kTokens * kRows);
        for (int t = 0; t < kTokens; ++t) matmul_f32(w, x.data() + t * kCols, 1, single.data() + t * kRows);
        // Batches of kBatchKernelMinTokens or more may take a batch kernel of their own; their
        // results must not depend on how the tokens are grouped.
        std::vector<float> chunked = poisoned(kTokens * kRows);
        for (int t = 0, chunk = 0; t < kTokens; t += chunk) {
            chunk = std::min(kTokens - t, static_cast<int>(kBatchKernelMinTokens) + (t % 13));
            if (kTokens - t - chunk < kBatchKernelMinTokens) chunk = kTokens - t;
            matmul_f32(w, x.data() + t * kCols, chunk, chunked.data() + t * kRows);
        }
        QVERIFY2(bitwise_equal(batch, chunked), name.c_str());
        // The per-row kernels over all 71 tokens (task chunks of 64 tokens: the second starts at
        // token 64) give each token what it gets alone.
        ActivationBuffer quantized;
        quantize_activations(weight_type, x.data(), kCols, kTokens, quantized);
        std::vector<float> per_row = poisoned(kTokens * kRows);
        matmul_per_row(w, quantized, per_row.data(), &pool);
        QVERIFY2(bitwise_equal(per_row, single), (name + ": per-row kernels, all tokens at once").c_str());
        if (!has_batch_kernel(level)) {
            QVERIFY2(bitwise_equal(batch, single), name.c_str());
            continue;
        }
        // A different kernel: both are within eps * sum |W| |x^| of the exact product (see the
        // top of the file), and |W| |x^| <= sum |W| |x| + rounding; compare with a loose bound.
        std::vector<float> decoded(static_cast<size_t>(kCols));
        for (int r = 0; r < kRows; ++r) {
            dequantize_row(weight_type, data.data() + w.row_bytes * static_cast<size_t>(r), decoded.data(), kCols);
            for (int t = 0; t < kTokens; ++t) {
                double magnitude = 0.0;
                for (int i = 0; i < kCols; ++i) magnitude += std::fabs(decoded[static_cast<size_t>(i)] * x[static_cast<size_t>(t * kCols + i)]);
                const size_t k = static_cast<size_t>(t * kRows + r);
                QVERIFY2(std::fabs(static_cast<double>(batch[k]) - single[k]) <= 1e-4 * magnitude + 1e-30, name.c_str());
            }
        }
    }
}

void TestCpuKernels::rowRangesAndThreads_data() {
    QTest::addColumn<int>("type");
    for (const TensorType type : {TensorType::F16, TensorType::Q8_0, TensorType::Q5_0, TensorType::Q4_K, TensorType::Q6_K}) {
        QTest::addRow("%s", std::string(tensor_type_name(type)).c_str()) << static_cast<int>(type);
    }
}

void TestCpuKernels::rowRangesAndThreads() {
    QFETCH(int, type);
    const auto weight_type = static_cast<TensorType>(type);
    constexpr int kCols = 1024, kRows = 300, kTokens = 9;
    const std::vector<uint8_t> data = random_matrix(weight_type, kRows, kCols, 5u);
    const WeightMatrix w = matrix_of(weight_type, data, kRows, kCols);
    const std::vector<float> x = random_activations(kTokens, kCols, 6);
    ActivationBuffer buffer;
    quantize_activations(weight_type, x.data(), kCols, kTokens, buffer);

    std::vector<float> full = poisoned(kTokens * kRows);
    matmul(w, buffer, full.data());
    for (const unsigned threads : {1u, 2u, 4u}) {
        ThreadPool pool(threads);
        std::vector<float> threaded = poisoned(kTokens * kRows);
        matmul(w, buffer, threaded.data(), &pool);
        QVERIFY2(bitwise_equal(threaded, full), qPrintable(QString("%1 threads").arg(threads)));

        for (const auto& [begin, end] : {std::pair{0, 1}, std::pair{17, 18}, std::pair{3, 250}, std::pair{299, 300}, std::pair{40, 40}}) {
            std::vector<float> part = poisoned(kTokens * kRows);
            matmul(w, buffer, part.data(), &pool, begin, end);
            for (int t = 0; t < kTokens; ++t) {
                for (int r = 0; r < kRows; ++r) {
                    const float v = part[static_cast<size_t>(t * kRows + r)];
                    if (r >= begin && r < end) {
                        QCOMPARE(v, full[static_cast<size_t>(t * kRows + r)]);
                    } else {
                        QVERIFY2(std::isnan(v), "a row outside the range was written");
                    }
                }
            }
        }
    }
}

// ---- activation quantization ------------------------------------------------------------------

void TestCpuKernels::quantizersAgree_data() {
    QTest::addColumn<int>("type");
    for (const TensorType type : {TensorType::Q8_0, TensorType::Q4_K}) {
        QTest::addRow("%s", std::string(tensor_type_name(type)).c_str()) << static_cast<int>(type);
    }
}

void TestCpuKernels::quantizersAgree() {
    if (simd_level_supported() == SimdLevel::Portable) QSKIP("no SIMD level on this CPU");
    QFETCH(int, type);
    const auto weight_type = static_cast<TensorType>(type);
    constexpr int kCols = 2048, kTokens = 5;
    std::vector<float> x = random_activations(kTokens, kCols, 3);
    // Ties: values that land exactly halfway between two quants after scaling.
    for (int i = 0; i < 32; ++i) x[static_cast<size_t>(256 + i)] = static_cast<float>(i) - 15.5f;
    x[256 + 31] = 127.0f;
    ActivationBuffer portable, simd;
    {
        SimdLevelScope scope(SimdLevel::Portable);
        quantize_activations(weight_type, x.data(), kCols, kTokens, portable);
    }
    {
        SimdLevelScope scope(simd_level_supported());
        quantize_activations(weight_type, x.data(), kCols, kTokens, simd);
    }
    QVERIFY(std::memcmp(portable.quants.data(), simd.quants.data(), portable.quants.size()) == 0);
    QVERIFY(std::memcmp(portable.scales.data(), simd.scales.data(), portable.scales.size() * sizeof(float)) == 0);
    QVERIFY(std::memcmp(portable.sums.data(), simd.sums.data(), portable.sums.size() * sizeof(int16_t)) == 0);
}

void TestCpuKernels::activationQuantizationBounds() {
    constexpr int kCols = 512, kTokens = 4;
    const std::vector<float> x = random_activations(kTokens, kCols, 11);
    for (const SimdLevel level : available_levels()) {
        SimdLevelScope scope(level);
        for (const TensorType type : {TensorType::Q8_0, TensorType::Q6_K}) {
            ActivationBuffer buffer;
            quantize_activations(type, x.data(), kCols, kTokens, buffer);
            const int64_t block = activation_block_size(buffer.format);
            const int64_t group = activation_sum_group(buffer.format);
            std::vector<float> dequantized(kCols);
            for (int t = 0; t < kTokens; ++t) {
                dequantize_activations(buffer, t, dequantized.data());
                for (int i = 0; i < kCols; ++i) {
                    const float d = buffer.token_scales(t)[i / block];
                    QVERIFY(std::abs(buffer.token_quants(t)[i]) <= 127);
                    QVERIFY(std::fabs(dequantized[i] - x[static_cast<size_t>(t * kCols + i)]) <= 0.5001f * d);
                }
                for (int g = 0; g < kCols / group; ++g) {
                    int sum = 0;
                    for (int j = 0; j < group; ++j) sum += buffer.token_quants(t)[g * group + j];
                    QCOMPARE(static_cast<int>(buffer.token_sums(t)[g]), sum);
                }
                if (block == 32) QCOMPARE(buffer.token_scales(t)[1], 0.0f); // the all-zero values 32..63
            }
        }
    }
}

void TestCpuKernels::nonFiniteActivationsGiveNaN() {
    constexpr int kCols = 256, kRows = 5, kTokens = 3;
    for (const SimdLevel level : available_levels()) {
        SimdLevelScope scope(level);
        for (const TensorType type : {TensorType::Q8_0, TensorType::Q4_K, TensorType::F32}) {
            const std::vector<uint8_t> data = random_matrix(type, kRows, kCols, 1);
            const WeightMatrix w = matrix_of(type, data, kRows, kCols);
            std::vector<float> x = random_activations(kTokens, kCols, 2);
            x[kCols + 100] = std::numeric_limits<float>::infinity();
            x[2 * kCols + 7] = std::numeric_limits<float>::quiet_NaN();
            std::vector<float> y = poisoned(kTokens * kRows);
            std::fill(y.begin(), y.begin() + kRows, 0.0f); // token 0 must overwrite with finite values
            matmul_f32(w, x.data(), kTokens, y.data());
            for (int r = 0; r < kRows; ++r) {
                QVERIFY(std::isfinite(y[static_cast<size_t>(r)]));
                QVERIFY(!std::isfinite(y[static_cast<size_t>(kRows + r)]));
                QVERIFY(std::isnan(y[static_cast<size_t>(2 * kRows + r)]));
            }
        }
    }
}

void TestCpuKernels::gatherActivations() {
    constexpr int kCols = 512, kRows = 9, kTokens = 6;
    const std::vector<uint8_t> data = random_matrix(TensorType::Q4_K, kRows, kCols, 4);
    const WeightMatrix w = matrix_of(TensorType::Q4_K, data, kRows, kCols);
    const std::vector<float> x = random_activations(kTokens, kCols, 5);
    ActivationBuffer all, some;
    quantize_activations(TensorType::Q4_K, x.data(), kCols, kTokens, all);
    const std::vector<int32_t> picked{4, 1, 4};
    gather_activations(all, picked, some);
    QCOMPARE(some.n_tokens, int64_t{3});
    std::vector<float> y_all = poisoned(kTokens * kRows), y_some = poisoned(3 * kRows);
    matmul(w, all, y_all.data());
    matmul(w, some, y_some.data());
    for (size_t i = 0; i < picked.size(); ++i) {
        for (int r = 0; r < kRows; ++r) {
            QCOMPARE(y_some[i * kRows + static_cast<size_t>(r)], y_all[static_cast<size_t>(picked[i] * kRows + r)]);
        }
    }
    const std::vector<int32_t> bad{6};
    QVERIFY_THROWS_EXCEPTION(Error, gather_activations(all, bad, some));
}

// quantize_activations_with_remainder: rows 0..n-1 are quantize_activations' rows bit for bit,
// rows n..2n-1 those of each row's remainder x - dequantised(x), computed here from the first
// rows; and the two halves' products, summed, are far closer to the float product (the
// reference on the same decoded weights) than the plain product is. On the pool and inline.
void TestCpuKernels::remainderActivations_data() {
    QTest::addColumn<int>("type");
    QTest::addColumn<int>("tokens");
    for (TensorType t : {TensorType::Q4_K, TensorType::Q5_0, TensorType::Q8_0, TensorType::Q6_K}) {
        for (int tokens : {1, 5, 40}) {
            QTest::newRow(qPrintable(QString("%1 x%2").arg(QString::fromLatin1(tensor_type_name(t).data())).arg(tokens)))
                << static_cast<int>(t) << tokens;
        }
    }
}

void TestCpuKernels::remainderActivations() {
    QFETCH(int, type);
    QFETCH(int, tokens);
    const auto weight_type = static_cast<TensorType>(type);
    constexpr int kCols = 512, kRows = 24;
    const std::vector<float> x = random_activations(tokens, kCols, 17u + static_cast<uint32_t>(tokens));
    ActivationBuffer plain, both;
    quantize_activations(weight_type, x.data(), kCols, tokens, plain);
    ThreadPool pool(3);
    for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
        quantize_activations_with_remainder(weight_type, x.data(), kCols, tokens, both, p);
        QCOMPARE(both.n_tokens, int64_t{2} * tokens);
        std::vector<float> remainder(static_cast<size_t>(tokens) * kCols), row(kCols);
        for (int t = 0; t < tokens; ++t) {
            dequantize_activations(plain, t, row.data());
            for (int i = 0; i < kCols; ++i) remainder[static_cast<size_t>(t * kCols + i)] = x[static_cast<size_t>(t * kCols + i)] - row[static_cast<size_t>(i)];
        }
        ActivationBuffer rest;
        quantize_activations(weight_type, remainder.data(), kCols, tokens, rest);
        const size_t quants = static_cast<size_t>(tokens) * kCols, scales = quants / static_cast<size_t>(activation_block_size(plain.format));
        QVERIFY(std::memcmp(both.quants.data(), plain.quants.data(), quants) == 0);
        QVERIFY(std::memcmp(both.quants.data() + quants, rest.quants.data(), quants) == 0);
        QVERIFY(std::memcmp(both.scales.data(), plain.scales.data(), scales * sizeof(float)) == 0);
        QVERIFY(std::memcmp(both.scales.data() + scales, rest.scales.data(), scales * sizeof(float)) == 0);
    }
    const std::vector<uint8_t> data = random_matrix(weight_type, kRows, kCols, 23);
    const WeightMatrix w = matrix_of(weight_type, data, kRows, kCols);
    std::vector<float> y_plain = poisoned(tokens * kRows), y_both = poisoned(2 * tokens * kRows), y_ref(static_cast<size_t>(tokens * kRows));
    matmul(w, plain, y_plain.data());
    matmul(w, both, y_both.data());
    matmul_reference(w, x.data(), tokens, y_ref.data());
    double err_plain = 0, err_both = 0;
    for (size_t i = 0; i < y_ref.size(); ++i) {
        err_plain = std::max(err_plain, std::abs(static_cast<double>(y_plain[i]) - y_ref[i]));
        err_both = std::max(err_both, std::abs(static_cast<double>(y_both[i]) + y_both[y_ref.size() + i] - y_ref[i]));
    }
    qInfo("max |error|: plain %.3g, with the remainder %.3g", err_plain, err_both);
    QVERIFY(err_both < err_plain / 20);
    QVERIFY_THROWS_EXCEPTION(Error, quantize_activations_with_remainder(TensorType::F16, x.data(), kCols, tokens, both));
    QVERIFY_THROWS_EXCEPTION(Error, quantize_activations_with_remainder(weight_type, x.data(), kCols - 16, tokens, both));
}

void TestCpuKernels::weightMatrixFromTensor() {
    constexpr int kCols = 256, kRows = 3, kExperts = 4;
    const std::vector<uint8_t> data = random_matrix(TensorType::Q4_K, kRows * kExperts, kCols, 8);
    gguf::TensorInfo info;
    info.name = "blk.1.ffn_up_exps.weight";
    info.n_dims = 3;
    info.ne = {kCols, kRows, kExperts, 1};
    info.type = TensorType::Q4_K;
    info.size_bytes = data.size();
    info.data = data.data();
    for (int e = 0; e < kExperts; ++e) {
        const WeightMatrix w = weight_matrix(info, e);
        QCOMPARE(w.cols, int64_t{kCols});
        QCOMPARE(w.rows, int64_t{kRows});
        QCOMPARE(w.row_bytes, size_t{144});
        QCOMPARE(w.data, data.data() + static_cast<size_t>(e) * kRows * 144);
    }
    QVERIFY_THROWS_EXCEPTION(Error, weight_matrix(info));      // 3-D: needs a matrix index
    QVERIFY_THROWS_EXCEPTION(Error, weight_matrix(info, kExperts));
    info.size_bytes -= 1;
    QVERIFY_THROWS_EXCEPTION(Error, weight_matrix(info, 0));  // too little data
    info.size_bytes += 1;
    info.type = TensorType::IQ2_XXS;
    QVERIFY_THROWS_EXCEPTION(Error, weight_matrix(info, 0));  // no kernel

    gguf::TensorInfo matrix = info;
    matrix.type = TensorType::F32;
    matrix.ne = {10, 2, 1, 1};
    matrix.size_bytes = 80;
    const WeightMatrix w = weight_matrix(matrix);
    QCOMPARE(w.rows, int64_t{2});
    QCOMPARE(w.row_bytes, size_t{40});
}

// A tensor may end where the model file's mapping ends: no kernel may read past the last byte of
// the last row (the wide kernels load several blocks at once and must mask the tail). The matrix
// is put against a page that is not readable; every level and token count must still match the
// same matrix in ordinary memory bit for bit.
void TestCpuKernels::matrixEndingAtUnmappedPage() {
#if defined(__linux__)
    const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    for (const TensorType type : kDecodableTypes) {
        const uint32_t block = tensor_type_info(type).block_size;
        // 96, 160, 192: 3, 5 and 6 32-blocks (the two- and four-block Q5_0 kernels' tails)
        const std::vector<int64_t> all_cols = block <= 32 ? std::vector<int64_t>{96, 160, 192} : std::vector<int64_t>{256};
        for (const int64_t cols : all_cols) {
            const int64_t rows = 3;
            const std::vector<uint8_t> data = random_matrix(type, rows, cols, 4242u + static_cast<uint32_t>(type));
            QVERIFY(data.size() <= page);
            void* region = ::mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            QVERIFY(region != MAP_FAILED);
            auto* base = static_cast<uint8_t*>(region);
            QCOMPARE(::mprotect(base + page, page, PROT_NONE), 0);
            uint8_t* at_end = base + page - data.size();
            std::memcpy(at_end, data.data(), data.size());
            WeightMatrix fenced = matrix_of(type, data, rows, cols);
            fenced.data = at_end;
            const WeightMatrix ordinary = matrix_of(type, data, rows, cols);
            for (const int tokens : {1, 2, 3, 4, 5, static_cast<int>(kBatchKernelMinTokens)}) {
                const std::vector<float> x = random_activations(tokens, cols, 99u + static_cast<uint32_t>(tokens));
                for (const SimdLevel level : available_levels()) {
                    SimdLevelScope scope(level);
                    ActivationBuffer buffer;
                    quantize_activations(type, x.data(), cols, tokens, buffer);
                    std::vector<float> expected = poisoned(static_cast<size_t>(tokens * rows)), got = expected;
                    matmul(ordinary, buffer, expected.data());
                    matmul(fenced, buffer, got.data());
                    for (size_t i = 0; i < got.size(); ++i) {
                        if (std::memcmp(&got[i], &expected[i], sizeof(float)) != 0) {
                            QFAIL(qPrintable(QString("%1 %2, %3 tokens: output %4 = %5 next to an unreadable page, %6 elsewhere")
                                                 .arg(QString::fromStdString(std::string(tensor_type_name(type))),
                                                      QString::fromStdString(std::string(simd_level_name(level))))
                                                 .arg(tokens)
                                                 .arg(i)
                                                 .arg(got[i])
                                                 .arg(expected[i])));
                        }
                    }
                }
            }
            ::munmap(region, 2 * page);
        }
    }
#else
    QSKIP("needs mmap/mprotect (Linux)");
#endif
}

// silu(g) * u at every SIMD level against the formula in double precision: within 4 ulp-sized
// steps of the result (plus 1e-30 absolute where the true value is about 0: for g < -88 the
// vector paths give g * u / e^88), NaN in gives NaN out, and an element's result does not
// depend on the array's length or where it sits in it (the vector paths' tails).
void TestCpuKernels::siluMulAgainstDouble() {
    std::mt19937 rng(20261206u);
    std::uniform_real_distribution<float> wide(-120.0f, 120.0f), narrow(-8.0f, 8.0f), scale(-3.0f, 3.0f);
    std::vector<float> g, u;
    for (int i = 0; i < 4000; ++i) {
        g.push_back(i % 2 ? wide(rng) : narrow(rng));
        u.push_back(scale(rng));
    }
    for (const float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 88.0f, -88.0f, 89.0f, -89.0f, 104.0f, -104.0f, 200.0f, -200.0f}) {
        g.push_back(v);
        u.push_back(1.0f);
    }
    const size_t finite = g.size();
    g.push_back(std::numeric_limits<float>::quiet_NaN());
    u.push_back(1.0f);
    g.push_back(1.0f);
    u.push_back(std::numeric_limits<float>::quiet_NaN());
    for (const SimdLevel level : available_levels()) {
        SimdLevelScope scope(level);
        std::vector<float> out = g;
        silu_mul(out.data(), u.data(), out.size());
        for (size_t i = 0; i < finite; ++i) {
            const double x = g[i], expected = x / (1.0 + std::exp(-x)) * u[i];
            const double limit = 4.0 * 0x1.0p-24 * std::fabs(expected) + 1e-30; // below 1e-30: zero for any activation
            if (!(std::fabs(out[i] - expected) <= limit)) {
                QFAIL(qPrintable(QString("%1: silu(%2) * %3 = %4, expected %5")
                                     .arg(QString::fromStdString(std::string(simd_level_name(level))))
                                     .arg(static_cast<double>(g[i]), 0, 'g', 9)
                                     .arg(static_cast<double>(u[i]), 0, 'g', 9)
                                     .arg(static_cast<double>(out[i]), 0, 'g', 9)
                                     .arg(expected, 0, 'g', 9)));
            }
        }
        QVERIFY(std::isnan(out[finite]));
        QVERIFY(std::isnan(out[finite + 1]));
        // Lengths 1..40 from several offsets: the same bits as the whole array.
        for (size_t offset : {size_t{0}, size_t{3}, size_t{17}}) {
            for (size_t n = 1; n <= 40; ++n) {
                std::vector<float> part(g.begin() + static_cast<std::ptrdiff_t>(offset), g.begin() + static_cast<std::ptrdiff_t>(offset + n));
                silu_mul(part.data(), u.data() + offset, n);
                QVERIFY2(std::memcmp(part.data(), out.data() + offset, n * sizeof(float)) == 0,
                         qPrintable(QString("%1: length %2 at offset %3").arg(QString::fromStdString(std::string(simd_level_name(level)))).arg(n).arg(offset)));
            }
        }
    }
}

// fp32_to_fp16_row / fp16_to_fp32_row (the latent cache's rows) give fp32_to_fp16 / fp16_to_fp32's
// bits at every SIMD level: every binary16 pattern, and floats around every rounding boundary
// (ties between two halves, the subnormal range, overflow to infinity), at lengths that end in
// the scalar tail. NaN stays NaN.
void TestCpuKernels::halfRowsMatchScalarConversions() {
    std::vector<uint8_t> all_halves(65536 * 2);
    for (uint32_t h = 0; h < 65536; ++h) {
        all_halves[2 * h] = static_cast<uint8_t>(h);
        all_halves[2 * h + 1] = static_cast<uint8_t>(h >> 8);
    }
    std::vector<float> floats;
    std::mt19937 rng(7u);
    for (uint32_t h = 0; h < 65536; h += 7) { // each half, the ties next to it, and its neighbours
        const float f = fp16_to_fp32(static_cast<uint16_t>(h));
        if (std::isnan(f)) continue;
        const uint32_t bits = std::bit_cast<uint32_t>(f);
        for (const int delta : {-4097, -4096, -4095, -1, 0, 1, 4095, 4096, 4097}) floats.push_back(std::bit_cast<float>(bits + static_cast<uint32_t>(delta)));
    }
    for (int i = 0; i < 20000; ++i) floats.push_back(std::bit_cast<float>(static_cast<uint32_t>(rng())));
    for (const float v : {65504.0f, 65519.99f, 65520.0f, 1e9f, -1e9f, 5.96e-8f, 2.98e-8f, 2.99e-8f, 1e-30f, -0.0f,
                          std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                          std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::denorm_min()}) {
        floats.push_back(v);
    }
    floats.push_back(1.0f); // an odd length: the last element goes through the scalar tail
    for (const SimdLevel level : available_levels()) {
        SimdLevelScope scope(level);
        const QString name = QString::fromStdString(std::string(simd_level_name(level)));
        std::vector<float> widened(65536);
        fp16_to_fp32_row(all_halves.data(), widened.data(), 65536);
        for (uint32_t h = 0; h < 65536; ++h) {
            const float expected = fp16_to_fp32(static_cast<uint16_t>(h));
            const bool same = std::isnan(expected) ? std::isnan(widened[h])
                                                   : std::bit_cast<uint32_t>(widened[h]) == std::bit_cast<uint32_t>(expected);
            if (!same) QFAIL(qPrintable(QString("%1: half 0x%2 widened to %3, expected %4").arg(name).arg(h, 4, 16).arg(widened[h]).arg(expected)));
        }
        std::vector<uint8_t> narrowed(floats.size() * 2);
        fp32_to_fp16_row(floats.data(), narrowed.data(), floats.size());
        for (size_t i = 0; i < floats.size(); ++i) {
            const uint16_t got = static_cast<uint16_t>(narrowed[2 * i] | narrowed[2 * i + 1] << 8), expected = fp32_to_fp16(floats[i]);
            const bool same = std::isnan(floats[i]) ? std::isnan(fp16_to_fp32(got)) : got == expected;
            if (!same) {
                QFAIL(qPrintable(QString("%1: %2 (bits 0x%3) narrowed to 0x%4, expected 0x%5").arg(name).arg(static_cast<double>(floats[i]), 0, 'g', 9)
                                     .arg(std::bit_cast<uint32_t>(floats[i]), 8, 16).arg(got, 4, 16).arg(expected, 4, 16)));
            }
        }
    }
}

// sum_words (latent bench's read probe) gives the plain 64-bit sum at every SIMD level (the
// portable one included), for
// every start offset 0..7 (unaligned loads) and lengths that end in each path's tail (not a
// multiple of 256, 128, 8 bytes), with carries (random words wrap the sum).
void TestCpuKernels::sumWordsMatchesPlainSum() {
    std::vector<uint8_t> bytes(4096 + 64);
    std::mt19937 rng(11u);
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
    for (const SimdLevel level : available_levels()) {
        SimdLevelScope scope(level);
        for (size_t offset = 0; offset < 8; ++offset) {
            for (const size_t n : {size_t{0}, size_t{7}, size_t{8}, size_t{136}, size_t{255}, size_t{256}, size_t{1000}, size_t{4096}}) {
                uint64_t expected = 0;
                for (size_t i = 0; i + 8 <= n; i += 8) {
                    uint64_t word = 0;
                    for (int k = 7; k >= 0; --k) word = word << 8 | bytes[offset + i + static_cast<size_t>(k)];
                    expected += word;
                }
                QCOMPARE(sum_words(bytes.data() + offset, n), expected);
            }
        }
    }
}

void TestCpuKernels::rejectsMismatchedInputs() {
    const std::vector<uint8_t> data = random_matrix(TensorType::Q4_K, 2, 512, 9);
    const WeightMatrix w = matrix_of(TensorType::Q4_K, data, 2, 512);
    const std::vector<float> x = random_activations(1, 512, 10);
    std::vector<float> y(2);
    ActivationBuffer wrong_format, wrong_cols;
    quantize_activations(TensorType::Q8_0, x.data(), 512, 1, wrong_format);
    quantize_activations(TensorType::Q4_K, x.data(), 256, 1, wrong_cols);
    QVERIFY_THROWS_EXCEPTION(Error, matmul(w, wrong_format, y.data()));
    QVERIFY_THROWS_EXCEPTION(Error, matmul(w, wrong_cols, y.data()));
    QVERIFY_THROWS_EXCEPTION(Error, matmul(w, wrong_cols, y.data(), nullptr, 1, 3));
    ActivationBuffer buffer;
    QVERIFY_THROWS_EXCEPTION(Error, quantize_activations(TensorType::Q4_K, x.data(), 100, 1, buffer));
    QVERIFY_THROWS_EXCEPTION(Error, quantize_activations(TensorType::IQ2_XXS, x.data(), 256, 1, buffer));
    WeightMatrix ragged = w;
    ragged.cols = 300;
    QVERIFY_THROWS_EXCEPTION(Error, matmul_f32(ragged, x.data(), 1, y.data()));
}

// ---- thread pool --------------------------------------------------------------------------------

void TestCpuKernels::threadPoolRunsEveryTaskOnce_data() {
    QTest::addColumn<unsigned>("threads");
    QTest::addColumn<int>("tasks");
    QTest::addColumn<bool>("shares");
    for (const bool shares : {false, true}) {
        for (const unsigned threads : {1u, 2u, 4u}) {
            for (const int tasks : {0, 1, 2, 3, 5, 100, 10007}) {
                QTest::addRow("%s threads=%u tasks=%d", shares ? "shares" : "plain", threads, tasks) << threads << tasks << shares;
            }
        }
    }
}

void TestCpuKernels::threadPoolRunsEveryTaskOnce() {
    QFETCH(unsigned, threads);
    QFETCH(int, tasks);
    QFETCH(bool, shares);
    ThreadPool pool(threads);
    QCOMPARE(pool.size(), threads);
    std::vector<std::atomic<int>> runs(static_cast<size_t>(tasks));
    std::vector<std::atomic<int>> per_thread(threads);
    std::atomic<bool> bad_thread{false};
    for (int repeat = 0; repeat < 3; ++repeat) {
        for (auto& r : runs) r = 0;
        const ThreadPool::TaskFunction body = [&](size_t task, unsigned thread) {
            if (thread >= threads) {
                bad_thread = true;
                return;
            }
            runs[task].fetch_add(1);
            per_thread[thread].fetch_add(1);
        };
        if (shares) pool.parallel_for_shares(static_cast<size_t>(tasks), body);
        else pool.parallel_for(static_cast<size_t>(tasks), body);
        QVERIFY(!bad_thread.load());
        for (int task = 0; task < tasks; ++task) QCOMPARE(runs[static_cast<size_t>(task)].load(), 1);
    }
    int total = 0;
    for (auto& count : per_thread) total += count.load();
    QCOMPARE(total, 3 * tasks);
}

void TestCpuKernels::threadPoolPropagatesExceptions() {
    for (const unsigned threads : {1u, 2u, 4u}) {
        ThreadPool pool(threads);
        // Task `failing` of 1000 throws, in plain hand-out and in shares (task 600 is in the
        // second share of 2 or 4, or the caller's only one): the call rethrows it.
        for (const bool shares : {false, true}) {
            const size_t failing = shares ? 600 : 37;
            const std::string message = "task " + std::to_string(failing) + " failed";
            std::atomic<int> ran{0};
            const ThreadPool::TaskFunction body = [&](size_t task, unsigned) {
                ran.fetch_add(1);
                if (task == failing) throw std::runtime_error(message);
            };
            bool caught = false;
            try {
                if (shares) pool.parallel_for_shares(1000, body);
                else pool.parallel_for(1000, body);
            } catch (const std::runtime_error& error) {
                caught = error.what() == message;
            }
            QVERIFY(caught);
            QVERIFY(ran.load() >= 1 && ran.load() <= 1000);
        }
        // The pool stays usable.
        std::atomic<int> after{0};
        pool.parallel_for(500, [&](size_t, unsigned) { after.fetch_add(1); });
        QCOMPARE(after.load(), 500);
    }
}

void TestCpuKernels::threadPoolManySmallCalls_data() {
    QTest::addColumn<unsigned>("threads");
    QTest::addRow("1 thread") << 1u;
    QTest::addRow("2 threads") << 2u;
    QTest::addRow("4 threads") << 4u;
}

void TestCpuKernels::threadPoolManySmallCalls() {
    QFETCH(unsigned, threads);
    ThreadPool pool(threads);
    constexpr int kCalls = 10000;
    std::atomic<int64_t> sum{0};
    const auto start = std::chrono::steady_clock::now();
    for (int call = 0; call < kCalls; ++call) {
        pool.parallel_for(static_cast<size_t>(1 + call % 8), [&](size_t task, unsigned) { sum.fetch_add(static_cast<int64_t>(task) + 1); });
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    int64_t expected = 0;
    for (int call = 0; call < kCalls; ++call) {
        const int n = 1 + call % 8;
        expected += n * (n + 1) / 2;
    }
    QCOMPARE(sum.load(), expected);
    qInfo("%d calls on %u threads: %.2f us per call", kCalls, threads, seconds * 1e6 / kCalls);
    QVERIFY2(seconds < 10.0, "small calls are far too slow");
}

void TestCpuKernels::threadPoolNestedAndConcurrentCalls() {
    ThreadPool pool(3);
    std::atomic<int> inner{0};
    pool.parallel_for(8, [&](size_t, unsigned) {
        pool.parallel_for(5, [&](size_t, unsigned) { inner.fetch_add(1); }); // runs inline
    });
    QCOMPARE(inner.load(), 40);

    std::atomic<int> total{0};
    auto caller = [&] {
        for (int call = 0; call < 500; ++call) pool.parallel_for(7, [&](size_t, unsigned) { total.fetch_add(1); });
    };
    std::thread a(caller), b(caller);
    a.join();
    b.join();
    QCOMPARE(total.load(), 2 * 500 * 7);

    // Shares: nested calls run inline, and two callers at once (serialised over the pool's share
    // table) each get every one of their tasks once.
    inner = 0;
    pool.parallel_for_shares(8, [&](size_t, unsigned) { pool.parallel_for_shares(5, [&](size_t, unsigned) { inner.fetch_add(1); }); });
    QCOMPARE(inner.load(), 40);
    std::atomic<int64_t> sums[2] = {0, 0};
    auto share_caller = [&](int which) {
        for (int call = 0; call < 500; ++call) {
            pool.parallel_for_shares(static_cast<size_t>(3 + which * 10), [&](size_t task, unsigned) { sums[which].fetch_add(static_cast<int64_t>(task) + 1); });
        }
    };
    std::thread c(share_caller, 0), d(share_caller, 1);
    c.join();
    d.join();
    QCOMPARE(sums[0].load(), int64_t{500} * (3 * 4 / 2));
    QCOMPARE(sums[1].load(), int64_t{500} * (13 * 14 / 2));
    // Another pool's shares from inside this pool's tasks (its own table, its calls serialised).
    ThreadPool other(2);
    std::atomic<int64_t> across{0};
    pool.parallel_for_shares(6, [&](size_t, unsigned) {
        other.parallel_for_shares(40, [&](size_t task, unsigned) { across.fetch_add(static_cast<int64_t>(task) + 1); });
    });
    QCOMPARE(across.load(), int64_t{6} * (40 * 41 / 2));
}

// parallel_for_shares: a thread runs consecutive tasks of one share in order, then takes tasks
// from the ends of other shares, each such run counting down; every task runs once.
void TestCpuKernels::threadPoolSharesRunInOrder() {
    for (const unsigned threads : {2u, 3u, 4u}) {
        ThreadPool pool(threads);
        constexpr size_t kTasks = 2000;
        for (int repeat = 0; repeat < 5; ++repeat) {
            std::vector<std::vector<uint32_t>> order(threads);
            std::atomic<uint64_t> sink{0};
            pool.parallel_for_shares(kTasks, [&](size_t task, unsigned thread) {
                order[thread].push_back(static_cast<uint32_t>(task));
                uint64_t x = task; // a little work, so that threads overlap
                for (int i = 0; i < 200; ++i) x = x * 6364136223846793005u + 1442695040888963407u;
                sink.fetch_add(x & 1);
            });
            std::vector<int> runs(kTasks, 0);
            for (const auto& list : order) {
                // Once a step is not "one up" (the thread left its own share), no step is: the
                // other shares are taken from their ends, one down at a time (the shares are
                // large, so a jump to another share never lands one up by chance).
                bool left_own_share = false;
                for (size_t i = 1; i < list.size(); ++i) {
                    const bool up = list[i] == list[i - 1] + 1;
                    if (left_own_share) QVERIFY2(!up, "a thread stepped one up again after leaving its own share");
                    left_own_share = left_own_share || !up;
                }
                for (const uint32_t task : list) ++runs[task];
            }
            for (size_t task = 0; task < kTasks; ++task) QCOMPARE(runs[task], 1);
        }
    }
}

QTEST_APPLESS_MAIN(TestCpuKernels)
#include "test_cpu_kernels.moc"
