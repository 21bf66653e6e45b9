// RMSNorm, RMSNorm + int8 quantisation and YaRN RoPE against the engine's CPU code: the norm
// against rms_norm_rows' formula (double row sum), the quantisation bit for bit against
// cpu::quantize_activations applied to the kernel's own normalised floats, RoPE against
// rope_angles + apply_rope over positions 0 .. 16K+.
#include "backend/backend_common.h"
#include "cpu/quant_dot.h"
#include "gpu_test.h"
#include "norm_rope.h"

#include <QTest>

#include <cmath>
#include <cstring>

using namespace latent;

namespace {

std::vector<float> reference_rms_norm(const std::vector<float>& x, const std::vector<float>& gain, int64_t width, float eps) {
    std::vector<float> y(x.size());
    for (std::size_t t = 0; t < x.size() / width; ++t) {
        double sum = 0.0;
        for (int64_t i = 0; i < width; ++i) sum += static_cast<double>(x[t * width + i]) * x[t * width + i];
        const float scale = 1.0f / std::sqrt(static_cast<float>(sum / static_cast<double>(width)) + eps);
        for (int64_t i = 0; i < width; ++i) y[t * width + i] = (x[t * width + i] * scale) * gain[i];
    }
    return y;
}

struct NormCase {
    int64_t width, n_tokens;
};

std::vector<NormCase> norm_cases() {
    std::vector<NormCase> cases = {{32, 1}, {64, 3}, {512, 2}, {1536, 5}, {2048, 1}, {2048, 17}, {7168, 2}};
    if (test::gpu_big_grids()) cases.push_back({7168, 64});
    return cases;
}

} // namespace

class TestNormRope : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() { LATENT_REQUIRE_GPU(); }

    void rms_norm_matches_the_engine() {
        for (const NormCase& c : norm_cases()) {
            test::Random random(static_cast<uint32_t>(c.width + c.n_tokens));
            const auto x = test::random_floats(random, c.width * c.n_tokens, 3.0f);
            const auto gain = test::random_floats(random, c.width);
            const auto expected = reference_rms_norm(x, gain, c.width, 1e-6f);
            const gpu::Buffer dx = gpu::upload(x), dgain = gpu::upload(gain);
            gpu::Buffer y = test::poisoned_buffer<float>(x.size());
            kernels::rms_norm(y.as<float>(), dx.as<float>(), dgain.as<float>(), c.width, c.n_tokens, 1e-6f);
            LATENT_COMPARE_FLOATS(gpu::download<float>(y), expected, 2e-6, 1e-6);
            kernels::rms_norm(dx.as<float>(), dx.as<float>(), dgain.as<float>(), c.width, c.n_tokens, 1e-6f); // in place
            LATENT_COMPARE_FLOATS(gpu::download<float>(dx), expected, 2e-6, 1e-6);
        }
    }

    void rms_norm_q8_matches_the_cpu_quantiser() {
        for (const NormCase& c : norm_cases()) {
            if (c.width % 32) continue;
            test::Random random(static_cast<uint32_t>(c.width * 3 + c.n_tokens));
            auto x = test::random_floats(random, c.width * c.n_tokens, 2.0f);
            if (c.width >= 64) {
                for (int i = 32; i < 64; ++i) x[i] = 0.0f; // a block of zeros: d = 0
                x[5] = NAN;                                 // a block with a NaN: d = NaN, q = 0
            }
            const auto gain = test::random_floats(random, c.width);
            const gpu::Buffer dx = gpu::upload(x), dgain = gpu::upload(gain);
            gpu::Buffer q8 = test::poisoned_buffer<uint8_t>(kernels::q8_rows_bytes(c.width, c.n_tokens));
            gpu::Buffer y = test::poisoned_buffer<float>(x.size());
            kernels::rms_norm_q8(q8.data(), y.as<float>(), dx.as<float>(), dgain.as<float>(), c.width, c.n_tokens, 1e-6f);
            const auto got_y = gpu::download<float>(y);
            const auto got_q8 = gpu::download<uint8_t>(q8);
            if (c.width < 64) LATENT_COMPARE_FLOATS(got_y, reference_rms_norm(x, gain, c.width, 1e-6f), 2e-6, 1e-6);

            cpu::ActivationBuffer expected;
            cpu::quantize_activations(TensorType::Q8_0, got_y.data(), c.width, c.n_tokens, expected);
            const std::size_t scales_at = kernels::q8_rows_bytes(c.width, c.n_tokens) - c.n_tokens * (c.width / 32) * sizeof(float);
            QVERIFY(scales_at % 16 == 0);
            for (int64_t t = 0; t < c.n_tokens; ++t) {
                QVERIFY(std::memcmp(got_q8.data() + t * c.width, expected.token_quants(t), c.width) == 0);
                for (int64_t b = 0; b < c.width / 32; ++b) {
                    float d;
                    std::memcpy(&d, got_q8.data() + scales_at + (t * (c.width / 32) + b) * sizeof(float), sizeof d);
                    const float want = expected.token_scales(t)[b];
                    QVERIFY2(std::isnan(want) ? std::isnan(d) : d == want,
                             qPrintable(QString("token %1 block %2: d %3 != %4").arg(t).arg(b).arg(d).arg(want)));
                }
            }
        }
    }

    void rope_matches_the_engine_data() {
        QTest::addColumn<bool>("yarn");
        QTest::addColumn<int>("rope_dim");
        QTest::addColumn<int>("n_heads");
        for (bool yarn : {false, true}) {
            for (int rope_dim : {16, 64}) {
                for (int n_heads : {1, 16}) QTest::addRow("%s_d%d_h%d", yarn ? "yarn" : "plain", rope_dim, n_heads) << yarn << rope_dim << n_heads;
            }
        }
    }

    void rope_matches_the_engine() {
        QFETCH(bool, yarn);
        QFETCH(int, rope_dim);
        QFETCH(int, n_heads);
        ModelConfig config;
        config.qk_rope_dim = static_cast<uint32_t>(rope_dim);
        config.rope_freq_base = 10000.0f;
        config.rope_scaling = yarn ? RopeScaling::Yarn : RopeScaling::None;
        config.rope_freq_scale = yarn ? 1.0f / 40.0f : 1.0f;
        config.yarn_low_dim = yarn ? 2.7f : 0.0f;
        config.yarn_high_dim = yarn ? 11.3f : 0.0f;
        const auto params = kernels::rope_params(config.qk_rope_dim, config.rope_freq_base, config.rope_freq_scale, yarn,
                                                 config.yarn_low_dim, config.yarn_high_dim);

        // Heads laid out as in MLA's q: [nope ‖ rope] per head; the k_pe case is n_heads = 1.
        const int64_t nope = n_heads == 1 ? 0 : 128, head_stride = nope + rope_dim, token_stride = n_heads * head_stride;
        std::vector<int32_t> positions = {0, 1, 17, 4095, 16384, 16400, 40000};
        test::Random random(static_cast<uint32_t>(rope_dim * 31 + n_heads));
        for (int i = 0; i < 5; ++i) positions.push_back(static_cast<int32_t>(random.bits() % 32768));
        const int64_t n_tokens = static_cast<int64_t>(positions.size());
        const auto x = test::random_floats(random, n_tokens * token_stride);

        std::vector<float> expected = x;
        std::vector<float> cos_table(rope_dim / 2), sin_table(rope_dim / 2);
        for (int64_t t = 0; t < n_tokens; ++t) {
            rope_angles(config, static_cast<uint32_t>(positions[t]), cos_table.data(), sin_table.data());
            for (int h = 0; h < n_heads; ++h) {
                apply_rope(expected.data() + t * token_stride + h * head_stride + nope, config.qk_rope_dim, cos_table.data(), sin_table.data());
            }
        }
        const gpu::Buffer dpos = gpu::upload(positions);
        gpu::Buffer dx = gpu::upload(x);
        kernels::rope(dx.as<float>(), dpos.as<int32_t>(), n_tokens, n_heads, token_stride, head_stride, nope, params);
        // The emulator computes the same float operations as the engine (exact); on a GPU
        // cosf/sinf may differ from the C library by an ulp or two.
        LATENT_COMPARE_FLOATS(gpu::download<float>(dx), expected, gpu::is_emulated() ? 0.0 : 1e-5, gpu::is_emulated() ? 0.0 : 1e-5);
    }

    void bad_arguments_are_refused() {
        gpu::Buffer x(64 * sizeof(float));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, kernels::rms_norm_q8(x.data(), nullptr, x.as<float>(), x.as<float>(), 48, 1, 1e-6f));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, kernels::rms_norm(x.as<float>(), x.as<float>(), nullptr, 64, 1, 1e-6f));
        kernels::RopeParams odd = kernels::rope_params(15, 10000.0f, 1.0f, false, 0, 0);
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, kernels::rope(x.as<float>(), x.as<int32_t>(), 1, 1, 16, 16, 0, odd));
    }
};

QTEST_GUILESS_MAIN(TestNormRope)
#include "test_norm_rope.moc"
