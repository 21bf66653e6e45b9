// The token sampler: every stage against small cases worked out by hand (the arithmetic is in
// the comments), the fast top-k / top-p paths against their full-sort references on random
// lists, greedy ties, NaN / inf logits, determinism per seed, and the statistics of the draws
// (frequencies within 5 binomial standard deviations of softmax). Also checks that sample()
// stops allocating after its first call.
#include "sampling/sampler.h"

#include "core/error.h"

#include <QtTest>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <new>
#include <numeric>
#include <set>
#include <vector>

// ---- Allocation counter: the whole test binary's operator new goes through here ---------------
namespace {
std::atomic<size_t> g_allocations{0};
}

void* operator new(std::size_t size) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

using namespace latent::sampling;

using Floats = std::vector<float>;
using Ids = std::vector<int32_t>;
Q_DECLARE_METATYPE(Floats)
Q_DECLARE_METATYPE(Ids)

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// Every stage off: tokens are drawn from softmax(logits / temperature).
SamplerParams plain_params(float temp = 1.0f, uint64_t seed = 0) {
    SamplerParams params;
    params.temperature = temp;
    params.top_k = 0;
    params.top_p = 1.0f;
    params.min_p = 0.0f;
    params.seed = seed;
    return params;
}

CandidateList list_of(const Floats& logits) {
    CandidateList list;
    list.assign(logits);
    return list;
}

Ids ids_of(const CandidateList& list) {
    Ids ids;
    for (const Candidate& c : list.items) ids.push_back(c.id);
    return ids;
}

Floats logits_of(const CandidateList& list) {
    Floats logits;
    for (const Candidate& c : list.items) logits.push_back(c.logit);
    return logits;
}

// Logits whose softmax is exactly proportional to the given weights (up to float rounding).
Floats logits_for_weights(std::initializer_list<double> weights) {
    Floats logits;
    for (double w : weights) logits.push_back(static_cast<float>(std::log(w)));
    return logits;
}

// softmax in double: the ground truth the statistics are compared with.
std::vector<double> softmax_double(const Floats& logits) {
    double best = -std::numeric_limits<double>::infinity();
    for (float l : logits) best = std::max(best, static_cast<double>(l));
    std::vector<double> p;
    double sum = 0.0;
    for (float l : logits) {
        p.push_back(std::exp(static_cast<double>(l) - best));
        sum += p.back();
    }
    for (double& x : p) x /= sum;
    return p;
}

// A random logit row with deliberate ties (values on a 1/4 grid) and a few -inf entries.
Floats random_logits(Xoshiro256StarStar& rng, size_t n) {
    Floats logits(n);
    for (float& l : logits) {
        const double u = rng.next_unit();
        if (u < 0.02)
            l = -kInf;
        else
            l = static_cast<float>(std::floor(rng.next_unit() * 40.0 - 20.0) / 4.0);
    }
    return logits;
}

void shuffle(std::vector<Candidate>& items, Xoshiro256StarStar& rng) {
    for (size_t i = items.size(); i > 1; --i) {
        const auto j = static_cast<size_t>(rng.next_u64() % i);
        std::swap(items[i - 1], items[j]);
    }
}

bool same_candidates(const CandidateList& a, const CandidateList& b) {
    if (a.order != b.order || a.items.size() != b.items.size()) return false;
    for (size_t i = 0; i < a.items.size(); ++i) {
        const Candidate& x = a.items[i];
        const Candidate& y = b.items[i];
        if (x.id != y.id || x.logit != y.logit || x.prob != y.prob) return false;
    }
    return true;
}

} // namespace

class TestSampler : public QObject {
    Q_OBJECT

private slots:
    void prngGolden();
    void countTokens();
    void greedy_data();
    void greedy();
    void penalties_data();
    void penalties();
    void penaltyWindow();
    void penaltiesIndependentOfOrder();
    void topK_data();
    void topK();
    void topP_data();
    void topP();
    void minP_data();
    void minP();
    void temperatureStage_data();
    void temperatureStage();
    void softmaxStage_data();
    void softmaxStage();
    void fastPathsMatchReferences();
    void drawGolden();
    void determinism();
    void statistics_data();
    void statistics();
    void truncationNeverEmitsExcluded_data();
    void truncationNeverEmitsExcluded();
    void temperatureToZeroApproachesGreedy();
    void nanAndInfinity();
    void edgeCases();
    void invalidParams_data();
    void invalidParams();
    void noAllocationAfterFirstCall();
};

void TestSampler::prngGolden() {
    // splitmix64 from seed 0 gives e220a8397b1dcdaf 6e789e6aa1b965f4 06c45d188009454f
    // f88bb8a8724c81ec (the published first outputs); xoshiro256** from that state, and from
    // seed 42, computed with an independent Python transcription of the two algorithms.
    Xoshiro256StarStar zero(0);
    QCOMPARE(zero.next_u64(), uint64_t(0x99ec5f36cb75f2b4));
    QCOMPARE(zero.next_u64(), uint64_t(0xbf6e1f784956452a));
    QCOMPARE(zero.next_u64(), uint64_t(0x1a5f849d4933e6e0));
    Xoshiro256StarStar answer(42);
    QCOMPARE(answer.next_u64(), uint64_t(0x15780b2e0c2ec716));
    QCOMPARE(answer.next_u64(), uint64_t(0x6104d9866d113a7e));
    QCOMPARE(answer.next_u64(), uint64_t(0xae17533239e499a1));
    // next_unit = (0x99ec5f36cb75f2b4 >> 11) * 2^-53 = 0.6012629994179048.
    Xoshiro256StarStar unit(0);
    QCOMPARE(unit.next_unit(), 0.6012629994179048);
    for (int i = 0; i < 100000; ++i) {
        const double u = unit.next_unit();
        QVERIFY(u >= 0.0 && u < 1.0);
    }
}

void TestSampler::countTokens() {
    std::vector<TokenCount> counts;
    const Ids tokens = {5, 3, 5, -1, 9, 5, 3};
    count_tokens(tokens, counts);
    // Distinct by ascending id: -1 ×1, 3 ×2, 5 ×3, 9 ×1.
    QCOMPARE(counts.size(), size_t(4));
    const TokenCount expected[] = {{-1, 1}, {3, 2}, {5, 3}, {9, 1}};
    for (size_t i = 0; i < 4; ++i) {
        QCOMPARE(counts[i].id, expected[i].id);
        QCOMPARE(counts[i].count, expected[i].count);
    }
    count_tokens({}, counts);
    QVERIFY(counts.empty());
}

void TestSampler::greedy_data() {
    QTest::addColumn<Floats>("logits");
    QTest::addColumn<int32_t>("expected");

    QTest::newRow("plain argmax") << Floats{0.1f, 2.5f, -1.0f, 2.4f} << 1;
    QTest::newRow("tie picks the lowest id") << Floats{1.0f, 3.0f, 3.0f, 3.0f} << 1;
    QTest::newRow("all equal") << Floats{0.0f, 0.0f, 0.0f} << 0;
    QTest::newRow("all negative") << Floats{-5.0f, -2.0f, -3.0f} << 1;
    QTest::newRow("NaN never wins") << Floats{kNaN, -7.0f, kNaN} << 1;
    QTest::newRow("-inf never wins") << Floats{-kInf, -1e30f, -kInf} << 1;
    QTest::newRow("+inf wins, lowest id") << Floats{1.0f, kInf, 2.0f, kInf} << 1;
    QTest::newRow("vocab of one") << Floats{-3.0f} << 0;
    QTest::newRow("last entry") << Floats{0.0f, 0.0f, 0.5f} << 2;
}

void TestSampler::greedy() {
    QFETCH(Floats, logits);
    QFETCH(int32_t, expected);

    QCOMPARE(argmax(list_of(logits)), expected);
    for (float temp : {0.0f, -1.0f}) {
        SamplerParams params; // the default truncation stages do not matter to greedy
        params.temperature = temp;
        Sampler sampler(params);
        for (int i = 0; i < 3; ++i) QCOMPARE(sampler.sample(logits, {}), expected);
    }
}

void TestSampler::penalties_data() {
    QTest::addColumn<Floats>("logits");
    QTest::addColumn<Ids>("recent");
    QTest::addColumn<float>("repeat");
    QTest::addColumn<float>("presence");
    QTest::addColumn<float>("frequency");
    QTest::addColumn<Floats>("expected");

    // logits {2, -1, 0.5, 3, 0}; recent {0, 1, 1, 4}: id 0 once, id 1 twice, id 4 once.
    const Floats logits = {2.0f, -1.0f, 0.5f, 3.0f, 0.0f};
    const Ids recent = {0, 1, 1, 4};
    QTest::newRow("neutral") << logits << recent << 1.0f << 0.0f << 0.0f << logits;
    // repeat 2: 2 > 0 → 2/2 = 1; -1 <= 0 → -1*2 = -2 (once, although it occurs twice); 0 → 0*2 = 0.
    QTest::newRow("repeat 2") << logits << recent << 2.0f << 0.0f << 0.0f
                              << Floats{1.0f, -2.0f, 0.5f, 3.0f, 0.0f};
    // repeat 0.5 rewards: 2/0.5 = 4; -1*0.5 = -0.5; 0.
    QTest::newRow("repeat 0.5") << logits << recent << 0.5f << 0.0f << 0.0f
                                << Floats{4.0f, -0.5f, 0.5f, 3.0f, 0.0f};
    // presence 0.5, once per distinct token: 1.5, -1.5, -, -, -0.5.
    QTest::newRow("presence 0.5") << logits << recent << 1.0f << 0.5f << 0.0f
                                  << Floats{1.5f, -1.5f, 0.5f, 3.0f, -0.5f};
    // frequency 0.25 × count: 2 - 0.25 = 1.75; -1 - 0.5 = -1.5; 0 - 0.25 = -0.25.
    QTest::newRow("frequency 0.25") << logits << recent << 1.0f << 0.0f << 0.25f
                                    << Floats{1.75f, -1.5f, 0.5f, 3.0f, -0.25f};
    // All three, repeat first: id 0: 1 - 0.25 - 0.5 = 0.25; id 1: -2 - 0.5 - 0.5 = -3;
    // id 4: 0 - 0.25 - 0.5 = -0.75.
    QTest::newRow("all three") << logits << recent << 2.0f << 0.5f << 0.25f
                               << Floats{0.25f, -3.0f, 0.5f, 3.0f, -0.75f};
    // Ids outside the vocabulary match nothing.
    QTest::newRow("foreign ids ignored") << logits << Ids{7, -1, 100} << 2.0f << 0.5f << 0.25f << logits;
    QTest::newRow("no recent tokens") << logits << Ids{} << 2.0f << 0.5f << 0.25f << logits;
    // -inf stays -inf (× and − keep it), +inf stays +inf (÷ and − keep it).
    QTest::newRow("infinities") << Floats{-kInf, kInf, 1.0f} << Ids{0, 1} << 2.0f << 0.5f << 0.25f
                                << Floats{-kInf, kInf, 1.0f};
}

void TestSampler::penalties() {
    QFETCH(Floats, logits);
    QFETCH(Ids, recent);
    QFETCH(float, repeat);
    QFETCH(float, presence);
    QFETCH(float, frequency);
    QFETCH(Floats, expected);

    CandidateList list = list_of(logits);
    std::vector<TokenCount> counts;
    count_tokens(recent, counts);
    apply_penalties(list, counts, repeat, presence, frequency);
    QCOMPARE(logits_of(list), expected);
    QCOMPARE(list.order, CandidateOrder::AscendingId);

    // The Sampler applies the same stage; greedy leaves the whole penalised row to inspect.
    SamplerParams params = plain_params(0.0f);
    params.repeat_penalty = repeat;
    params.presence_penalty = presence;
    params.frequency_penalty = frequency;
    params.penalty_last_n = -1;
    Sampler sampler(params);
    sampler.sample(logits, recent);
    QCOMPARE(logits_of(sampler.last_candidates()), expected);
}

void TestSampler::penaltyWindow() {
    // logits {2, -1, 0.5, 3, 0}, recent {0, 1, 1, 4}, repeat 2.
    const Floats logits = {2.0f, -1.0f, 0.5f, 3.0f, 0.0f};
    const Ids recent = {0, 1, 1, 4};
    const auto penalised = [&](int32_t last_n) {
        SamplerParams params = plain_params(0.0f);
        params.repeat_penalty = 2.0f;
        params.penalty_last_n = last_n;
        Sampler sampler(params);
        sampler.sample(logits, recent);
        return logits_of(sampler.last_candidates());
    };
    // Last 2 = {1, 4}: only -1 → -2 and 0 → 0; id 0 (at 2) is outside the window.
    QCOMPARE(penalised(2), (Floats{2.0f, -2.0f, 0.5f, 3.0f, 0.0f}));
    // Window longer than the history, and -1 (everything): ids 0, 1, 4.
    QCOMPARE(penalised(64), (Floats{1.0f, -2.0f, 0.5f, 3.0f, 0.0f}));
    QCOMPARE(penalised(-1), (Floats{1.0f, -2.0f, 0.5f, 3.0f, 0.0f}));
    // 0 turns penalties off.
    QCOMPARE(penalised(0), logits);

    // Penalties change the greedy choice: 3 (id 3) penalised to 1.5 loses to 2 (id 0).
    SamplerParams params = plain_params(0.0f);
    params.repeat_penalty = 2.0f;
    Sampler sampler(params);
    QCOMPARE(sampler.sample(logits, {}), 3);
    const Ids just_said = {3};
    QCOMPARE(sampler.sample(logits, just_said), 0);
}

void TestSampler::penaltiesIndependentOfOrder() {
    // The same penalties through the O(1) lookup (fresh list), binary search (filtered
    // AscendingId list) and per-candidate lookup (shuffled list) give the same logits per id.
    Xoshiro256StarStar rng(7);
    for (size_t n : {size_t(1), size_t(5), size_t(300), size_t(20000)}) {
        const Floats logits = random_logits(rng, n);
        Ids recent;
        for (int i = 0; i < 80; ++i) recent.push_back(static_cast<int32_t>(rng.next_u64() % (n + 3)) - 1);
        std::vector<TokenCount> counts;
        count_tokens(recent, counts);

        CandidateList fresh = list_of(logits);
        apply_penalties(fresh, counts, 1.3f, 0.2f, 0.1f);

        CandidateList filtered = list_of(logits);
        std::erase_if(filtered.items, [](const Candidate& c) { return c.id % 3 == 1; });
        apply_penalties(filtered, counts, 1.3f, 0.2f, 0.1f);
        QCOMPARE(filtered.order, CandidateOrder::AscendingId);

        CandidateList shuffled = list_of(logits);
        shuffle(shuffled.items, rng);
        shuffled.order = CandidateOrder::Unordered;
        apply_penalties(shuffled, counts, 1.3f, 0.2f, 0.1f);

        for (const Candidate& c : filtered.items) QCOMPARE(c.logit, fresh.items[c.id].logit);
        for (const Candidate& c : shuffled.items) QCOMPARE(c.logit, fresh.items[c.id].logit);
    }
}

void TestSampler::topK_data() {
    QTest::addColumn<Floats>("logits");
    QTest::addColumn<int32_t>("k");
    QTest::addColumn<Ids>("expected");

    // {1, 3, 2, 3, 0}: ranked 3 (id 1), 3 (id 3), 2 (id 2), 1 (id 0), 0 (id 4).
    const Floats logits = {1.0f, 3.0f, 2.0f, 3.0f, 0.0f};
    QTest::newRow("k=1 tie keeps the lower id") << logits << 1 << Ids{1};
    QTest::newRow("k=2") << logits << 2 << Ids{1, 3};
    QTest::newRow("k=3") << logits << 3 << Ids{1, 3, 2};
    QTest::newRow("k=4") << logits << 4 << Ids{1, 3, 2, 0};
    // k <= 0 or k >= size: untouched, still in id order.
    QTest::newRow("k=5 (= vocab)") << logits << 5 << Ids{0, 1, 2, 3, 4};
    QTest::newRow("k=1000 (> vocab)") << logits << 1000 << Ids{0, 1, 2, 3, 4};
    QTest::newRow("k=0 off") << logits << 0 << Ids{0, 1, 2, 3, 4};
    QTest::newRow("k=-1 off") << logits << -1 << Ids{0, 1, 2, 3, 4};
    // NaN ranks with -inf, below everything; equal -inf ranks by id.
    QTest::newRow("NaN last") << Floats{kNaN, -kInf, -50.0f} << 2 << Ids{2, 0};
}

void TestSampler::topK() {
    QFETCH(Floats, logits);
    QFETCH(int32_t, k);
    QFETCH(Ids, expected);

    CandidateList fast = list_of(logits);
    top_k(fast, k);
    QCOMPARE(ids_of(fast), expected);
    CandidateList reference = list_of(logits);
    top_k_reference(reference, k);
    QVERIFY(same_candidates(fast, reference));
}

void TestSampler::topP_data() {
    QTest::addColumn<Floats>("logits");
    QTest::addColumn<float>("p");
    QTest::addColumn<Ids>("expected");

    // Probabilities 0.1, 0.2, 0.4, 0.3 → ranked id 2 (0.4), id 3 (0.3), id 1 (0.2), id 0 (0.1);
    // cumulative 0.4, 0.7, 0.9, 1.0. The kept prefix is the shortest whose sum reaches p.
    const Floats logits = logits_for_weights({0.1, 0.2, 0.4, 0.3});
    QTest::newRow("p=0 keeps the top") << logits << 0.0f << Ids{2};
    QTest::newRow("p=0.35") << logits << 0.35f << Ids{2};
    QTest::newRow("p=0.5") << logits << 0.5f << Ids{2, 3};
    QTest::newRow("p=0.8") << logits << 0.8f << Ids{2, 3, 1};
    QTest::newRow("p=0.95") << logits << 0.95f << Ids{2, 3, 1, 0};
    QTest::newRow("p=1 off") << logits << 1.0f << Ids{0, 1, 2, 3};
    // Four equal logits: 0.25 each; p 0.6 needs three, taken by ascending id.
    QTest::newRow("ties by id") << Floats{0.0f, 0.0f, 0.0f, 0.0f} << 0.6f << Ids{0, 1, 2};
    // -inf has probability 0 and is never needed.
    QTest::newRow("-inf dropped") << Floats{-kInf, 0.0f, 0.0f} << 0.99f << Ids{1, 2};
}

void TestSampler::topP() {
    QFETCH(Floats, logits);
    QFETCH(float, p);
    QFETCH(Ids, expected);

    CandidateList fast = list_of(logits);
    top_p(fast, p);
    QCOMPARE(ids_of(fast), expected);
    CandidateList reference = list_of(logits);
    top_p_reference(reference, p);
    QVERIFY(same_candidates(fast, reference));
}

void TestSampler::minP_data() {
    QTest::addColumn<Floats>("logits");
    QTest::addColumn<float>("p");
    QTest::addColumn<Ids>("expected");

    // {0, -1, -2, -3, NaN}: p / p_max = 1, e^-1 = 0.368, e^-2 = 0.135, e^-3 = 0.0498, 0.
    const Floats logits = {0.0f, -1.0f, -2.0f, -3.0f, kNaN};
    QTest::newRow("0 off") << logits << 0.0f << Ids{0, 1, 2, 3, 4};
    QTest::newRow("0.04") << logits << 0.04f << Ids{0, 1, 2, 3};  // 0.0498 >= 0.04
    QTest::newRow("0.05") << logits << 0.05f << Ids{0, 1, 2};     // 0.0498 < 0.05
    QTest::newRow("0.2") << logits << 0.2f << Ids{0, 1};          // 0.135 < 0.2 <= 0.368
    QTest::newRow("0.5") << logits << 0.5f << Ids{0};
    QTest::newRow("1 keeps the best") << logits << 1.0f << Ids{0};
    // Order is kept: {-3, 0, -1} with 0.2 keeps ids 1, 2 in id order; equal maxima both stay.
    QTest::newRow("order kept") << Floats{-3.0f, 0.0f, -1.0f} << 0.2f << Ids{1, 2};
    QTest::newRow("tied best") << Floats{1.0f, 1.0f, 0.0f} << 1.0f << Ids{0, 1};
}

void TestSampler::minP() {
    QFETCH(Floats, logits);
    QFETCH(float, p);
    QFETCH(Ids, expected);

    CandidateList list = list_of(logits);
    min_p(list, p);
    QCOMPARE(ids_of(list), expected);
    QCOMPARE(list.order, CandidateOrder::AscendingId);
}

void TestSampler::temperatureStage_data() {
    QTest::addColumn<Floats>("logits");
    QTest::addColumn<float>("t");
    QTest::addColumn<Ids>("expected_ids");
    QTest::addColumn<Floats>("expected_logits");

    // {2, 1, 0} minus the maximum 2 = {0, -1, -2}, then divided by t.
    const Floats logits = {2.0f, 1.0f, 0.0f};
    QTest::newRow("t=0.5") << logits << 0.5f << Ids{0, 1, 2} << Floats{0.0f, -2.0f, -4.0f};
    QTest::newRow("t=2") << logits << 2.0f << Ids{0, 1, 2} << Floats{0.0f, -0.5f, -1.0f};
    QTest::newRow("t=1 untouched") << logits << 1.0f << Ids{0, 1, 2} << logits;
    // t <= 0: only the argmax survives, lowest id on ties.
    QTest::newRow("t=0") << logits << 0.0f << Ids{0} << Floats{2.0f};
    QTest::newRow("t=-1") << Floats{1.0f, 3.0f, 3.0f} << -1.0f << Ids{1} << Floats{3.0f};
    // -inf stays -inf; a +inf maximum leaves the row alone.
    QTest::newRow("-inf") << Floats{-kInf, 1.0f} << 0.5f << Ids{0, 1} << Floats{-kInf, 0.0f};
    QTest::newRow("+inf") << Floats{kInf, 1.0f} << 0.5f << Ids{0, 1} << Floats{kInf, 1.0f};
}

void TestSampler::temperatureStage() {
    QFETCH(Floats, logits);
    QFETCH(float, t);
    QFETCH(Ids, expected_ids);
    QFETCH(Floats, expected_logits);

    CandidateList list = list_of(logits);
    temperature(list, t);
    QCOMPARE(ids_of(list), expected_ids);
    QCOMPARE(logits_of(list), expected_logits);
}

void TestSampler::softmaxStage_data() {
    QTest::addColumn<Floats>("logits");
    QTest::addColumn<Floats>("expected");

    QTest::newRow("uniform") << Floats{0.0f, 0.0f, 0.0f, 0.0f} << Floats{0.25f, 0.25f, 0.25f, 0.25f};
    // e^0 : e^ln3 = 1 : 3.
    QTest::newRow("1:3") << Floats{0.0f, std::log(3.0f)} << Floats{0.25f, 0.75f};
    // exp(1000) overflows without the max shift; the answer is that of {0, 1}:
    // 1 / (1 + e) = 0.26894142, e / (1 + e) = 0.73105858.
    QTest::newRow("large logits") << Floats{1000.0f, 1001.0f} << Floats{0.26894142f, 0.73105858f};
    QTest::newRow("-inf is zero") << Floats{1.0f, -kInf, 1.0f} << Floats{0.5f, 0.0f, 0.5f};
    QTest::newRow("NaN is zero") << Floats{kNaN, 2.0f} << Floats{0.0f, 1.0f};
    // +inf candidates split the mass evenly; finite ones get nothing.
    QTest::newRow("+inf") << Floats{kInf, 0.0f, kInf, 1e30f} << Floats{0.5f, 0.0f, 0.5f, 0.0f};
    QTest::newRow("single") << Floats{-42.0f} << Floats{1.0f};
}

void TestSampler::softmaxStage() {
    QFETCH(Floats, logits);
    QFETCH(Floats, expected);

    CandidateList list = list_of(logits);
    softmax(list);
    QCOMPARE(list.items.size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
        QCOMPARE(list.items[i].id, static_cast<int32_t>(i));
        QVERIFY2(std::abs(list.items[i].prob - expected[i]) < 1e-6f, qPrintable(QString::number(i)));
    }
}

void TestSampler::fastPathsMatchReferences() {
    // top_k / top_p (nth_element, chunked sort) against the full-sort references: identical
    // ids, logits, probs and order, from every starting order, over a grid of sizes and cuts.
    Xoshiro256StarStar rng(2024);
    const size_t sizes[] = {1, 2, 3, 17, 255, 256, 257, 1000, 5000, 150000};
    for (size_t n : sizes) {
        const Floats logits = random_logits(rng, n);
        for (int start = 0; start < 3; ++start) {
            CandidateList base = list_of(logits);
            if (start == 1) {
                shuffle(base.items, rng);
                base.order = CandidateOrder::Unordered;
            } else if (start == 2) {
                std::sort(base.items.begin(), base.items.end(), [](const Candidate& x, const Candidate& y) {
                    return x.logit > y.logit || (x.logit == y.logit && x.id < y.id);
                });
                base.order = CandidateOrder::DescendingLogit;
            }
            for (int32_t k : {-1, 0, 1, 2, 10, 40, 1000, static_cast<int32_t>(n)}) {
                CandidateList fast = base;
                CandidateList reference = base;
                top_k(fast, k);
                top_k_reference(reference, k);
                QVERIFY2(same_candidates(fast, reference),
                         qPrintable(QStringLiteral("top_k n=%1 k=%2 start=%3").arg(n).arg(k).arg(start)));
            }
            for (float p : {0.0f, 0.1f, 0.5f, 0.9f, 0.95f, 0.999f, 1.0f}) {
                CandidateList fast = base;
                CandidateList reference = base;
                top_p(fast, p);
                top_p_reference(reference, p);
                QVERIFY2(same_candidates(fast, reference),
                         qPrintable(QStringLiteral("top_p n=%1 p=%2 start=%3").arg(n).arg(p).arg(start)));
            }
        }
    }
}

void TestSampler::drawGolden() {
    // Softmax of {1, 2, 0.5, -1, 1.5} = 0.16370, 0.44497, 0.09929, 0.02215, 0.26989; the draw
    // walks ids in order with u = next_unit(). Expected ids from an independent Python
    // transcription (same PRNG, probabilities in double; no u lies within 2.5e-4 of a boundary,
    // far beyond float rounding).
    const Floats logits = {1.0f, 2.0f, 0.5f, -1.0f, 1.5f};
    const auto sequence = [&](uint64_t seed) {
        Sampler sampler(plain_params(1.0f, seed));
        Ids ids;
        for (int i = 0; i < 16; ++i) ids.push_back(sampler.sample(logits, {}));
        return ids;
    };
    QCOMPARE(sequence(0), (Ids{1, 4, 0, 1, 4, 4, 1, 1, 4, 4, 0, 0, 0, 2, 1, 1}));
    QCOMPARE(sequence(1234), (Ids{0, 4, 2, 4, 0, 4, 1, 1, 1, 2, 1, 1, 0, 2, 1, 4}));
}

void TestSampler::determinism() {
    Xoshiro256StarStar rng(99);
    Floats logits(2000);
    for (float& l : logits) l = static_cast<float>(rng.next_unit() * 8.0 - 4.0);
    const Ids history = {5, 17, 5, 1999, 3};

    const auto run = [&](Sampler& sampler) {
        Ids ids;
        for (int i = 0; i < 500; ++i) ids.push_back(sampler.sample(logits, history));
        return ids;
    };
    SamplerParams params; // defaults: temperature 0.8, top-k 40, top-p 0.95, min-p 0.05
    params.repeat_penalty = 1.1f;
    params.seed = 12345;
    Sampler first(params);
    Sampler second(params);
    const Ids a = run(first);
    QCOMPARE(run(second), a);

    params.seed = 12346;
    Sampler other(params);
    const Ids c = run(other);
    QVERIFY(c != a);
    QVERIFY(std::set<int32_t>(a.begin(), a.end()).size() > 5); // it really is random

    // reseed restarts the sequence exactly.
    other.reseed(12345);
    QCOMPARE(run(other), a);
    QCOMPARE(other.params().seed, uint64_t(12345));
}

void TestSampler::statistics_data() {
    QTest::addColumn<uint64_t>("seed");
    QTest::newRow("seed 0") << uint64_t(0);
    QTest::newRow("seed 1") << uint64_t(1);
    QTest::newRow("seed 2^63+5") << (uint64_t(1) << 63) + 5;
}

void TestSampler::statistics() {
    // Temperature 1, no truncation: counts over N draws are Binomial(N, p_i) with p = softmax.
    // Allow 5 standard deviations, sqrt(N p (1 - p)): a false failure has odds ~ 1 in 10^6.
    QFETCH(uint64_t, seed);
    const Floats logits = {1.0f, 2.0f, 0.5f, -1.0f, 1.5f};
    const std::vector<double> p = softmax_double(logits);
    constexpr int kDraws = 200000;

    Sampler sampler(plain_params(1.0f, seed));
    std::vector<int> counts(logits.size(), 0);
    for (int i = 0; i < kDraws; ++i) ++counts[static_cast<size_t>(sampler.sample(logits, {}))];
    for (size_t i = 0; i < logits.size(); ++i) {
        const double expected = kDraws * p[i];
        const double sigma = std::sqrt(kDraws * p[i] * (1.0 - p[i]));
        QVERIFY2(std::abs(counts[i] - expected) <= 5.0 * sigma,
                 qPrintable(QStringLiteral("token %1: %2 draws, expected %3 ± %4")
                                .arg(i).arg(counts[i]).arg(expected).arg(5.0 * sigma)));
    }
}

void TestSampler::truncationNeverEmitsExcluded_data() {
    QTest::addColumn<int32_t>("top_k");
    QTest::addColumn<float>("top_p");
    QTest::addColumn<float>("min_p");
    QTest::addColumn<Ids>("allowed");

    // Weights 0.1, 0.2, 0.4, 0.3, 0.001 (total 1.001): ranked ids 2, 3, 1, 0, 4 with cumulative
    // probability 0.3996, 0.6993, 0.8991, 0.9988, 1; p / p_max = 0.25, 0.5, 1, 0.75, 0.0025.
    QTest::newRow("top-k 2") << 2 << 1.0f << 0.0f << Ids{2, 3};
    QTest::newRow("top-k 3") << 3 << 1.0f << 0.0f << Ids{1, 2, 3};
    QTest::newRow("top-p 0.5") << 0 << 0.5f << 0.0f << Ids{2, 3};
    QTest::newRow("top-p 0.8") << 0 << 0.8f << 0.0f << Ids{1, 2, 3};
    QTest::newRow("min-p 0.6") << 0 << 1.0f << 0.6f << Ids{2, 3};
    QTest::newRow("min-p 0.4") << 0 << 1.0f << 0.4f << Ids{1, 2, 3};
    QTest::newRow("min-p 0.2") << 0 << 1.0f << 0.2f << Ids{0, 1, 2, 3};
    QTest::newRow("top-k 3 + min-p 0.6") << 3 << 1.0f << 0.6f << Ids{2, 3};
    QTest::newRow("top-k 1") << 1 << 1.0f << 0.0f << Ids{2};
}

void TestSampler::truncationNeverEmitsExcluded() {
    QFETCH(int32_t, top_k);
    QFETCH(float, top_p);
    QFETCH(float, min_p);
    QFETCH(Ids, allowed);

    const Floats logits = logits_for_weights({0.1, 0.2, 0.4, 0.3, 0.001});
    SamplerParams params = plain_params(3.0f, 77); // hot: excluded tokens would show up quickly
    params.top_k = top_k;
    params.top_p = top_p;
    params.min_p = min_p;
    Sampler sampler(params);
    std::set<int32_t> seen;
    for (int i = 0; i < 20000; ++i) {
        const int32_t id = sampler.sample(logits, {});
        QVERIFY2(std::find(allowed.begin(), allowed.end(), id) != allowed.end(),
                 qPrintable(QStringLiteral("excluded token %1 drawn").arg(id)));
        seen.insert(id);
    }
    QCOMPARE(Ids(seen.begin(), seen.end()), allowed); // and every allowed one does occur
}

void TestSampler::temperatureToZeroApproachesGreedy() {
    // {1, 1.5, 0, 1.4}: argmax id 1. p(id 1) after the temperature stage grows as t shrinks:
    // at t = 0.01 the runner-up (id 3) has e^(-0.1/0.01) = e^-10 ≈ 4.5e-5 relative weight.
    const Floats logits = {1.0f, 1.5f, 0.0f, 1.4f};
    float previous = 0.0f;
    for (float t : {4.0f, 1.0f, 0.5f, 0.1f, 0.01f}) {
        CandidateList list = list_of(logits);
        temperature(list, t);
        softmax(list);
        const float top = list.items[1].prob;
        QVERIFY2(top > previous, qPrintable(QStringLiteral("t=%1").arg(t)));
        previous = top;
    }
    QVERIFY(previous > 0.9999f);

    // Sampling at a tiny temperature is greedy; even t = 1e-30 (every other logit overflows to
    // -inf) must not fail.
    for (float t : {0.001f, 1e-30f}) {
        Sampler sampler(plain_params(t, 5));
        for (int i = 0; i < 2000; ++i) QCOMPARE(sampler.sample(logits, {}), 1);
    }
}

void TestSampler::nanAndInfinity() {
    // NaN is -inf: never drawn, at any temperature.
    const Floats with_nan = {kNaN, 0.0f, kNaN, 0.5f, kNaN};
    Sampler hot(plain_params(5.0f, 3));
    std::set<int32_t> seen;
    for (int i = 0; i < 5000; ++i) seen.insert(hot.sample(with_nan, {}));
    QCOMPARE(seen, (std::set<int32_t>{1, 3}));

    // +inf candidates share everything.
    const Floats with_inf = {0.0f, kInf, 5.0f, kInf};
    seen.clear();
    for (int i = 0; i < 5000; ++i) seen.insert(hot.sample(with_inf, {}));
    QCOMPARE(seen, (std::set<int32_t>{1, 3}));

    // Nothing to sample: a clear latent::Error, greedy or not, whatever the truncation.
    const Floats all_nan = {kNaN, kNaN, kNaN};
    const Floats all_minus_inf = {-kInf, -kInf};
    for (const Floats& row : {all_nan, all_minus_inf}) {
        Sampler greedy(plain_params(0.0f));
        QVERIFY_THROWS_EXCEPTION(latent::Error, greedy.sample(row, {}));
        Sampler plain(plain_params(1.0f));
        QVERIFY_THROWS_EXCEPTION(latent::Error, plain.sample(row, {}));
        Sampler defaults{SamplerParams{}};
        QVERIFY_THROWS_EXCEPTION(latent::Error, defaults.sample(row, {}));
    }
    try {
        Sampler sampler{SamplerParams{}};
        sampler.sample(all_nan, {});
        QFAIL("no exception");
    } catch (const latent::Error& error) {
        QVERIFY2(QByteArray(error.what()).contains("every logit is NaN or -inf"), error.what());
    }
}

void TestSampler::edgeCases() {
    // A vocabulary of one: always id 0, whatever the params.
    const Floats one = {0.3f};
    for (SamplerParams params : {SamplerParams{}, plain_params(0.0f), plain_params(2.0f)}) {
        params.top_k = 10;
        params.min_p = 1.0f;
        params.top_p = 0.1f;
        Sampler sampler(params);
        for (int i = 0; i < 10; ++i) QCOMPARE(sampler.sample(one, Ids{0, 0}), 0);
    }

    // An empty row throws.
    Sampler sampler{SamplerParams{}};
    QVERIFY_THROWS_EXCEPTION(latent::Error, sampler.sample({}, {}));

    // top_k larger than the vocabulary, top_p = 1 and min_p = 0 change nothing: same sequence
    // as with every stage off, and every token remains a candidate.
    const Floats logits = {1.0f, 2.0f, 0.5f, -1.0f, 1.5f};
    SamplerParams wide = plain_params(1.0f, 9);
    wide.top_k = 1000;
    Sampler a(wide);
    Sampler b(plain_params(1.0f, 9));
    for (int i = 0; i < 200; ++i) QCOMPARE(a.sample(logits, {}), b.sample(logits, {}));
    QCOMPARE(a.last_candidates().items.size(), logits.size());
}

void TestSampler::invalidParams_data() {
    QTest::addColumn<int>("field");
    QTest::addColumn<float>("value");
    QTest::addColumn<QByteArray>("name");

    QTest::newRow("temperature NaN") << 0 << kNaN << QByteArray("temperature");
    QTest::newRow("temperature inf") << 0 << kInf << QByteArray("temperature");
    QTest::newRow("top_p > 1") << 1 << 1.5f << QByteArray("top_p");
    QTest::newRow("top_p < 0") << 1 << -0.1f << QByteArray("top_p");
    QTest::newRow("top_p NaN") << 1 << kNaN << QByteArray("top_p");
    QTest::newRow("min_p > 1") << 2 << 2.0f << QByteArray("min_p");
    QTest::newRow("repeat 0") << 3 << 0.0f << QByteArray("repeat_penalty");
    QTest::newRow("repeat NaN") << 3 << kNaN << QByteArray("repeat_penalty");
    QTest::newRow("presence inf") << 4 << kInf << QByteArray("presence_penalty");
    QTest::newRow("frequency NaN") << 5 << kNaN << QByteArray("frequency_penalty");
    QTest::newRow("last_n -2") << 6 << -2.0f << QByteArray("penalty_last_n");
}

void TestSampler::invalidParams() {
    QFETCH(int, field);
    QFETCH(float, value);
    QFETCH(QByteArray, name);

    SamplerParams params;
    switch (field) {
    case 0: params.temperature = value; break;
    case 1: params.top_p = value; break;
    case 2: params.min_p = value; break;
    case 3: params.repeat_penalty = value; break;
    case 4: params.presence_penalty = value; break;
    case 5: params.frequency_penalty = value; break;
    default: params.penalty_last_n = static_cast<int32_t>(value); break;
    }
    try {
        Sampler sampler(params);
        QFAIL("no exception");
    } catch (const latent::Error& error) {
        QVERIFY2(QByteArray(error.what()).contains(name), error.what());
    }
}

void TestSampler::noAllocationAfterFirstCall() {
    // A DeepSeek-sized row (129280 ids). After one warm-up call per sampler, sample() must not
    // touch the heap, whichever stages run (the chunked top-p sort included).
    constexpr size_t kVocab = 129280;
    Xoshiro256StarStar rng(11);
    std::vector<Floats> rows(3, Floats(kVocab));
    for (Floats& row : rows)
        for (float& l : row) l = static_cast<float>(rng.next_unit() * 20.0 - 10.0);
    Ids history(200);
    for (int32_t& id : history) id = static_cast<int32_t>(rng.next_u64() % kVocab);

    SamplerParams penalised;
    penalised.repeat_penalty = 1.1f;
    penalised.presence_penalty = 0.1f;
    penalised.frequency_penalty = 0.05f;
    penalised.penalty_last_n = -1;
    SamplerParams nucleus = plain_params(0.7f);
    nucleus.top_p = 0.9f;
    for (const SamplerParams& params : {SamplerParams{}, penalised, nucleus, plain_params(0.0f), plain_params(1.0f)}) {
        const size_t at_start = g_allocations.load();
        Sampler sampler(params);
        sampler.sample(rows[0], history);
        const size_t before = g_allocations.load();
        QVERIFY(before > at_start); // the counter works: the first call does allocate
        int32_t sum = 0;
        for (int round = 0; round < 3; ++round)
            for (const Floats& row : rows)
                sum += sampler.sample(row, std::span<const int32_t>(history).first(static_cast<size_t>(50 * round + 50)));
        const size_t after = g_allocations.load();
        QVERIFY(sum >= 0);
        QCOMPARE(after - before, size_t(0));
    }
}

QTEST_APPLESS_MAIN(TestSampler)
#include "test_sampler.moc"
