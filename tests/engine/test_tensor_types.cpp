// Tensor types: the type table, f16/bf16 conversions, encoder error bounds, the block decoders
// against a slow per-element decoder written from the spec's closed-form index formulas
// (deepseek2-gguf.md §7.3-7.4), and the conformance kit's reference encodings and decodings.
#include "core/error.h"
#include "gguf/gguf.h"
#include "tensor/tensor_types.h"
#include "test_support.h"

#include "test_random.h"

#include <QtTest>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <numbers>
#include <random>
#include <string>
#include <vector>

using namespace latent;

namespace {

using test::Random;

// Rows that look like weights: mostly normal, a few outliers, one all-positive stretch and one
// all-zero block, so the encoders meet the awkward cases too.
std::vector<float> weight_like_row(int64_t n, uint32_t seed) {
    Random random(seed);
    std::vector<float> row(static_cast<size_t>(n));
    for (float& v : row) v = static_cast<float>(0.05 * random.normal());
    for (int i = 0; i < 4; ++i) row[random.bits() % row.size()] = static_cast<float>(random.uniform(-0.8, 0.8));
    if (n >= 128) {
        for (int64_t i = 32; i < 64; ++i) row[static_cast<size_t>(i)] = static_cast<float>(random.uniform(0.01, 0.2));
        for (int64_t i = 96; i < 128; ++i) row[static_cast<size_t>(i)] = 0.0f;
    }
    return row;
}

double squared_error(const float* a, const float* b, int64_t n) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
        sum += d * d;
    }
    return sum;
}

double sum_squares(const float* a, int64_t n) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(a[i]) * a[i];
    return sum;
}

std::vector<float> decode(TensorType type, const std::vector<uint8_t>& bytes, int64_t n) {
    std::vector<float> out(static_cast<size_t>(n));
    dequantize_row(type, bytes.data(), out.data(), n);
    return out;
}

std::vector<uint8_t> encode(TensorType type, const float* src, int64_t n) {
    std::vector<uint8_t> out(tensor_row_bytes(type, n));
    quantize_row(type, src, out.data(), n);
    return out;
}

// ---- slow reference decoder, one element at a time from the spec's formulas ------------------

uint16_t u16_at(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t u32_at(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
           static_cast<uint32_t>(p[3]) << 24;
}

// binary16 by its definition, in double then narrowed (exact: every half is a float).
float half_by_definition(uint16_t h) {
    const int sign = (h >> 15) & 1;
    const int exponent = (h >> 10) & 0x1F;
    const int mantissa = h & 0x3FF;
    double value;
    if (exponent == 0) value = std::ldexp(mantissa, -24);
    else if (exponent == 31) value = mantissa ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
    else value = std::ldexp(1024 + mantissa, exponent - 25);
    return static_cast<float>(sign ? -value : value);
}

float f16_at(const uint8_t* p) { return half_by_definition(u16_at(p)); }
float f(int v) { return static_cast<float>(v); }

constexpr int kCodebook[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// Q4_K/Q5_K six-bit scale and min of sub-block k (§7.4 get_scale_min_k4).
void scale_min_k4(const uint8_t* s, int k, int& sc, int& m) {
    if (k < 4) {
        sc = s[k] & 63;
        m = s[k + 4] & 63;
    } else {
        sc = (s[k + 4] & 0x0F) | ((s[k - 4] >> 6) << 4);
        m = (s[k + 4] >> 4) | ((s[k] >> 6) << 4);
    }
}

// Element e (0 .. block_size-1) of one block. Where the formula has three factors the order is
// the reference's: (d*scale)*q.
float reference_element(TensorType type, const uint8_t* b, int e) {
    switch (type) {
    case TensorType::F32: {
        float v;
        std::memcpy(&v, b, 4);
        return v;
    }
    case TensorType::F16: return f16_at(b);
    case TensorType::BF16: return std::bit_cast<float>(static_cast<uint32_t>(u16_at(b)) << 16);
    case TensorType::Q4_0: {
        const int q = e < 16 ? (b[2 + e] & 0x0F) : (b[2 + e - 16] >> 4);
        return f(q - 8) * f16_at(b);
    }
    case TensorType::Q4_1: {
        const int q = e < 16 ? (b[4 + e] & 0x0F) : (b[4 + e - 16] >> 4);
        return f(q) * f16_at(b) + f16_at(b + 2);
    }
    case TensorType::Q5_0: {
        const int lo = e < 16 ? (b[6 + e] & 0x0F) : (b[6 + e - 16] >> 4);
        const int hi = static_cast<int>((u32_at(b + 2) >> e) & 1u);
        return f(lo + 16 * hi - 16) * f16_at(b);
    }
    case TensorType::Q5_1: {
        const int lo = e < 16 ? (b[8 + e] & 0x0F) : (b[8 + e - 16] >> 4);
        const int hi = static_cast<int>((u32_at(b + 4) >> e) & 1u);
        return f(lo + 16 * hi) * f16_at(b) + f16_at(b + 2);
    }
    case TensorType::Q8_0: return f(static_cast<int8_t>(b[2 + e])) * f16_at(b);
    case TensorType::IQ4_NL: {
        const int q = e < 16 ? (b[2 + e] & 0x0F) : (b[2 + e - 16] >> 4);
        return f16_at(b) * f(kCodebook[q]);
    }
    case TensorType::Q2_K: {
        const uint8_t* scales = b;
        const uint8_t* qs = b + 16;
        const int n = e / 128, r = e % 128, j = r / 32, l = r % 32;
        const int sb = 8 * n + 2 * j + (l >= 16 ? 1 : 0);
        const int q = (qs[32 * n + l] >> (2 * j)) & 3;
        return f16_at(b + 80) * f(scales[sb] & 0x0F) * f(q) - f16_at(b + 82) * f(scales[sb] >> 4);
    }
    case TensorType::Q3_K: {
        const uint8_t* hmask = b;
        const uint8_t* qs = b + 32;
        const uint8_t* s = b + 96;
        const int n = e / 128, r = e % 128, j = r / 32, l = r % 32;
        const int i = 8 * n + 2 * j + (l >= 16 ? 1 : 0);
        const int low4 = i < 8 ? (s[i] & 0x0F) : (s[i - 8] >> 4);
        const int high2 = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
        const int sc = (low4 | (high2 << 4)) - 32;
        const int q2 = (qs[32 * n + l] >> (2 * j)) & 3;
        const int h = (hmask[l] >> (4 * n + j)) & 1;
        return f16_at(b + 108) * f(sc) * f(q2 - (h ? 0 : 4));
    }
    case TensorType::Q4_K: {
        const int g = e / 64, r = e % 64, k = 2 * g + (r >= 32 ? 1 : 0);
        const uint8_t byte = b[16 + 32 * g + r % 32];
        const int q = r < 32 ? (byte & 0x0F) : (byte >> 4);
        int sc = 0, m = 0;
        scale_min_k4(b + 4, k, sc, m);
        return f16_at(b) * f(sc) * f(q) - f16_at(b + 2) * f(m);
    }
    case TensorType::Q5_K: {
        const int g = e / 64, r = e % 64, k = 2 * g + (r >= 32 ? 1 : 0), l = r % 32;
        const uint8_t byte = b[48 + 32 * g + l];
        const int lo = r < 32 ? (byte & 0x0F) : (byte >> 4);
        const int hi = (b[16 + l] >> k) & 1;
        int sc = 0, m = 0;
        scale_min_k4(b + 4, k, sc, m);
        return f16_at(b) * f(sc) * f(lo + 16 * hi) - f16_at(b + 2) * f(m);
    }
    case TensorType::Q6_K: {
        const uint8_t* ql = b;
        const uint8_t* qh = b + 128;
        const auto* scales = reinterpret_cast<const int8_t*>(b + 192);
        const int n = e / 128, r = e % 128, t = r / 32, l = r % 32;
        const uint8_t low_byte = ql[64 * n + 32 * (t % 2) + l];
        const int lo = t < 2 ? (low_byte & 0x0F) : (low_byte >> 4);
        const int hi = (qh[32 * n + l] >> (2 * t)) & 3;
        const int q = (lo | (hi << 4)) - 32;
        return f16_at(b + 208) * f(scales[8 * n + 2 * t + l / 16]) * f(q);
    }
    case TensorType::Q8_K: {
        float d;
        std::memcpy(&d, b, 4);
        return d * f(static_cast<int8_t>(b[4 + e]));
    }
    case TensorType::IQ4_XS: {
        const int ib = e / 32, j = e % 32;
        const uint8_t byte = b[8 + 16 * ib + j % 16];
        const int q = j < 16 ? (byte & 0x0F) : (byte >> 4);
        const int scales_h = u16_at(b + 2);
        const int ls = ((b[4 + ib / 2] >> (4 * (ib % 2))) & 0x0F) | (((scales_h >> (2 * ib)) & 3) << 4);
        return f16_at(b) * f(ls - 32) * f(kCodebook[q]);
    }
    default: break;
    }
    throw std::logic_error("no reference decoder for this type");
}

void put_f16(uint8_t* p, float v) {
    const uint16_t h = fp32_to_fp16(v);
    p[0] = static_cast<uint8_t>(h & 0xFF);
    p[1] = static_cast<uint8_t>(h >> 8);
}

// Random block bytes with finite, sane scale fields (random bytes elsewhere).
void randomise_block(TensorType type, uint8_t* b, size_t bytes, Random& random) {
    for (size_t i = 0; i < bytes; ++i) b[i] = random.byte();
    auto scale = [&] { return static_cast<float>(random.uniform(-2.0, 2.0)); };
    switch (type) {
    case TensorType::Q4_0:
    case TensorType::Q8_0:
    case TensorType::Q5_0:
    case TensorType::IQ4_NL: put_f16(b, scale()); break;
    case TensorType::Q4_1:
    case TensorType::Q5_1:
    case TensorType::Q4_K:
    case TensorType::Q5_K:
        put_f16(b, scale());
        put_f16(b + 2, scale());
        break;
    case TensorType::Q2_K:
        put_f16(b + 80, scale());
        put_f16(b + 82, scale());
        break;
    case TensorType::Q3_K: put_f16(b + 108, scale()); break;
    case TensorType::Q6_K: put_f16(b + 208, scale()); break;
    case TensorType::IQ4_XS: put_f16(b, scale()); break;
    case TensorType::Q8_K: {
        const float d = scale();
        std::memcpy(b, &d, 4);
        break;
    }
    default: break; // plain types: random bit patterns, NaNs and infinities included
    }
}

bool same_float(float a, float b) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
    return std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b);
}

// The kit's types, as named in its tensors "q.<name>" and "deq.<name>".
const char* const kKitTypes[] = {"f16",  "bf16", "q4_0", "q4_1", "q5_0", "q5_1",   "q8_0",
                                 "q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "iq4_nl", "iq4_xs"};

std::vector<float> tensor_floats(const gguf::TensorInfo& info) {
    std::vector<float> out(static_cast<size_t>(info.element_count()));
    std::memcpy(out.data(), info.data, out.size() * sizeof(float));
    return out;
}

} // namespace

class TestTensorTypes : public QObject {
    Q_OBJECT

private slots:
    // (1) the type table
    void typeTable_data();
    void typeTable();
    void unknownIdsAndNames();
    void capabilitiesMatchImplementation();
    void partialBlocksAreRejected();

    // (2) float conversions
    void fp16Conversion_data();
    void fp16Conversion();
    void fp16DecodeAllPatterns();
    void fp16RoundsToNearestEven();
    void bf16Conversion_data();
    void bf16Conversion();

    // (3) encoders
    void roundTrip_data();
    void roundTrip();

    // (4) decoders against the per-element reference
    void decoderMatchesReference_data();
    void decoderMatchesReference();

    // (5) the conformance kit
    void kitDecodesBitExact_data();
    void kitDecodesBitExact();
    void kitEncoder_data();
    void kitEncoder();
};

// ---- (1) --------------------------------------------------------------------------------------

void TestTensorTypes::typeTable_data() {
    QTest::addColumn<uint32_t>("id");
    QTest::addColumn<QString>("name");
    QTest::addColumn<uint32_t>("blockSize");
    QTest::addColumn<uint32_t>("typeSize");
    // §7.1 and gguf-py GGML_QUANT_SIZES.
    struct Row {
        uint32_t id;
        const char* name;
        uint32_t block, bytes;
    };
    const Row rows[] = {
        {0, "f32", 1, 4},        {1, "f16", 1, 2},         {2, "q4_0", 32, 18},     {3, "q4_1", 32, 20},
        {6, "q5_0", 32, 22},     {7, "q5_1", 32, 24},      {8, "q8_0", 32, 34},     {9, "q8_1", 32, 36},
        {10, "q2_K", 256, 84},   {11, "q3_K", 256, 110},   {12, "q4_K", 256, 144},  {13, "q5_K", 256, 176},
        {14, "q6_K", 256, 210},  {15, "q8_K", 256, 292},   {16, "iq2_xxs", 256, 66}, {17, "iq2_xs", 256, 74},
        {18, "iq3_xxs", 256, 98}, {19, "iq1_s", 256, 50},  {20, "iq4_nl", 32, 18},  {21, "iq3_s", 256, 110},
        {22, "iq2_s", 256, 82},  {23, "iq4_xs", 256, 136}, {24, "i8", 1, 1},        {25, "i16", 1, 2},
        {26, "i32", 1, 4},       {27, "i64", 1, 8},        {28, "f64", 1, 8},       {29, "iq1_m", 256, 56},
        {30, "bf16", 1, 2},      {34, "tq1_0", 256, 54},   {35, "tq2_0", 256, 66},  {39, "mxfp4", 32, 17},
    };
    for (const Row& row : rows) {
        QTest::newRow(row.name) << row.id << QString::fromLatin1(row.name) << row.block << row.bytes;
    }
}

void TestTensorTypes::typeTable() {
    QFETCH(uint32_t, id);
    QFETCH(QString, name);
    QFETCH(uint32_t, blockSize);
    QFETCH(uint32_t, typeSize);

    const std::optional<TensorTypeInfo> info = tensor_type_info(id);
    QVERIFY(info.has_value());
    QCOMPARE(static_cast<uint32_t>(info->type), id);
    QCOMPARE(QString::fromLatin1(info->name.data(), static_cast<qsizetype>(info->name.size())), name);
    QCOMPARE(info->block_size, blockSize);
    QCOMPARE(info->type_size, typeSize);

    const auto type = static_cast<TensorType>(id);
    QCOMPARE(tensor_type_info(type).type_size, typeSize);
    QVERIFY(tensor_type_name(type) == info->name);
    const std::string spelled = name.toStdString();
    QCOMPARE(tensor_type_from_name(spelled), std::optional<TensorType>(type));
    QCOMPARE(tensor_type_from_name(name.toUpper().toStdString()), std::optional<TensorType>(type));
    QCOMPARE(tensor_row_bytes(type, 0), size_t{0});
    QCOMPARE(tensor_row_bytes(type, 512 * int64_t{blockSize}), size_t{512} * typeSize);
}

void TestTensorTypes::unknownIdsAndNames() {
    for (uint32_t id : {4u, 5u, 31u, 32u, 33u, 36u, 37u, 38u, 40u, 41u, 1000u, 0xFFFFFFFFu}) {
        QVERIFY2(!tensor_type_info(id).has_value(), qPrintable(QString::number(id)));
    }
    QVERIFY_THROWS_EXCEPTION(Error, tensor_type_info(static_cast<TensorType>(5)));
    QVERIFY_THROWS_EXCEPTION(Error, tensor_row_bytes(static_cast<TensorType>(1000), 32));
    for (const char* name : {"", "q4_k_m", "q4", "f8", "Q4_K ", "iq4"}) {
        QVERIFY2(!tensor_type_from_name(name).has_value(), name);
    }
}

// can_decode / can_encode say exactly which types dequantize_row / quantize_row accept, and a
// refusal names the type.
void TestTensorTypes::capabilitiesMatchImplementation() {
    std::vector<uint8_t> bytes(4096, 0);
    std::vector<float> floats(256, 0.0f);
    int decodable = 0, encodable = 0;
    for (uint32_t id = 0; id < 64; ++id) {
        const std::optional<TensorTypeInfo> info = tensor_type_info(id);
        if (!info) continue;
        const int64_t n = info->block_size;
        const std::string name(info->name);
        try {
            dequantize_row(info->type, bytes.data(), floats.data(), n);
            QVERIFY2(info->can_decode, name.c_str());
            ++decodable;
        } catch (const Error& e) {
            QVERIFY2(!info->can_decode, name.c_str());
            QVERIFY2(std::string(e.what()).find(name) != std::string::npos, e.what());
        }
        try {
            quantize_row(info->type, floats.data(), bytes.data(), n);
            QVERIFY2(info->can_encode, name.c_str());
            ++encodable;
        } catch (const Error& e) {
            QVERIFY2(!info->can_encode, name.c_str());
            QVERIFY2(std::string(e.what()).find(name) != std::string::npos, e.what());
        }
    }
    QCOMPARE(decodable, 16); // f32 f16 bf16 q4_0 q4_1 q5_0 q5_1 q8_0 q2_K..q8_K iq4_nl iq4_xs
    QCOMPARE(encodable, 6);  // f32 f16 bf16 q8_0 q4_0 q4_K
}

void TestTensorTypes::partialBlocksAreRejected() {
    std::vector<uint8_t> bytes(1024, 0);
    std::vector<float> floats(512, 0.0f);
    QVERIFY_THROWS_EXCEPTION(Error, tensor_row_bytes(TensorType::Q4_K, 100));
    QVERIFY_THROWS_EXCEPTION(Error, tensor_row_bytes(TensorType::Q8_0, -32));
    QVERIFY_THROWS_EXCEPTION(Error, dequantize_row(TensorType::Q4_K, bytes.data(), floats.data(), 128));
    QVERIFY_THROWS_EXCEPTION(Error, dequantize_row(TensorType::Q8_0, bytes.data(), floats.data(), 33));
    QVERIFY_THROWS_EXCEPTION(Error, quantize_row(TensorType::Q4_0, floats.data(), bytes.data(), 16));
}

// ---- (2) --------------------------------------------------------------------------------------

void TestTensorTypes::fp16Conversion_data() {
    QTest::addColumn<float>("value");
    QTest::addColumn<uint16_t>("half");
    QTest::addColumn<float>("decoded"); // what the half decodes back to (NaN: any NaN)
    const float inf = std::numeric_limits<float>::infinity();
    auto row = [](const char* name, float value, uint16_t half, float decoded) {
        QTest::newRow(name) << value << half << decoded;
    };
    row("zero", 0.0f, 0x0000, 0.0f);
    row("negative zero", -0.0f, 0x8000, -0.0f);
    row("one", 1.0f, 0x3C00, 1.0f);
    row("minus two", -2.0f, 0xC000, -2.0f);
    row("0.1 rounds", 0.1f, 0x2E66, 0.0999755859375f);
    row("largest finite", 65504.0f, 0x7BFF, 65504.0f);
    row("just below overflow tie", 65519.996f, 0x7BFF, 65504.0f);
    row("overflow tie goes to inf", 65520.0f, 0x7C00, inf);
    row("large overflows", 1e10f, 0x7C00, inf);
    row("inf", inf, 0x7C00, inf);
    row("minus inf", -inf, 0xFC00, -inf);
    row("smallest normal", 0x1.0p-14f, 0x0400, 0x1.0p-14f);
    row("largest subnormal", 0x3FFp-24f, 0x03FF, 0x3FFp-24f);
    row("subnormal tie to even (up into normal)", 0x3FF8p-28f, 0x0400, 0x1.0p-14f); // 1023.5 * 2^-24
    row("smallest subnormal", 0x1.0p-24f, 0x0001, 0x1.0p-24f);
    row("half of smallest subnormal ties to zero", 0x1.0p-25f, 0x0000, 0.0f);
    row("just above half of smallest subnormal", 0x1.000002p-25f, 0x0001, 0x1.0p-24f);
    row("1.5 smallest subnormal ties to 2", 0x3p-25f, 0x0002, 0x2p-24f);
    row("negative subnormal", -0x5p-24f, 0x8005, -0x5p-24f);
    row("float subnormal underflows", 0x1.0p-140f, 0x0000, 0.0f);
    row("normal tie to even (down)", 1.0f + 0x1.0p-11f, 0x3C00, 1.0f);
    row("normal tie to even (up)", 1.0f + 0x3p-11f, 0x3C02, 1.0f + 0x2p-10f);
    row("above tie rounds up", 1.0f + 0x5p-13f, 0x3C01, 1.0f + 0x1.0p-10f);
    row("mantissa carry into exponent", 2047.9999f, 0x6800, 2048.0f);
    row("nan", std::numeric_limits<float>::quiet_NaN(), 0x7E00, std::numeric_limits<float>::quiet_NaN());
}

void TestTensorTypes::fp16Conversion() {
    QFETCH(float, value);
    QFETCH(uint16_t, half);
    QFETCH(float, decoded);
    const uint16_t got = fp32_to_fp16(value);
    if (std::isnan(value)) {
        QVERIFY((got & 0x7C00) == 0x7C00 && (got & 0x03FF) != 0); // any NaN ...
        QVERIFY(got & 0x0200);                                    // ... that is quiet
        QVERIFY(std::isnan(fp16_to_fp32(got)));
        // A signalling-NaN float (payload only in low bits) must not become infinity.
        const uint16_t signalling = fp32_to_fp16(std::bit_cast<float>(0x7F800001u));
        QVERIFY(std::isnan(fp16_to_fp32(signalling)));
        return;
    }
    QCOMPARE(got, half);
    QVERIFY(same_float(fp16_to_fp32(got), decoded));
}

// Every one of the 65536 halves decodes to its definition, and encodes back to itself.
void TestTensorTypes::fp16DecodeAllPatterns() {
    for (uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
        const auto h = static_cast<uint16_t>(bits);
        const float value = fp16_to_fp32(h);
        if (!same_float(value, half_by_definition(h))) QFAIL(qPrintable(QString("half 0x%1 decodes wrong").arg(bits, 4, 16)));
        if (std::isnan(value)) {
            if (!std::isnan(fp16_to_fp32(fp32_to_fp16(value)))) QFAIL("NaN did not survive a round trip");
        } else if (fp32_to_fp16(value) != h) {
            QFAIL(qPrintable(QString("half 0x%1 does not round-trip").arg(bits, 4, 16)));
        }
    }
}

// Random floats across the half range: the result is the nearest half, ties to the even one.
void TestTensorTypes::fp16RoundsToNearestEven() {
    Random random(1234);
    for (int i = 0; i < 200000; ++i) {
        // Exponents from far below the subnormals to just past the largest half.
        const uint32_t exponent = 90 + random.bits() % 54; // 2^-37 .. 2^16
        const uint32_t bits = (random.bits() & 0x80000000u) | (exponent << 23) | (random.bits() & 0x7FFFFFu);
        const float value = std::bit_cast<float>(bits);
        const uint16_t h = fp32_to_fp16(value);
        const double x = std::fabs(static_cast<double>(value));
        const uint16_t magnitude = h & 0x7FFF;
        const double got = std::fabs(static_cast<double>(fp16_to_fp32(h)));
        if (magnitude == 0x7C00) {
            if (!(x >= 65520.0)) QFAIL("rounded to infinity below 65520");
            continue;
        }
        if (x >= 65520.0) QFAIL("65520 and above must round to infinity");
        const double below = magnitude > 0 ? static_cast<double>(fp16_to_fp32(static_cast<uint16_t>(magnitude - 1))) : -1.0;
        const double above = static_cast<double>(fp16_to_fp32(static_cast<uint16_t>(magnitude + 1)));
        const double error = std::fabs(x - got);
        const bool nearest = error <= std::fabs(x - above) && (below < 0.0 || error <= std::fabs(x - below));
        const bool tie = error == std::fabs(x - above) || (below >= 0.0 && error == std::fabs(x - below));
        if (!nearest || (tie && (magnitude & 1))) {
            QFAIL(qPrintable(QString("%1 -> 0x%2 is not the nearest-even half").arg(static_cast<double>(value), 0, 'g', 9).arg(h, 4, 16)));
        }
    }
}

void TestTensorTypes::bf16Conversion_data() {
    QTest::addColumn<uint32_t>("floatBits");
    QTest::addColumn<uint16_t>("bf16");
    QTest::newRow("one") << 0x3F800000u << uint16_t{0x3F80};
    QTest::newRow("negative zero") << 0x80000000u << uint16_t{0x8000};
    QTest::newRow("tie to even (down)") << 0x3F808000u << uint16_t{0x3F80};
    QTest::newRow("tie to even (up)") << 0x3F818000u << uint16_t{0x3F82};
    QTest::newRow("above tie") << 0x3F808001u << uint16_t{0x3F81};
    QTest::newRow("below tie") << 0x3F807FFFu << uint16_t{0x3F80};
    QTest::newRow("largest float overflows") << 0x7F7FFFFFu << uint16_t{0x7F80};
    QTest::newRow("inf") << 0x7F800000u << uint16_t{0x7F80};
    QTest::newRow("minus inf") << 0xFF800000u << uint16_t{0xFF80};
    QTest::newRow("subnormal tie to zero") << 0x00008000u << uint16_t{0x0000};
    QTest::newRow("subnormal tie to even") << 0x00018000u << uint16_t{0x0002};
    QTest::newRow("signalling nan made quiet") << 0x7F800001u << uint16_t{0x7FC0};
    QTest::newRow("quiet nan stays") << 0xFFC00000u << uint16_t{0xFFC0};
    QTest::newRow("nan payload in high bits") << 0x7FA12345u << uint16_t{0x7FE1};
}

void TestTensorTypes::bf16Conversion() {
    QFETCH(uint32_t, floatBits);
    QFETCH(uint16_t, bf16);
    QCOMPARE(fp32_to_bf16(std::bit_cast<float>(floatBits)), bf16);
    QCOMPARE(std::bit_cast<uint32_t>(bf16_to_fp32(bf16)), static_cast<uint32_t>(bf16) << 16);
}

// ---- (3) --------------------------------------------------------------------------------------

// A deliberately plain Q4_0 encoder (the largest-magnitude value maps to -8, nearest levels),
// the baseline our scale search must never lose to.
double plain_q4_0_block_error(const float* x) {
    float extreme = 0.0f;
    for (int j = 0; j < 32; ++j) {
        if (std::fabs(x[j]) > std::fabs(extreme)) extreme = x[j];
    }
    const float d = fp16_to_fp32(fp32_to_fp16(extreme / -8.0f));
    double error = 0.0;
    for (int j = 0; j < 32; ++j) {
        const double k = d != 0.0f ? std::clamp(std::nearbyint(static_cast<double>(x[j]) / d), -8.0, 7.0) : 0.0;
        const double diff = static_cast<double>(x[j]) - static_cast<double>(static_cast<float>(k) * d);
        error += diff * diff;
    }
    return error;
}

void TestTensorTypes::roundTrip_data() {
    QTest::addColumn<int>("type");
    QTest::addColumn<qint64>("length");
    for (TensorType type : {TensorType::F32, TensorType::F16, TensorType::BF16, TensorType::Q8_0, TensorType::Q4_0,
                            TensorType::Q4_K}) {
        for (qint64 length : {256, 512, 4096, 11 * 256}) {
            const std::string name = std::string(tensor_type_name(type)) + "/" + std::to_string(length);
            QTest::newRow(name.c_str()) << static_cast<int>(type) << length;
        }
        if (tensor_type_info(type).block_size == 32) {
            for (qint64 length : {32, 96}) {
                const std::string name = std::string(tensor_type_name(type)) + "/" + std::to_string(length);
                QTest::newRow(name.c_str()) << static_cast<int>(type) << length;
            }
        }
    }
}

void TestTensorTypes::roundTrip() {
    QFETCH(int, type);
    QFETCH(qint64, length);
    const auto tensor_type = static_cast<TensorType>(type);
    for (uint32_t seed = 1; seed <= 4; ++seed) {
        const std::vector<float> src = weight_like_row(length, seed * 7919u + static_cast<uint32_t>(length));
        const std::vector<uint8_t> bytes = encode(tensor_type, src.data(), length);
        QCOMPARE(bytes.size(), tensor_row_bytes(tensor_type, length));
        const std::vector<float> out = decode(tensor_type, bytes, length);

        switch (tensor_type) {
        case TensorType::F32: QVERIFY(std::memcmp(src.data(), out.data(), src.size() * sizeof(float)) == 0); break;
        case TensorType::F16:
        case TensorType::BF16: {
            const double relative = tensor_type == TensorType::F16 ? 0x1.0p-11 : 0x1.0p-8; // half an ulp
            for (size_t i = 0; i < src.size(); ++i) {
                const double x = src[i];
                if (std::fabs(x) < 0x1.0p-14) continue; // f16 subnormals: absolute, checked above
                QVERIFY2(std::fabs(out[i] - x) <= relative * std::fabs(x), qPrintable(QString::number(i)));
            }
            break;
        }
        case TensorType::Q8_0:
            // Half a step of amax/127, plus the f16 rounding of the step (127 levels * 2^-11).
            for (int64_t b = 0; b < length / 32; ++b) {
                float amax = 0.0f;
                for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(src[static_cast<size_t>(32 * b + j)]));
                const double bound = (0.5 + 127.0 * 0x1.0p-11) * amax / 127.0 * (1.0 + 1e-6);
                for (int j = 0; j < 32; ++j) {
                    const auto i = static_cast<size_t>(32 * b + j);
                    QVERIFY2(std::fabs(static_cast<double>(out[i]) - src[i]) <= bound, qPrintable(QString::number(i)));
                }
            }
            break;
        case TensorType::Q4_0:
            for (int64_t b = 0; b < length / 32; ++b) {
                const float* x = src.data() + 32 * b;
                const double ours = squared_error(x, out.data() + 32 * b, 32);
                QVERIFY2(ours <= plain_q4_0_block_error(x) * (1.0 + 1e-9) + 1e-30, qPrintable(QString::number(b)));
            }
            break;
        case TensorType::Q4_K: {
            // Within every 32-element sub-block the grid spans [min(0, lo), hi] in 15 steps
            // give or take the 6-bit scale rounding: no element is off by more than a step.
            for (int64_t s = 0; s < length / 32; ++s) {
                const float* x = src.data() + 32 * s;
                float lo = 0.0f, hi = x[0];
                for (int j = 0; j < 32; ++j) {
                    lo = std::min(lo, x[j]);
                    hi = std::max(hi, x[j]);
                }
                for (int j = 0; j < 32; ++j) {
                    const double error = std::fabs(static_cast<double>(out[static_cast<size_t>(32 * s + j)]) - x[j]);
                    QVERIFY2(error <= (hi - lo) / 15.0 + 1e-7, qPrintable(QString("sub-block %1").arg(s)));
                }
            }
            break;
        }
        default: QFAIL("no bound for this type");
        }
    }
    // On plain normal data the 4-bit formats keep the relative squared error near the textbook
    // figure for their step size (measured: Q4_0 ~0.7%, Q4_K ~0.5%; the bounds leave room).
    if (tensor_type == TensorType::Q4_0 || tensor_type == TensorType::Q4_K) {
        Random random(static_cast<uint32_t>(length) + 17u);
        std::vector<float> normal(static_cast<size_t>(length));
        for (float& v : normal) v = static_cast<float>(random.normal());
        const std::vector<float> out = decode(tensor_type, encode(tensor_type, normal.data(), length), length);
        const double relative = squared_error(normal.data(), out.data(), length) / sum_squares(normal.data(), length);
        QVERIFY2(relative <= (tensor_type == TensorType::Q4_0 ? 0.0100 : 0.0065), qPrintable(QString::number(relative)));
    }
    // An all-zero row encodes to blocks that decode to exact zeros.
    const std::vector<float> zeros(static_cast<size_t>(length), 0.0f);
    const std::vector<float> out = decode(tensor_type, encode(tensor_type, zeros.data(), length), length);
    for (float v : out) QCOMPARE(v, 0.0f);
}

// ---- (4) --------------------------------------------------------------------------------------

void TestTensorTypes::decoderMatchesReference_data() {
    QTest::addColumn<int>("type");
    for (uint32_t id = 0; id < 64; ++id) {
        const std::optional<TensorTypeInfo> info = tensor_type_info(id);
        if (info && info->can_decode) QTest::newRow(std::string(info->name).c_str()) << static_cast<int>(id);
    }
}

void TestTensorTypes::decoderMatchesReference() {
    QFETCH(int, type);
    const auto tensor_type = static_cast<TensorType>(type);
    const TensorTypeInfo& info = tensor_type_info(tensor_type);
    Random random(static_cast<uint32_t>(type) * 101u + 5u);
    const int blocks = info.block_size == 1 ? 4096 : 64;
    const int64_t n = int64_t{blocks} * info.block_size;
    // One spare byte in front so blocks start at an odd address: the decoder must not assume
    // alignment.
    std::vector<uint8_t> storage(static_cast<size_t>(blocks) * info.type_size + 1);
    uint8_t* bytes = storage.data() + 1;
    for (int b = 0; b < blocks; ++b) randomise_block(tensor_type, bytes + size_t{info.type_size} * b, info.type_size, random);
    std::vector<float> out(static_cast<size_t>(n));
    dequantize_row(tensor_type, bytes, out.data(), n);
    for (int b = 0; b < blocks; ++b) {
        for (uint32_t e = 0; e < info.block_size; ++e) {
            const float expected = reference_element(tensor_type, bytes + size_t{info.type_size} * b, static_cast<int>(e));
            const float got = out[static_cast<size_t>(b) * info.block_size + e];
            if (!same_float(got, expected)) {
                QFAIL(qPrintable(QString("block %1 element %2: %3 != %4").arg(b).arg(e)
                                     .arg(static_cast<double>(got), 0, 'g', 9).arg(static_cast<double>(expected), 0, 'g', 9)));
            }
        }
    }
}

// ---- (5) --------------------------------------------------------------------------------------

void TestTensorTypes::kitDecodesBitExact_data() {
    QTest::addColumn<QString>("type");
    for (const char* name : kKitTypes) QTest::newRow(name) << QString::fromLatin1(name);
}

void TestTensorTypes::kitDecodesBitExact() {
    QFETCH(QString, type);
    LATENT_REQUIRE_CONFORMANCE(kit);
    const auto file = gguf::File::open(kit / "quant" / "quant-vectors.gguf");
    const std::string name = type.toStdString();
    const gguf::TensorInfo* quantized = file->find_tensor("q." + name);
    const gguf::TensorInfo* reference = file->find_tensor("deq." + name);
    QVERIFY2(quantized && reference, ("kit lacks q./deq. tensors for " + name).c_str());
    QCOMPARE(std::optional<TensorType>(quantized->type), tensor_type_from_name(name));
    QCOMPARE(reference->type, TensorType::F32);
    QCOMPARE(quantized->ne, reference->ne);

    const auto n = static_cast<int64_t>(quantized->ne[0]);
    const size_t row_bytes = tensor_row_bytes(quantized->type, n);
    const std::vector<float> expected = tensor_floats(*reference);
    std::vector<float> row(static_cast<size_t>(n));
    for (uint64_t r = 0; r < quantized->row_count(); ++r) {
        dequantize_row(quantized->type, quantized->data + r * row_bytes, row.data(), n);
        const float* want = expected.data() + r * static_cast<uint64_t>(n);
        for (int64_t i = 0; i < n; ++i) {
            if (std::bit_cast<uint32_t>(row[static_cast<size_t>(i)]) != std::bit_cast<uint32_t>(want[i])) {
                QFAIL(qPrintable(QString("%1 row %2 element %3: %4 != reference %5").arg(type).arg(r).arg(i)
                                     .arg(static_cast<double>(row[static_cast<size_t>(i)]), 0, 'g', 9)
                                     .arg(static_cast<double>(want[i]), 0, 'g', 9)));
            }
        }
    }
}

void TestTensorTypes::kitEncoder_data() {
    QTest::addColumn<QString>("type");
    QTest::addColumn<bool>("mustMatchBytes"); // the encoder follows the reference's arithmetic
    QTest::newRow("f16") << QString("f16") << true;
    QTest::newRow("bf16") << QString("bf16") << true;
    QTest::newRow("q8_0") << QString("q8_0") << true;
    QTest::newRow("q4_0") << QString("q4_0") << false;
    QTest::newRow("q4_K") << QString("q4_K") << false;
}

// Encoding the kit's src reproduces the reference encoding, or decodes at least as close to src
// as the reference decoding does (per row, squared error, a hair of slack for float sums).
void TestTensorTypes::kitEncoder() {
    QFETCH(QString, type);
    QFETCH(bool, mustMatchBytes);
    LATENT_REQUIRE_CONFORMANCE(kit);
    const auto file = gguf::File::open(kit / "quant" / "quant-vectors.gguf");
    const std::string name = type.toStdString();
    const gguf::TensorInfo* src_info = file->find_tensor("src");
    const gguf::TensorInfo* quantized = file->find_tensor("q." + name);
    const gguf::TensorInfo* reference = file->find_tensor("deq." + name);
    QVERIFY(src_info && quantized && reference);
    QCOMPARE(src_info->type, TensorType::F32);

    const TensorType tensor_type = quantized->type;
    const auto n = static_cast<int64_t>(src_info->ne[0]);
    const size_t row_bytes = tensor_row_bytes(tensor_type, n);
    const std::vector<float> src = tensor_floats(*src_info);
    const std::vector<float> reference_decoded = tensor_floats(*reference);
    double ours_total = 0.0, reference_total = 0.0;
    for (uint64_t r = 0; r < src_info->row_count(); ++r) {
        const float* x = src.data() + r * static_cast<uint64_t>(n);
        const std::vector<uint8_t> bytes = encode(tensor_type, x, n);
        const bool same_bytes = std::memcmp(bytes.data(), quantized->data + r * row_bytes, row_bytes) == 0;
        if (mustMatchBytes) QVERIFY2(same_bytes, qPrintable(QString("row %1 differs from the reference encoding").arg(r)));
        const std::vector<float> decoded = decode(tensor_type, bytes, n);
        const double ours = squared_error(x, decoded.data(), n);
        const double theirs = squared_error(x, reference_decoded.data() + r * static_cast<uint64_t>(n), n);
        ours_total += ours;
        reference_total += theirs;
        QVERIFY2(ours <= theirs * (1.0 + 1e-6) + 1e-30,
                 qPrintable(QString("row %1: squared error %2 > reference %3").arg(r).arg(ours).arg(theirs)));
    }
    qInfo("%s: squared error %.6g vs reference %.6g (ratio %.4f)", name.c_str(), ours_total, reference_total,
          reference_total > 0.0 ? ours_total / reference_total : 1.0);
}

QTEST_APPLESS_MAIN(TestTensorTypes)
#include "test_tensor_types.moc"
