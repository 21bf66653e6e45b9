// The MoE kernels (kernels/moe.cu) against the engine and a plain loop:
//  * routing (moe_route) against the engine's route_token on fresh random logits for V2-Lite
//    (softmax), V2-236B (softmax, group-limited by the group max), V3 (sigmoid + selection bias,
//    group-limited by the top-2 sum, renormalised, scaled), Moonlight and Kimi-K2 (384 experts)
//    settings, and with many exact ties (which must go to the lower expert index, as the
//    engine's stable sort does). Logits reach the router exactly: an identity router matrix
//    times x = the logits. Away from ties, an id may differ only where the engine's two
//    selection scores are within 1e-6 (a last-ulp difference of exp between the two libms);
//  * the whole FFN (moe_ffn) against a plain double-precision loop over the engine's decoded
//    weights (dequantize_row), with the kernels' activation rule applied in the reference too
//    (x and the hidden vector quantised per 32 values for block-type matrices, the CPU's Q8_32
//    rule; float types keep floats), for every weight type, the V2-Lite Q4_K_M mix of types
//    (Q4_K gate/up, Q8_0 routed down over a 96-wide expert, Q6_K shared down), decode (1 token)
//    and prefill chunks (16, 37 tokens: several token tiles per expert), with and without the
//    shared experts and the residual; the output poisoned before each run; also captured in a
//    graph and replayed with new activations.
// Limit: |out - ref| <= 2e-3 · sum of |terms| (the magnitude of the products) + 1e-6.
#include "gpu_test.h"
#include "moe_test_data.h"
#include "quant_test_data.h"

#include "backend/backend_common.h"
#include "model/model_config.h"

#include "device.h"
#include "matvec_quant.h"
#include "moe.h"

#include <QtTest>

#include <cmath>
#include <sstream>

using namespace latent;
using kernels::MoeRouting;
using kernels::QuantType;

namespace {

MoeRouting routing(uint32_t experts, uint32_t used, bool sigmoid, bool norm, float scale, uint32_t groups = 1, uint32_t groups_used = 1) {
    MoeRouting r;
    r.n_expert = experts;
    r.n_expert_used = used;
    r.sigmoid_gating = sigmoid;
    r.weights_norm = norm;
    r.weights_scale = scale;
    r.group_count = groups;
    r.group_used = groups_used;
    return r;
}

ModelConfig model_config(const MoeRouting& r) {
    ModelConfig c;
    c.n_expert = r.n_expert;
    c.n_expert_used = r.n_expert_used;
    c.gating = r.sigmoid_gating ? ExpertGating::Sigmoid : ExpertGating::Softmax;
    c.expert_weights_norm = r.weights_norm;
    c.expert_weights_scale = r.weights_scale;
    c.expert_group_count = r.group_count;
    c.expert_group_used_count = r.group_used;
    return c;
}

bool is_float(QuantType t) { return t == QuantType::F32 || t == QuantType::F16 || t == QuantType::BF16; }

struct Routed {
    std::vector<int32_t> ids;
    std::vector<float> weights;
};

// The kernels' routing of n_tokens tokens whose logits are `logits` (n_tokens, E).
Routed device_route(const MoeRouting& r, const std::vector<float>& logits, const std::vector<float>& bias, int64_t n_tokens) {
    const int64_t d = (r.n_expert + 31) / 32 * 32;
    std::vector<float> identity(static_cast<size_t>(r.n_expert) * d, 0.0f), x(static_cast<size_t>(n_tokens) * d, 0.0f);
    for (uint32_t e = 0; e < r.n_expert; ++e) identity[e * d + e] = 1.0f;
    for (int64_t t = 0; t < n_tokens; ++t) std::copy_n(&logits[t * r.n_expert], r.n_expert, &x[t * d]);
    const gpu::Buffer router = gpu::upload(identity), xd = gpu::upload(x), bias_d = gpu::upload(bias);
    kernels::MoeWeights w;
    w.router = kernels::QuantMatrix{QuantType::F32, router.data(), r.n_expert, d};
    w.selection_bias = bias.empty() ? nullptr : bias_d.as<float>();
    gpu::Buffer ws(kernels::moe_workspace_bytes(r, w, n_tokens));
    gpu::Buffer ids = test::poisoned_buffer<int32_t>(n_tokens * r.n_expert_used);
    gpu::Buffer weights = test::poisoned_buffer<float>(n_tokens * r.n_expert_used);
    kernels::moe_route(r, w, xd.as<float>(), n_tokens, ids.as<int32_t>(), weights.as<float>(), ws.data());
    return Routed{gpu::download<int32_t>(ids), gpu::download<float>(weights)};
}

// The engine's selection scores (probability + bias) of one token, for judging near-ties.
std::vector<double> selection_scores(const MoeRouting& r, const float* z, const std::vector<float>& bias) {
    std::vector<double> sel(r.n_expert);
    double max = -INFINITY, sum = 0.0;
    for (uint32_t e = 0; e < r.n_expert; ++e) max = std::max(max, static_cast<double>(z[e]));
    for (uint32_t e = 0; e < r.n_expert; ++e) sum += std::exp(z[e] - max);
    for (uint32_t e = 0; e < r.n_expert; ++e) {
        sel[e] = r.sigmoid_gating ? 1.0 / (1.0 + std::exp(-static_cast<double>(z[e]))) : std::exp(z[e] - max) / sum;
        if (!bias.empty()) sel[e] += bias[e];
    }
    return sel;
}

// Compares with route_token; with `exact`, ids must agree everywhere.
void check_routing(const MoeRouting& r, const std::vector<float>& logits, const std::vector<float>& bias, int64_t n_tokens, bool exact) {
    const Routed got = device_route(r, logits, bias, n_tokens);
    const ModelConfig c = model_config(r);
    int near_ties = 0;
    for (int64_t t = 0; t < n_tokens; ++t) {
        const float* z = &logits[t * r.n_expert];
        const ExpertChoice want = route_token(c, std::span<const float>(z, r.n_expert), std::span<const float>(bias));
        const std::vector<double> sel = selection_scores(r, z, bias);
        bool tie = false;
        for (uint32_t k = 0; k < r.n_expert_used; ++k) {
            const int32_t id = got.ids[t * r.n_expert_used + k];
            const uint32_t ref = want.experts[k];
            const float w = got.weights[t * r.n_expert_used + k];
            auto where = [&] {
                std::ostringstream out;
                out << "token " << t << " slot " << k << ": expert " << id << " weight " << w << ", engine " << ref << " weight "
                    << want.weights[k] << "; " << test::gpu_run_note();
                return out.str();
            };
            if (id != static_cast<int32_t>(ref)) {
                QVERIFY2(!exact && id >= 0 && id < static_cast<int32_t>(r.n_expert) && std::fabs(sel[id] - sel[ref]) <= 1e-6, where().c_str());
                tie = true;
                continue;
            }
            if (tie) continue; // weights after a swapped near-tie are renormalised differently
            QVERIFY2(std::fabs(w - want.weights[k]) <= 4e-6 * (1.0 + std::fabs(want.weights[k])), where().c_str());
        }
        near_ties += tie ? 1 : 0;
    }
    QVERIFY2(near_ties * 50 <= n_tokens, "too many near-ties: more than 2% of tokens routed differently");
}

// ---- the FFN ----------------------------------------------------------------------------------

// The plain loop: out (n_tokens, D) and the magnitude of each output's products.
void reference_ffn(const test::MoeLayer& l, const std::vector<float>& x, int64_t n_tokens, const Routed& route,
                   const std::vector<float>& residual, std::vector<double>& out, std::vector<double>& magnitude) {
    const test::MoeShape& s = l.shape;
    const int64_t d = s.n_embd;
    const std::vector<float> xq = test::quantized_activation_values(x);
    out.assign(static_cast<size_t>(n_tokens) * d, 0.0);
    magnitude.assign(out.size(), 0.0);
    // One expert's SwiGLU for token t, added with `weight`.
    auto expert = [&](int64_t t, const test::MoeMatrix& gate, const test::MoeMatrix& up, const test::MoeMatrix& down, int64_t index,
                      double weight) {
        const int64_t f = gate.rows;
        const float* xa = (is_float(gate.type) ? x.data() : xq.data()) + t * d;
        std::vector<float> h(f);
        for (int64_t j = 0; j < f; ++j) {
            double g = 0.0, u = 0.0;
            const float* gr = &gate.values[(index * f + j) * d];
            const float* ur = &up.values[(index * f + j) * d];
            for (int64_t i = 0; i < d; ++i) g += static_cast<double>(gr[i]) * xa[i], u += static_cast<double>(ur[i]) * xa[i];
            h[j] = static_cast<float>(g / (1.0 + std::exp(-g)) * u);
        }
        const std::vector<float> hq = is_float(down.type) ? h : test::quantized_activation_values(h);
        for (int64_t o = 0; o < d; ++o) {
            const float* dr = &down.values[(index * d + o) * f];
            double y = 0.0, m = 0.0;
            for (int64_t j = 0; j < f; ++j) y += static_cast<double>(dr[j]) * hq[j], m += std::fabs(static_cast<double>(dr[j]) * hq[j]);
            out[t * d + o] += weight * y;
            magnitude[t * d + o] += std::fabs(weight) * m;
        }
    };
    for (int64_t t = 0; t < n_tokens; ++t) {
        for (uint32_t k = 0; k < s.routing.n_expert_used; ++k) {
            const size_t pair = t * s.routing.n_expert_used + k;
            expert(t, l.gate, l.up, l.down, route.ids[pair], route.weights[pair]);
        }
        if (s.n_ff_shared > 0) expert(t, l.shared_gate, l.shared_up, l.shared_down, 0, 1.0);
        if (!residual.empty()) {
            for (int64_t o = 0; o < d; ++o) out[t * d + o] += residual[t * d + o], magnitude[t * d + o] += std::fabs(residual[t * d + o]);
        }
    }
}

void check_output(const std::vector<float>& got, const std::vector<double>& want, const std::vector<double>& magnitude) {
    QCOMPARE(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
        const double limit = 2e-3 * magnitude[i] + 1e-6;
        if (!(std::fabs(got[i] - want[i]) <= limit)) {
            std::ostringstream what;
            what << "output " << i << " is " << got[i] << ", reference " << want[i] << " (limit " << limit << "); " << test::gpu_run_note();
            QFAIL(what.str().c_str());
        }
    }
}

// Runs moe_ffn on a random layer and tokens and checks it (routing taken from moe_route on the
// same inputs, which routingMatchesEngine checks against the engine).
void check_ffn(const test::MoeShape& s, int64_t n_tokens, bool with_residual, uint32_t salt, bool prequantised = false) {
    test::Random random(test::test_seed() ^ salt);
    const test::MoeLayer l = test::random_moe_layer(s, random);
    const kernels::MoeWeights w = l.weights();
    const std::vector<float> x = test::random_activations(n_tokens, s.n_embd, random);
    const std::vector<float> residual = with_residual ? test::random_floats(random, x.size()) : std::vector<float>{};
    const gpu::Buffer xd = gpu::upload(x), rd = gpu::upload(residual);
    gpu::Buffer ws(kernels::moe_workspace_bytes(s.routing, w, n_tokens));
    gpu::device_memset(ws.data(), 0xFF, ws.bytes());
    gpu::Buffer out = test::poisoned_buffer<float>(x.size());
    // prequantised: x's int8 form made beforehand (as rms_norm_q8 leaves it) and handed in.
    gpu::Buffer q8(kernels::q8_activation_bytes(s.n_embd, n_tokens));
    if (prequantised) kernels::quantize_q8(xd.as<float>(), s.n_embd, n_tokens, q8.data());
    kernels::moe_ffn(s.routing, w, xd.as<float>(), n_tokens, with_residual ? rd.as<float>() : nullptr, out.as<float>(), ws.data(), {},
                     prequantised ? q8.data() : nullptr);
    gpu::Buffer ids(n_tokens * s.routing.n_expert_used * 4), weights(n_tokens * s.routing.n_expert_used * 4);
    kernels::moe_route(s.routing, w, xd.as<float>(), n_tokens, ids.as<int32_t>(), weights.as<float>(), ws.data());
    const Routed route{gpu::download<int32_t>(ids), gpu::download<float>(weights)};
    std::vector<double> want, magnitude;
    reference_ffn(l, x, n_tokens, route, residual, want, magnitude);
    check_output(gpu::download<float>(out), want, magnitude);
}

test::MoeShape ffn_shape(QuantType gate_up, QuantType down, uint32_t n_ff_shared) {
    test::MoeShape s;
    s.routing = routing(8, 3, false, false, 1.0f);
    s.gate_up = s.shared_gate_up = gate_up;
    s.down = s.shared_down = down;
    s.n_ff_shared = n_ff_shared;
    return s;
}

} // namespace

Q_DECLARE_METATYPE(latent::kernels::MoeRouting)
Q_DECLARE_METATYPE(latent::test::MoeShape)

class MoeTest : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() { LATENT_REQUIRE_GPU(); }

    void routingMatchesEngine_data() {
        QTest::addColumn<MoeRouting>("r");
        QTest::addColumn<bool>("bias");
        QTest::newRow("v2-lite softmax") << routing(64, 6, false, false, 1.0f) << false;
        QTest::newRow("v2 softmax, 8 groups keep 3 (group max)") << routing(64, 6, false, false, 16.0f, 8, 3) << false;
        QTest::newRow("v3 sigmoid+bias, 8 groups keep 4 (top-2 sum)") << routing(256, 8, true, true, 2.5f, 8, 4) << true;
        QTest::newRow("sigmoid+bias, 4 groups keep 2") << routing(32, 4, true, true, 1.5f, 4, 2) << true;
        QTest::newRow("moonlight sigmoid+bias") << routing(64, 6, true, true, 2.446f) << true;
        QTest::newRow("sigmoid no bias, groups") << routing(48, 5, true, false, 1.0f, 6, 3) << false;
        QTest::newRow("kimi-k2 384 experts") << routing(384, 8, true, true, 2.827f) << true;
        QTest::newRow("softmax with bias, odd sizes") << routing(40, 3, false, true, 1.0f, 4, 2) << true;
    }
    void routingMatchesEngine() {
        QFETCH(MoeRouting, r);
        QFETCH(bool, bias);
        test::Random random(test::test_seed() ^ (r.n_expert * 7919u + r.group_count));
        const int64_t n_tokens = 41;
        std::vector<float> logits(n_tokens * r.n_expert), b;
        for (float& z : logits) z = static_cast<float>(random.normal() * 2.0);
        if (bias) {
            for (uint32_t e = 0; e < r.n_expert; ++e) b.push_back(static_cast<float>(random.normal() * 0.05));
        }
        check_routing(r, logits, b, n_tokens, false);
    }

    // Logits on a coarse grid: many exact ties in probabilities, group scores and selection
    // scores, which both must break towards the lower index.
    void routingTiesGoToLowerIndex_data() { routingMatchesEngine_data(); }
    void routingTiesGoToLowerIndex() {
        QFETCH(MoeRouting, r);
        QFETCH(bool, bias);
        test::Random random(test::test_seed() + r.n_expert);
        const int64_t n_tokens = 29;
        std::vector<float> logits(n_tokens * r.n_expert), b;
        for (float& z : logits) z = static_cast<float>(std::round(random.normal() * 2.0) * 0.5);
        if (bias) {
            for (uint32_t e = 0; e < r.n_expert; ++e) b.push_back(static_cast<float>(random.bits() % 3) * 0.125f);
        }
        check_routing(r, logits, b, n_tokens, true);
    }

    void ffnMatchesReference_data() {
        QTest::addColumn<test::MoeShape>("s");
        QTest::addColumn<int>("tokens");
        QTest::addColumn<bool>("residual");
        for (QuantType t : kernels::kAllQuantTypes) {
            QTest::addRow("%s, shared, 3 tokens", kernels::quant_type_name(t)) << ffn_shape(t, t, 256) << 3 << true;
        }
        test::MoeShape mix = ffn_shape(QuantType::Q4_K, QuantType::Q8_0, 256);
        mix.n_ff = 96;
        mix.shared_down = QuantType::Q6_K;
        QTest::newRow("v2-lite q4_k_m mix, decode") << mix << 1 << true;
        QTest::newRow("v2-lite q4_k_m mix, 16 tokens") << mix << 16 << false;
        QTest::newRow("v2-lite q4_k_m mix, 37 tokens") << mix << 37 << true;
        QTest::newRow("f16 / q4_1, no shared, decode") << ffn_shape(QuantType::F16, QuantType::Q4_1, 0) << 1 << false;
        QTest::newRow("iq4_nl / bf16, decode") << ffn_shape(QuantType::IQ4_NL, QuantType::BF16, 512) << 1 << true;
        test::MoeShape v3 = ffn_shape(QuantType::Q5_K, QuantType::Q4_0, 0);
        v3.routing = routing(16, 4, true, true, 2.5f, 4, 2);
        v3.bias = true;
        QTest::newRow("v3 routing, no shared experts") << v3 << 9 << true;
        test::MoeShape floats = ffn_shape(QuantType::BF16, QuantType::Q6_K, 256);
        floats.shared_gate_up = QuantType::IQ4_XS;
        floats.shared_down = QuantType::F16;
        QTest::newRow("float routed gate/up, block shared") << floats << 5 << true;
        if (test::gpu_big_grids()) {
            test::MoeShape lite = ffn_shape(QuantType::Q4_K, QuantType::Q8_0, 2816);
            lite.n_embd = 2048;
            lite.n_ff = 1408;
            lite.shared_down = QuantType::Q6_K;
            lite.routing = routing(64, 6, false, false, 1.0f);
            QTest::newRow("v2-lite shapes, decode") << lite << 1 << true;
            QTest::newRow("v2-lite shapes, 64 tokens") << lite << 64 << true;
        }
    }
    void ffnMatchesReference() {
        QFETCH(test::MoeShape, s);
        QFETCH(int, tokens);
        QFETCH(bool, residual);
        check_ffn(s, tokens, residual, static_cast<uint32_t>(s.gate_up) * 131u + static_cast<uint32_t>(tokens));
    }

    void ffnTakesPrequantisedActivations() {
        test::MoeShape s = ffn_shape(QuantType::Q4_K, QuantType::Q5_0, 256);
        s.n_ff = 96;
        check_ffn(s, 1, true, 77, true);
        check_ffn(s, 5, false, 78, true);
        // The handed-in form is what the block-type matrices read: all-zero int8 activations give
        // zero hidden vectors, so the output is exactly the residual.
        test::Random random(test::test_seed() + 79);
        const test::MoeLayer l = test::random_moe_layer(s, random);
        const std::vector<float> x = test::random_activations(2, s.n_embd, random), residual = test::random_floats(random, x.size());
        const gpu::Buffer xd = gpu::upload(x), rd = gpu::upload(residual);
        gpu::Buffer zeros(kernels::q8_activation_bytes(s.n_embd, 2)), ws(kernels::moe_workspace_bytes(s.routing, l.weights(), 2));
        gpu::device_memset(zeros.data(), 0, zeros.bytes());
        gpu::Buffer out = test::poisoned_buffer<float>(x.size());
        kernels::moe_ffn(s.routing, l.weights(), xd.as<float>(), 2, rd.as<float>(), out.as<float>(), ws.data(), {}, zeros.data());
        QCOMPARE(gpu::download<float>(out), residual);
    }

    // The whole FFN captured in a graph on a stream, replayed with new activations written into
    // the same device buffer: ids and weights come from device memory, so the replay routes the
    // new tokens afresh.
    void graphReplayRoutesNewTokens() {
        test::MoeShape s = ffn_shape(QuantType::Q4_0, QuantType::Q8_0, 256);
        s.routing = routing(16, 2, true, true, 1.0f);
        test::Random random(test::test_seed() + 4242);
        const test::MoeLayer l = test::random_moe_layer(s, random);
        const kernels::MoeWeights w = l.weights();
        const int64_t n_tokens = 2;
        gpu::Buffer xd(n_tokens * s.n_embd * sizeof(float)), out(n_tokens * s.n_embd * sizeof(float));
        gpu::Buffer ws(kernels::moe_workspace_bytes(s.routing, w, n_tokens));
        const gpu::Stream stream = gpu::stream_create();
        gpu::graph_begin_capture(stream);
        kernels::moe_ffn(s.routing, w, xd.as<float>(), n_tokens, nullptr, out.as<float>(), ws.data(), stream);
        const gpu::Graph graph = gpu::graph_end_capture(stream);
        for (int round = 0; round < 2; ++round) {
            const std::vector<float> x = test::random_activations(n_tokens, s.n_embd, random);
            gpu::copy_to_device(xd.data(), x.data(), xd.bytes());
            gpu::device_memset(out.data(), 0xFF, out.bytes());
            gpu::graph_launch(graph, stream);
            gpu::stream_synchronize(stream);
            gpu::Buffer ids(n_tokens * 2 * 4), weights(n_tokens * 2 * 4), ws2(ws.bytes());
            kernels::moe_route(s.routing, w, xd.as<float>(), n_tokens, ids.as<int32_t>(), weights.as<float>(), ws2.data());
            const Routed route{gpu::download<int32_t>(ids), gpu::download<float>(weights)};
            std::vector<double> want, magnitude;
            reference_ffn(l, x, n_tokens, route, {}, want, magnitude);
            check_output(gpu::download<float>(out), want, magnitude);
        }
        gpu::graph_destroy(graph);
        gpu::stream_destroy(stream);
    }

    void rejectsBadShapes() {
        test::MoeShape s = ffn_shape(QuantType::Q8_0, QuantType::Q8_0, 0);
        s.n_ff = 96;
        test::Random random(3);
        const test::MoeLayer l = test::random_moe_layer(s, random);
        QVERIFY(kernels::moe_workspace_bytes(s.routing, l.weights(), 1) > 0);
        kernels::MoeWeights w = l.weights();
        w.down_exps.type = QuantType::Q4_K; // 96 columns are not whole 256-element blocks
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, kernels::moe_workspace_bytes(s.routing, w, 1));
        w = l.weights();
        w.up_exps.type = QuantType::Q4_0; // gate and up must share a type
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, kernels::moe_workspace_bytes(s.routing, w, 1));
        MoeRouting r = s.routing;
        r.n_expert_used = 9;
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, kernels::moe_workspace_bytes(r, l.weights(), 1));
        r = routing(8, 2, false, false, 1.0f, 3, 1); // 3 groups do not divide 8 experts
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, kernels::moe_workspace_bytes(r, l.weights(), 1));
        r = routing(8, 4, false, false, 1.0f, 4, 1); // one group of 2 cannot supply 4 experts
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, kernels::moe_workspace_bytes(r, l.weights(), 1));
    }
};

QTEST_GUILESS_MAIN(MoeTest)
#include "test_moe.moc"
