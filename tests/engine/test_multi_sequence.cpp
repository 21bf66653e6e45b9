// The multi-sequence cpu backend (continuous batching) against the single-sequence cpu backend
// run on each sequence alone: decode steps of up to 4 sequences must give bit-identical logits
// and therefore the same greedy tokens; mixed prefill + decode batches agree within rounding;
// invalid calls fail naming the problem and leave every cache as it was. Prompts are fresh
// random tokens each run (seed printed; LATENT_TEST_SEED replays one).
#include "backend/multi_sequence.h"
#include "core/error.h"
#include "engine.h"
#include "model/model_builder.h"
#include "test_random.h"
#include "test_support.h"

#include <QtTest>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

using namespace latent;

namespace {

using Tokens = std::vector<int32_t>;

uint32_t test_seed() {
    if (const char* s = std::getenv("LATENT_TEST_SEED")) return static_cast<uint32_t>(std::strtoul(s, nullptr, 10));
    return static_cast<uint32_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}

int32_t argmax(const float* row, size_t n) { return static_cast<int32_t>(std::max_element(row, row + n) - row); }

Tokens random_tokens(test::Random& rng, size_t n, uint32_t n_vocab) {
    Tokens out(n);
    for (auto& t : out) t = static_cast<int32_t>(rng.bits() % n_vocab);
    return out;
}

BackendOptions small_options() {
    BackendOptions o;
    o.n_ctx = 96;
    o.n_threads = 2;
    return o;
}

} // namespace

class TestMultiSequence : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    uint32_t seed_ = 0;

    std::unique_ptr<Model> load(const QString& preset, const QString& scheme) {
        const auto path = test::to_path(dir_.filePath(preset + "-" + scheme + ".gguf"));
        if (!std::filesystem::exists(path)) {
            BuildOptions options;
            options.scheme = *weight_scheme_from_name(scheme.toStdString());
            build_model_file(*model_shape_preset(preset.toStdString()), options, path);
        }
        return Model::load(path);
    }

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        seed_ = test_seed();
        qInfo("seed %u (LATENT_TEST_SEED=%u replays it)", seed_, seed_);
    }

    void decode_steps_equal_single_data() {
        QTest::addColumn<QString>("preset");
        QTest::addColumn<QString>("scheme");
        QTest::newRow("tiny q8_0") << "tiny" << "q8_0";
        QTest::newRow("tiny-v3 q4_k_m") << "tiny-v3" << "q4_k_m";
        QTest::newRow("tiny f32") << "tiny" << "f32";
    }
    // Four sequences with prompts of different lengths join one after another (one prefill call
    // each, as the server does) and leave after different numbers of tokens; every step decodes
    // all active sequences in one call. Each must match the single backend bit for bit.
    void decode_steps_equal_single() {
        QFETCH(QString, preset);
        QFETCH(QString, scheme);
        const auto model = load(preset, scheme);
        const size_t n_vocab = model->config().n_vocab;
        test::Random rng(seed_);
        constexpr uint32_t kSeqs = 4;
        std::vector<Tokens> prompts;
        std::vector<uint32_t> lengths; // tokens to generate per sequence
        for (uint32_t s = 0; s < kSeqs; ++s) {
            prompts.push_back(random_tokens(rng, 3 + rng.bits() % 20, model->config().n_vocab));
            lengths.push_back(8 + rng.bits() % 10);
        }

        // Oracle: each sequence alone, greedy.
        std::vector<std::vector<std::vector<float>>> expected_logits(kSeqs);
        std::vector<Tokens> expected_tokens(kSeqs);
        for (uint32_t s = 0; s < kSeqs; ++s) {
            auto single = create_cpu_backend(*model, small_options());
            std::vector<float> logits(n_vocab);
            const uint32_t last = static_cast<uint32_t>(prompts[s].size() - 1);
            single->evaluate(prompts[s], std::span<const uint32_t>(&last, 1), logits.data());
            for (uint32_t i = 0; i < lengths[s]; ++i) {
                expected_logits[s].push_back(logits);
                const int32_t token = argmax(logits.data(), n_vocab);
                expected_tokens[s].push_back(token);
                const uint32_t row = 0;
                single->evaluate(std::span<const int32_t>(&token, 1), std::span<const uint32_t>(&row, 1), logits.data());
            }
        }

        // Batched: sequence s joins at step s.
        auto multi = create_cpu_multi_backend(*model, small_options(), kSeqs);
        std::vector<std::vector<float>> current(kSeqs, std::vector<float>(n_vocab));
        std::vector<Tokens> got(kSeqs);
        std::vector<bool> joined(kSeqs, false);
        for (uint32_t step = 0; step < 64; ++step) {
            if (step < kSeqs) {
                const SequenceSlice prefill{step, prompts[step], true};
                multi->evaluate(std::span<const SequenceSlice>(&prefill, 1), current[step].data());
                joined[step] = true;
            }
            std::vector<SequenceSlice> slices;
            std::vector<int32_t> next(kSeqs);
            std::vector<uint32_t> order;
            for (uint32_t s = 0; s < kSeqs; ++s) {
                if (!joined[s] || got[s].size() >= lengths[s]) continue;
                const size_t i = got[s].size();
                QVERIFY2(std::memcmp(current[s].data(), expected_logits[s][i].data(), n_vocab * sizeof(float)) == 0,
                         qPrintable(QString("sequence %1 token %2: batched logits differ from the sequence alone").arg(s).arg(i)));
                next[s] = argmax(current[s].data(), n_vocab);
                got[s].push_back(next[s]);
                if (got[s].size() < lengths[s]) {
                    slices.push_back(SequenceSlice{s, std::span<const int32_t>(&next[s], 1), true});
                    order.push_back(s);
                }
            }
            if (slices.empty() && step >= kSeqs) break;
            if (slices.empty()) continue;
            std::vector<float> out(slices.size() * n_vocab);
            multi->evaluate(slices, out.data());
            for (size_t k = 0; k < order.size(); ++k) std::copy_n(out.data() + k * n_vocab, n_vocab, current[order[k]].data());
        }
        for (uint32_t s = 0; s < kSeqs; ++s) {
            QCOMPARE(got[s], expected_tokens[s]);
            QCOMPARE(multi->n_cached(s), static_cast<uint32_t>(prompts[s].size() + lengths[s] - 1));
        }
    }

    // Prefill slices and decode tokens of several sequences in one call (a batch past the
    // batch-kernel threshold): the same function, within the batch kernel's rounding, checked
    // against the sequential oracle built from single cpu backends.
    void mixed_batch_matches_sequential_data() {
        QTest::addColumn<QString>("preset");
        QTest::addColumn<QString>("scheme");
        QTest::addColumn<double>("tolerance"); // mean |diff| relative to the row's largest logit
        // Float weights: a batch of 6+ tokens takes the float batch kernel (quant_dot.h), whose
        // summation order differs from the per-row kernels' by float rounding only.
        QTest::newRow("tiny-v3 f32") << "tiny-v3" << "f32" << 1e-4;
        // Quantised activations: a few-ulp difference can move one value across a rounding
        // boundary of the 8-bit activation blocks, which the random weights then amplify (the
        // same effect test_forward allows between cpu and ref).
        QTest::newRow("tiny q8_0") << "tiny" << "q8_0" << 2e-2;
    }
    void mixed_batch_matches_sequential() {
        QFETCH(QString, preset);
        QFETCH(QString, scheme);
        QFETCH(double, tolerance);
        const auto model = load(preset, scheme);
        const size_t n_vocab = model->config().n_vocab;
        test::Random rng(seed_ + 1);
        std::vector<std::unique_ptr<Backend>> singles;
        for (int i = 0; i < 3; ++i) singles.push_back(create_cpu_backend(*model, small_options()));
        auto oracle = create_sequential_multi_backend(std::move(singles));
        auto multi = create_cpu_multi_backend(*model, small_options(), 3);
        std::vector<Tokens> parts;
        for (int round = 0; round < 3; ++round) {
            parts.clear();
            for (uint32_t s = 0; s < 3; ++s) parts.push_back(random_tokens(rng, (round + s) % 2 == 0 ? 7 + rng.bits() % 9 : 1, model->config().n_vocab));
            std::vector<SequenceSlice> slices;
            for (uint32_t s = 0; s < 3; ++s) slices.push_back(SequenceSlice{s, parts[s], s != 1 || round == 2});
            const size_t rows = static_cast<size_t>(std::count_if(slices.begin(), slices.end(), [](const SequenceSlice& x) { return x.logits; }));
            std::vector<float> a(rows * n_vocab), b(rows * n_vocab);
            multi->evaluate(slices, a.data());
            oracle->evaluate(slices, b.data());
            for (size_t r = 0; r < rows; ++r) {
                double mean_abs = 0, scale = 0;
                for (size_t i = 0; i < n_vocab; ++i) {
                    mean_abs += std::abs(static_cast<double>(a[r * n_vocab + i]) - b[r * n_vocab + i]);
                    scale = std::max(scale, std::abs(static_cast<double>(b[r * n_vocab + i])));
                }
                mean_abs /= static_cast<double>(n_vocab);
                QVERIFY2(mean_abs <= tolerance * std::max(scale, 1.0),
                         qPrintable(QString("round %1 row %2: mean |diff| %3 of scale %4").arg(round).arg(r).arg(mean_abs).arg(scale)));
            }
            for (uint32_t s = 0; s < 3; ++s) QCOMPARE(multi->n_cached(s), oracle->n_cached(s));
        }
    }

    // Cutting a sequence back and evaluating new tokens after the kept prefix gives what the
    // single backend gives for the same calls, and leaves the other sequence alone (prefix reuse
    // per sequence).
    void truncate_is_per_sequence() {
        const auto model = load("tiny", "q8_0");
        const size_t n_vocab = model->config().n_vocab;
        test::Random rng(seed_ + 2);
        auto multi = create_cpu_multi_backend(*model, small_options(), 2);
        auto single = create_cpu_backend(*model, small_options());
        const Tokens a = random_tokens(rng, 12, model->config().n_vocab), b = random_tokens(rng, 9, model->config().n_vocab);
        const Tokens c = random_tokens(rng, 4, model->config().n_vocab);
        std::vector<float> expected(n_vocab), got(n_vocab), other(n_vocab);
        single->evaluate(a, {}, nullptr);
        single->truncate(5);
        const uint32_t last = static_cast<uint32_t>(c.size() - 1);
        single->evaluate(c, std::span<const uint32_t>(&last, 1), expected.data());

        SequenceSlice slice{0, a, false};
        multi->evaluate(std::span<const SequenceSlice>(&slice, 1), nullptr);
        slice = SequenceSlice{1, b, true};
        multi->evaluate(std::span<const SequenceSlice>(&slice, 1), other.data());
        multi->truncate(0, 5);
        QCOMPARE(multi->n_cached(0), 5u);
        QCOMPARE(multi->n_cached(1), 9u);
        slice = SequenceSlice{0, c, true};
        multi->evaluate(std::span<const SequenceSlice>(&slice, 1), got.data());
        QVERIFY(std::memcmp(expected.data(), got.data(), n_vocab * sizeof(float)) == 0);
        QVERIFY_THROWS_EXCEPTION(Error, multi->truncate(1, 10));
        QVERIFY_THROWS_EXCEPTION(Error, multi->truncate(2, 0));
    }

    void invalid_calls_keep_caches_data() {
        QTest::addColumn<QString>("what");
        QTest::newRow("unknown sequence") << "unknown";
        QTest::newRow("repeated sequence") << "repeated";
        QTest::newRow("empty slice") << "empty";
        QTest::newRow("past the context") << "overflow";
        QTest::newRow("token outside the vocabulary") << "token";
        QTest::newRow("no slices") << "none";
    }
    void invalid_calls_keep_caches() {
        QFETCH(QString, what);
        const auto model = load("tiny", "q8_0");
        auto multi = create_cpu_multi_backend(*model, small_options(), 2);
        const Tokens ok{1, 2, 3};
        SequenceSlice first{0, ok, false};
        multi->evaluate(std::span<const SequenceSlice>(&first, 1), nullptr);
        const Tokens big(200, 5), bad{1, static_cast<int32_t>(model->config().n_vocab)};
        std::vector<SequenceSlice> slices;
        if (what == "unknown") slices = {{1, ok, false}, {2, ok, false}};
        if (what == "repeated") slices = {{1, ok, false}, {1, ok, false}};
        if (what == "empty") slices = {{1, ok, false}, {0, {}, false}};
        if (what == "overflow") slices = {{1, ok, false}, {0, big, false}};
        if (what == "token") slices = {{1, ok, false}, {0, bad, false}};
        std::vector<float> logits(2 * model->config().n_vocab);
        try {
            multi->evaluate(slices, logits.data());
            QFAIL("an invalid call was accepted");
        } catch (const Error& e) {
            QVERIFY(std::strlen(e.what()) > 10);
        }
        QCOMPARE(multi->n_cached(0), 3u);
        QCOMPARE(multi->n_cached(1), 0u);
    }
};

QTEST_GUILESS_MAIN(TestMultiSequence)
#include "test_multi_sequence.moc"
