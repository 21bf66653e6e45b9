#include "sampling/sampler.h"

#include "core/error.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <string>

namespace latent::sampling {

namespace {

constexpr float kMinusInfinity = -std::numeric_limits<float>::infinity();
constexpr float kPlusInfinity = std::numeric_limits<float>::infinity();

// top_p sorts the candidate list in chunks that double in size; the first one is big enough
// for the usual nucleus of a chat model, small enough to be cheap against a 160k vocabulary.
constexpr size_t kTopPFirstChunk = 256;

// The total order every stage ranks by: higher logit first, equal logits by lower id. Ids are
// unique and logits are never NaN, so this is a strict total order and every sort, partial or
// full, of the same list gives the same sequence.
bool ranks_before(const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

float max_logit(const std::vector<Candidate>& items) {
    float best = kMinusInfinity;
    for (const Candidate& c : items) best = std::max(best, c.logit);
    return best;
}

// Index of the best-ranked candidate; the list must not be empty.
size_t best_index(const std::vector<Candidate>& items) {
    size_t best = 0;
    for (size_t i = 1; i < items.size(); ++i)
        if (ranks_before(items[i], items[best])) best = i;
    return best;
}

// Makes items[begin, end) the best-ranked candidates of items[begin, size) in rank order,
// assuming items[0, begin) already rank before everything after them.
void sort_range(std::vector<Candidate>& items, size_t begin, size_t end) {
    const auto first = items.begin() + static_cast<std::ptrdiff_t>(begin);
    const auto middle = items.begin() + static_cast<std::ptrdiff_t>(end);
    if (end < items.size()) std::nth_element(first, middle, items.end(), ranks_before);
    std::sort(first, middle, ranks_before);
}

void penalise(Candidate& candidate, int32_t count, float repeat_penalty, float presence_penalty,
              float frequency_penalty) {
    if (repeat_penalty != 1.0f) {
        if (candidate.logit > 0.0f)
            candidate.logit /= repeat_penalty;
        else
            candidate.logit *= repeat_penalty;
    }
    candidate.logit -= static_cast<float>(count) * frequency_penalty + presence_penalty;
}

// Callers test first and build the message only on failure, so the hot path never allocates.
[[noreturn]] void fail(const std::string& message) {
    throw Error("sampler: " + message);
}

} // namespace

void CandidateList::assign(std::span<const float> logits) {
    if (logits.empty()) fail("empty logit row");
    if (logits.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
        fail("logit row of " + std::to_string(logits.size()) + " entries exceeds int32 token ids");
    items.resize(logits.size());
    for (size_t i = 0; i < logits.size(); ++i) {
        const float logit = logits[i];
        items[i] = Candidate{static_cast<int32_t>(i), std::isnan(logit) ? kMinusInfinity : logit, 0.0f};
    }
    order = CandidateOrder::AscendingId;
}

void count_tokens(std::span<const int32_t> tokens, std::vector<TokenCount>& counts) {
    counts.resize(tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) counts[i] = TokenCount{tokens[i], 1};
    std::sort(counts.begin(), counts.end(),
              [](const TokenCount& a, const TokenCount& b) { return a.id < b.id; });
    // Run-length merge in place: equal ids are adjacent now.
    size_t distinct = 0;
    for (size_t i = 0; i < counts.size(); ++i) {
        if (distinct > 0 && counts[distinct - 1].id == counts[i].id)
            ++counts[distinct - 1].count;
        else
            counts[distinct++] = counts[i];
    }
    counts.resize(distinct);
}

void apply_penalties(CandidateList& list, std::span<const TokenCount> counts, float repeat_penalty,
                     float presence_penalty, float frequency_penalty) {
    if (counts.empty()) return;
    if (repeat_penalty == 1.0f && presence_penalty == 0.0f && frequency_penalty == 0.0f) return;
    std::vector<Candidate>& items = list.items;

    if (list.order == CandidateOrder::AscendingId) {
        // Few recent tokens, many candidates: look each token up. A freshly assigned list has
        // items[id].id == id, which makes the lookup O(1); otherwise binary search by id.
        for (const TokenCount& token : counts) {
            auto it = items.end();
            if (token.id >= 0 && static_cast<size_t>(token.id) < items.size() && items[token.id].id == token.id) {
                it = items.begin() + token.id;
            } else {
                it = std::lower_bound(items.begin(), items.end(), token.id,
                                      [](const Candidate& c, int32_t id) { return c.id < id; });
            }
            if (it != items.end() && it->id == token.id)
                penalise(*it, token.count, repeat_penalty, presence_penalty, frequency_penalty);
        }
        return;
    }

    // Any other order: look each candidate up among the (sorted) recent tokens.
    for (Candidate& candidate : items) {
        const auto it = std::lower_bound(counts.begin(), counts.end(), candidate.id,
                                         [](const TokenCount& t, int32_t id) { return t.id < id; });
        if (it != counts.end() && it->id == candidate.id)
            penalise(candidate, it->count, repeat_penalty, presence_penalty, frequency_penalty);
    }
    list.order = CandidateOrder::Unordered;
}

void top_k(CandidateList& list, int32_t k) {
    std::vector<Candidate>& items = list.items;
    if (k <= 0 || static_cast<size_t>(k) >= items.size()) return;
    const auto kept = static_cast<size_t>(k);
    if (list.order != CandidateOrder::DescendingLogit) sort_range(items, 0, kept);
    items.resize(kept);
    list.order = CandidateOrder::DescendingLogit;
}

void top_p(CandidateList& list, float p) {
    std::vector<Candidate>& items = list.items;
    if (p >= 1.0f || items.size() <= 1) return;
    softmax(list);

    // Walk the ranked prefix, sorting only as far as the walk reaches: the next chunk (twice the
    // sorted part, at least kTopPFirstChunk) is selected with nth_element and then sorted.
    const size_t n = items.size();
    size_t sorted_end = list.order == CandidateOrder::DescendingLogit ? n : 0;
    double cumulative = 0.0;
    for (size_t i = 0; i < n; ++i) {
        if (i == sorted_end) {
            const size_t end = std::min(n, sorted_end + std::max(kTopPFirstChunk, sorted_end));
            sort_range(items, sorted_end, end);
            sorted_end = end;
        }
        cumulative += static_cast<double>(items[i].prob);
        if (cumulative >= static_cast<double>(p)) {
            items.resize(i + 1);
            break;
        }
    }
    list.order = CandidateOrder::DescendingLogit;
}

void min_p(CandidateList& list, float p) {
    std::vector<Candidate>& items = list.items;
    if (p <= 0.0f || items.size() <= 1) return;
    const float best = max_logit(items);
    if (best == kMinusInfinity) return; // nothing to rank; softmax() reports it
    // p_i >= p * p_max  <=>  logit_i - logit_max >= ln(p). remove_if keeps the survivors' order.
    const float threshold = best + std::log(p);
    const auto removed = std::remove_if(items.begin(), items.end(), [&](const Candidate& c) {
        return !(c.logit >= threshold || c.logit == best);
    });
    items.erase(removed, items.end());
}

void temperature(CandidateList& list, float t) {
    std::vector<Candidate>& items = list.items;
    if (items.empty()) return;
    if (t <= 0.0f) {
        items[0] = items[best_index(items)];
        items.resize(1);
        return;
    }
    if (t == 1.0f) return;
    // Shift by the maximum before dividing: softmax is unchanged, and a tiny t cannot turn every
    // logit into -inf (the best stays at 0). With a +inf maximum softmax already gives it all
    // the mass, and with a -inf one there is nothing to sample: leave both alone.
    const float best = max_logit(items);
    if (!std::isfinite(best)) return;
    for (Candidate& c : items) c.logit = (c.logit - best) / t;
}

void softmax(CandidateList& list) {
    std::vector<Candidate>& items = list.items;
    if (items.empty()) fail("no candidates left to sample from");
    const float best = max_logit(items);
    if (best == kMinusInfinity)
        fail("every logit is NaN or -inf (" + std::to_string(items.size()) + " candidates)");

    if (best == kPlusInfinity) {
        // exp(inf - inf) is NaN: the limit is an even split among the +inf candidates.
        size_t infinite = 0;
        for (const Candidate& c : items) infinite += c.logit == kPlusInfinity ? 1 : 0;
        const float share = 1.0f / static_cast<float>(infinite);
        for (Candidate& c : items) c.prob = c.logit == kPlusInfinity ? share : 0.0f;
        return;
    }
    double sum = 0.0;
    for (Candidate& c : items) {
        c.prob = std::exp(c.logit - best);
        sum += static_cast<double>(c.prob);
    }
    for (Candidate& c : items) c.prob = static_cast<float>(static_cast<double>(c.prob) / sum);
}

void top_k_reference(CandidateList& list, int32_t k) {
    std::vector<Candidate>& items = list.items;
    if (k <= 0 || static_cast<size_t>(k) >= items.size()) return;
    std::sort(items.begin(), items.end(), ranks_before);
    items.resize(static_cast<size_t>(k));
    list.order = CandidateOrder::DescendingLogit;
}

void top_p_reference(CandidateList& list, float p) {
    std::vector<Candidate>& items = list.items;
    if (p >= 1.0f || items.size() <= 1) return;
    softmax(list);
    std::sort(items.begin(), items.end(), ranks_before);
    list.order = CandidateOrder::DescendingLogit;
    double cumulative = 0.0;
    for (size_t i = 0; i < items.size(); ++i) {
        cumulative += static_cast<double>(items[i].prob);
        if (cumulative >= static_cast<double>(p)) {
            items.resize(i + 1);
            return;
        }
    }
}

void Xoshiro256StarStar::reseed(uint64_t seed) {
    // splitmix64 spreads any seed (0 included) over the 256-bit state, which must not be all zero.
    uint64_t x = seed;
    for (uint64_t& word : state_) {
        x += 0x9e3779b97f4a7c15ull;
        uint64_t z = x;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        word = z ^ (z >> 31);
    }
}

uint64_t Xoshiro256StarStar::next_u64() {
    const uint64_t result = std::rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = std::rotl(state_[3], 45);
    return result;
}

double Xoshiro256StarStar::next_unit() {
    return static_cast<double>(next_u64() >> 11) * 0x1.0p-53;
}

int32_t argmax(const CandidateList& list) {
    if (list.items.empty()) fail("no candidates left to sample from");
    const Candidate& best = list.items[best_index(list.items)];
    if (best.logit == kMinusInfinity)
        fail("every logit is NaN or -inf (" + std::to_string(list.items.size()) + " candidates)");
    return best.id;
}

int32_t draw(const CandidateList& list, Xoshiro256StarStar& rng) {
    if (list.items.empty()) fail("no candidates left to sample from");
    double total = 0.0;
    for (const Candidate& c : list.items) total += static_cast<double>(c.prob);
    if (!(total > 0.0)) fail("the candidates carry no probability (softmax not applied?)");

    const double target = rng.next_unit() * total;
    double cumulative = 0.0;
    int32_t last_positive = -1;
    for (const Candidate& c : list.items) {
        if (!(c.prob > 0.0f)) continue;
        cumulative += static_cast<double>(c.prob);
        last_positive = c.id;
        if (target < cumulative) return c.id;
    }
    return last_positive; // target rounded up onto the total
}

Sampler::Sampler(const SamplerParams& params) : params_(params), rng_(params.seed) {
    if (!std::isfinite(params.temperature))
        fail("temperature must be finite, got " + std::to_string(params.temperature));
    if (!(params.top_p >= 0.0f && params.top_p <= 1.0f))
        fail("top_p must be in [0, 1], got " + std::to_string(params.top_p));
    if (!(params.min_p >= 0.0f && params.min_p <= 1.0f))
        fail("min_p must be in [0, 1], got " + std::to_string(params.min_p));
    if (!(params.repeat_penalty > 0.0f && std::isfinite(params.repeat_penalty)))
        fail("repeat_penalty must be finite and > 0, got " + std::to_string(params.repeat_penalty));
    if (!std::isfinite(params.presence_penalty))
        fail("presence_penalty must be finite, got " + std::to_string(params.presence_penalty));
    if (!std::isfinite(params.frequency_penalty))
        fail("frequency_penalty must be finite, got " + std::to_string(params.frequency_penalty));
    if (params.penalty_last_n < -1)
        fail("penalty_last_n must be >= -1, got " + std::to_string(params.penalty_last_n));
}

void Sampler::reseed(uint64_t seed) {
    params_.seed = seed;
    rng_.reseed(seed);
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> recent_tokens) {
    candidates_.assign(logits);

    const bool penalties_on = params_.penalty_last_n != 0 &&
                              (params_.repeat_penalty != 1.0f || params_.presence_penalty != 0.0f ||
                               params_.frequency_penalty != 0.0f);
    if (penalties_on && !recent_tokens.empty()) {
        const size_t window = params_.penalty_last_n < 0
                                  ? recent_tokens.size()
                                  : std::min(recent_tokens.size(), static_cast<size_t>(params_.penalty_last_n));
        count_tokens(recent_tokens.last(window), recent_counts_);
        apply_penalties(candidates_, recent_counts_, params_.repeat_penalty, params_.presence_penalty,
                        params_.frequency_penalty);
    }

    if (params_.temperature <= 0.0f) return argmax(candidates_);

    top_k(candidates_, params_.top_k);
    top_p(candidates_, params_.top_p);
    min_p(candidates_, params_.min_p);
    temperature(candidates_, params_.temperature);
    softmax(candidates_);
    return draw(candidates_, rng_);
}

} // namespace latent::sampling
