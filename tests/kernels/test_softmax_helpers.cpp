// The online-softmax and log-sum-exp helpers (kernels/common/softmax.cuh) run natively against a
// plain two-pass softmax in double on fresh random scores and values: score by score, tile by
// tile, and split into parts that are merged (flash-decoding's combine), with masked (-inf)
// scores, empty parts and all-masked streams.
#include "common/softmax.cuh"

#include "quant_test_data.h"

#include <QtTest>

#include <cmath>
#include <vector>

using namespace latent;
namespace softmax = kernels::softmax;

namespace {

constexpr int kValueWidth = 3;

struct Stream {
    std::vector<float> scores;
    std::vector<float> values; // (scores.size(), kValueWidth)
};

// Scores of either sign and spread (a few masked), values in [-1, 1].
Stream random_stream(int n, double spread, double masked_fraction, test::Random& random) {
    Stream s;
    for (int i = 0; i < n; ++i) {
        const bool masked = random.uniform() < masked_fraction;
        s.scores.push_back(masked ? -INFINITY : static_cast<float>(random.normal() * spread));
        for (int j = 0; j < kValueWidth; ++j) s.values.push_back(static_cast<float>(random.uniform(-1.0, 1.0)));
    }
    return s;
}

// The obvious two-pass softmax-weighted sum in double; also log(sum exp(s)).
std::vector<double> reference(const Stream& s, double* lse) {
    double m = -INFINITY;
    for (float x : s.scores) m = std::max(m, static_cast<double>(x));
    std::vector<double> out(kValueWidth, 0.0);
    double l = 0.0;
    for (size_t i = 0; i < s.scores.size(); ++i) {
        if (s.scores[i] == -INFINITY) continue;
        const double w = std::exp(static_cast<double>(s.scores[i]) - m);
        l += w;
        for (int j = 0; j < kValueWidth; ++j) out[j] += w * s.values[i * kValueWidth + j];
    }
    for (double& v : out) v = l > 0.0 ? v / l : 0.0;
    *lse = l > 0.0 ? m + std::log(l) : -INFINITY;
    return out;
}

struct Partial {
    softmax::State state;
    float acc[kValueWidth] = {};
};

// Scores [begin, end) through add_score one at a time.
Partial fold_scores(const Stream& s, size_t begin, size_t end) {
    Partial p;
    for (size_t i = begin; i < end; ++i) {
        const softmax::Update u = softmax::add_score(p.state, s.scores[i]);
        for (int j = 0; j < kValueWidth; ++j) p.acc[j] = p.acc[j] * u.old_factor + u.weight * s.values[i * kValueWidth + j];
    }
    return p;
}

// Scores [begin, end) in tiles of `tile` through raise_max / exp_shifted / add_to_sum, as the
// attention kernels do.
Partial fold_tiles(const Stream& s, size_t begin, size_t end, size_t tile) {
    Partial p;
    for (size_t t = begin; t < end; t += tile) {
        const size_t stop = std::min(end, t + tile);
        float tile_max = -INFINITY;
        for (size_t i = t; i < stop; ++i) tile_max = std::max(tile_max, s.scores[i]);
        const float factor = softmax::raise_max(p.state, tile_max);
        for (float& a : p.acc) a *= factor;
        float tile_sum = 0.0f;
        for (size_t i = t; i < stop; ++i) {
            const float w = softmax::exp_shifted(s.scores[i], p.state.max);
            tile_sum += w;
            for (int j = 0; j < kValueWidth; ++j) p.acc[j] += w * s.values[i * kValueWidth + j];
        }
        softmax::add_to_sum(p.state, tile_sum);
    }
    return p;
}

void check_result(const Partial& p, const std::vector<double>& expected, double expected_lse, const char* what) {
    const float inv = softmax::inverse_sum(p.state);
    for (int j = 0; j < kValueWidth; ++j) {
        const double got = static_cast<double>(p.acc[j]) * inv;
        if (std::fabs(got - expected[j]) > 2e-5 * (1.0 + std::fabs(expected[j]))) {
            QFAIL(qPrintable(QString("%1: value %2 is %3, expected %4").arg(what).arg(j).arg(got, 0, 'g', 9).arg(expected[j], 0, 'g', 9)));
        }
    }
    const double lse = softmax::log_sum_exp(p.state);
    if (std::isinf(expected_lse)) {
        QVERIFY2(std::isinf(lse) && lse < 0, what);
    } else {
        QVERIFY2(std::fabs(lse - expected_lse) <= 2e-5 * (1.0 + std::fabs(expected_lse)), what);
    }
}

} // namespace

class SoftmaxHelpersTest : public QObject {
    Q_OBJECT

private slots:
    void onlineMatchesTwoPass_data() {
        QTest::addColumn<int>("n");
        QTest::addColumn<double>("spread");
        QTest::addColumn<double>("masked");
        QTest::newRow("one") << 1 << 1.0 << 0.0;
        QTest::newRow("small") << 17 << 3.0 << 0.1;
        QTest::newRow("wide-spread") << 300 << 40.0 << 0.2;
        QTest::newRow("long") << 4096 << 5.0 << 0.05;
        QTest::newRow("all-masked") << 40 << 1.0 << 1.0;
    }
    void onlineMatchesTwoPass() {
        QFETCH(int, n);
        QFETCH(double, spread);
        QFETCH(double, masked);
        test::Random random(test::test_seed() ^ static_cast<uint32_t>(n));
        for (int trial = 0; trial < 8; ++trial) {
            const Stream s = random_stream(n, spread, masked, random);
            double lse = 0.0;
            const std::vector<double> expected = reference(s, &lse);
            check_result(fold_scores(s, 0, s.scores.size()), expected, lse, "score by score");
            for (size_t tile : {size_t{1}, size_t{7}, size_t{32}}) check_result(fold_tiles(s, 0, s.scores.size(), tile), expected, lse, "tiles");
        }
    }

    // Split-K: the stream cut at random points (empty parts included), each part folded on its
    // own, the parts merged left to right as the combine kernel does.
    void mergedPartsMatchWhole() {
        test::Random random(test::test_seed() + 99);
        for (int trial = 0; trial < 50; ++trial) {
            const int n = 1 + static_cast<int>(random.bits() % 600);
            const Stream s = random_stream(n, random.uniform(0.1, 30.0), trial % 5 == 0 ? 0.7 : 0.05, random);
            double lse = 0.0;
            const std::vector<double> expected = reference(s, &lse);
            const int parts = 1 + static_cast<int>(random.bits() % 9);
            std::vector<size_t> cuts{0};
            for (int i = 1; i < parts; ++i) cuts.push_back(random.bits() % (s.scores.size() + 1));
            cuts.push_back(s.scores.size());
            std::sort(cuts.begin(), cuts.end());
            Partial total;
            for (size_t i = 0; i + 1 < cuts.size(); ++i) {
                const Partial p = fold_tiles(s, cuts[i], cuts[i + 1], 32);
                const softmax::Merge m = softmax::merge(total.state, p.state);
                for (int j = 0; j < kValueWidth; ++j) total.acc[j] = total.acc[j] * m.factor_a + p.acc[j] * m.factor_b;
                total.state = m.merged;
                QVERIFY(!std::isnan(total.state.sum));
            }
            check_result(total, expected, lse, "merged parts");
        }
    }

    void emptyStateIsMergeIdentity() {
        const softmax::State empty;
        softmax::State one;
        softmax::add_score(one, 2.5f);
        const softmax::Merge a = softmax::merge(empty, one);
        QCOMPARE(a.merged.max, 2.5f);
        QCOMPARE(a.merged.sum, 1.0f);
        QCOMPARE(a.factor_a, 0.0f);
        QCOMPARE(a.factor_b, 1.0f);
        const softmax::Merge b = softmax::merge(empty, empty);
        QCOMPARE(b.merged.sum, 0.0f);
        QVERIFY(!std::isnan(b.factor_a) && !std::isnan(b.factor_b));
        QCOMPARE(softmax::inverse_sum(b.merged), 0.0f);
    }
};

QTEST_GUILESS_MAIN(SoftmaxHelpersTest)
#include "test_softmax_helpers.moc"
