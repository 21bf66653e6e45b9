// MLA decode attention (kernels/mla_decode.cu) against the engine's reference
// (cpu::latent_attention_reference) on fresh random caches and queries: contexts 1, 17, 4,096 and
// 16,384+ (small head counts and latent sizes under the emulator; DeepSeek-V2-Lite's 16 heads x
// 512 + 64 and V3's 128 heads with LATENT_GPU_TEST_BIG=1), f16 and bf16 caches, padded rows, head
// counts that leave a partial head group, forced split counts (more splits than tiles leaves
// empty splits for the combine to skip), several query tokens with the causal mask, the key
// count read from device memory, and a captured graph replayed as the context grows. Outputs and
// the split workspace are poisoned (NaN) before every run.
#include "gpu_test.h"
#include "mla_runner.h"
#include "mla_test_data.h"
#include "quant_test_data.h"

#include "device.h"

#include <QtTest>

using namespace latent;
using test::MlaShape;

namespace {

// Outputs are convex combinations of unit-scale latents; float accumulation over 16K keys stays
// far inside 1e-4 + 1e-3·|ref| (a wrong weight or a missed key does not).
constexpr double kRelLimit = 1e-3;
constexpr double kAbsLimit = 1e-4;

MlaShape shape(uint32_t heads, uint32_t latent, uint32_t rope, uint32_t keys, kernels::QuantType type = kernels::QuantType::F16) {
    MlaShape s;
    s.n_heads = heads;
    s.latent_dim = latent;
    s.rope_dim = rope;
    s.n_keys = keys;
    s.cache_type = type;
    return s;
}

void check_decode(const MlaShape& s, uint32_t splits, uint32_t seed_salt) {
    test::Random random(test::test_seed() ^ seed_salt);
    const test::MlaInputs in = test::random_mla_inputs(s, random);
    const std::vector<float> want = test::mla_reference(s, in);
    const std::vector<float> got = test::run_mla(s, in, test::MlaMode::Decode, splits);
    LATENT_COMPARE_FLOATS(got, want, kRelLimit, kAbsLimit);
}

} // namespace

class MlaDecodeTest : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() {
        LATENT_REQUIRE_GPU();
        qInfo("device: %s, emulator seed %llu", gpu::device_name().c_str(), static_cast<unsigned long long>(gpu::emulator_seed()));
    }

    void matchesReference_data() {
        QTest::addColumn<MlaShape>("s");
        QTest::addColumn<uint32_t>("splits");
        using kernels::QuantType;
        for (QuantType type : {QuantType::F16, QuantType::BF16}) {
            const char* t = type == QuantType::F16 ? "f16" : "bf16";
            for (uint32_t keys : {1u, 17u, 4096u, 16411u}) {
                QTest::addRow("%s ctx %u", t, keys) << shape(4, 64, 32, keys, type) << 0u;
            }
            QTest::addRow("%s v2-lite dims ctx 300", t) << shape(16, 512, 64, 300, type) << 0u;
        }
        QTest::addRow("one split") << shape(3, 64, 32, 200) << 1u;
        QTest::addRow("2 splits") << shape(3, 64, 32, 200) << 2u;
        QTest::addRow("splits > tiles") << shape(3, 64, 32, 40) << 7u;
        QTest::addRow("splits > keys") << shape(2, 32, 8, 3) << 5u;
        QTest::addRow("20 heads, partial group") << shape(20, 32, 8, 100) << 0u;
        MlaShape padded = shape(5, 64, 16, 77);
        padded.row_stride = 96;
        QTest::addRow("padded rows") << padded << 3u;
        MlaShape multi = shape(4, 64, 32, 90);
        multi.n_tokens = 3;
        QTest::addRow("3 query tokens, causal") << multi << 4u;
        if (test::gpu_big_grids()) {
            QTest::addRow("v2-lite ctx 16384") << shape(16, 512, 64, 16384) << 0u;
            QTest::addRow("v2-lite ctx 32768 bf16") << shape(16, 512, 64, 32768, QuantType::BF16) << 0u;
            QTest::addRow("v3 heads ctx 4096") << shape(128, 512, 64, 4096) << 0u;
        }
    }
    void matchesReference() {
        QFETCH(MlaShape, s);
        QFETCH(uint32_t, splits);
        check_decode(s, splits, s.n_keys * 31u + s.n_heads);
    }

    // The key count read from device memory: one plan (for the longest context) serves shorter
    // ones, directly and through a captured graph replayed after the count changes.
    void keyCountFromDevice() {
        MlaShape s = shape(4, 64, 32, 3000);
        test::Random random(test::test_seed() + 7);
        const test::MlaInputs in = test::random_mla_inputs(s, random);
        test::MlaDeviceCase d(s, in);
        const kernels::MlaDecodePlan plan = kernels::mla_decode_plan(d.args);
        QVERIFY(plan.splits > 1);
        d.workspace = gpu::Buffer(plan.workspace_bytes);
        const gpu::Stream stream = gpu::stream_create();
        gpu::graph_begin_capture(stream);
        kernels::mla_decode(d.args, plan, d.workspace.data(), d.n_keys.as<uint32_t>(), stream);
        const gpu::Graph graph = gpu::graph_end_capture(stream);
        for (uint32_t keys : {1u, 700u, 3000u}) {
            MlaShape now = s;
            now.n_keys = keys;
            gpu::copy_to_device(d.n_keys.data(), &keys, sizeof keys);
            d.poison_output();
            gpu::graph_launch(graph, stream);
            gpu::stream_synchronize(stream);
            LATENT_COMPARE_FLOATS(d.output(), test::mla_reference(now, in), kRelLimit, kAbsLimit);
        }
        gpu::graph_destroy(graph);
        gpu::stream_destroy(stream);
    }

    void rejectsBadArguments() {
        MlaShape s = shape(2, 64, 32, 10);
        test::Random random(1);
        const test::MlaInputs in = test::random_mla_inputs(s, random);
        test::MlaDeviceCase d(s, in);
        kernels::MlaAttentionArgs bad = d.args;
        bad.latent_dim = 1024;
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, kernels::mla_decode_plan(bad));
        bad = d.args;
        bad.rope_dim = 30; // width 94
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, kernels::mla_decode_plan(bad));
        bad = d.args;
        bad.cache_type = kernels::QuantType::Q8_0;
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, kernels::mla_decode_plan(bad));
        bad = d.args;
        bad.n_tokens = 11;
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, kernels::mla_prefill(bad));
        const kernels::MlaDecodePlan plan = kernels::mla_decode_plan(d.args, 0, 4);
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, kernels::mla_decode(d.args, plan, nullptr));
    }
};

QTEST_GUILESS_MAIN(MlaDecodeTest)
#include "test_mla_decode.moc"
