// Token sampling: turns one row of logits (n_vocab floats) into the next token id.
//
// The sampler is a chain of small stages over a candidate list. Each stage is a free function
// so callers can compose their own chain; Sampler runs the standard one:
//
//   candidates ← logits (NaN becomes -inf)
//   1. penalties    repetition (CTRL), frequency and presence, over the last penalty_last_n tokens
//   2. greedy?      temperature <= 0: the highest logit wins (lowest id on ties); stop here
//   3. top-k        keep the k highest logits
//   4. top-p        keep the smallest most-likely prefix whose probability reaches top_p
//   5. min-p        keep tokens with p >= min_p * p_max
//   6. temperature  divide the surviving logits by the temperature
//   7. softmax, then draw one token with the sampler's own PRNG
//
// This is llama.cpp's default order (common_sampler: penalties → top-k → top-p → min-p → temp →
// dist). Truncation happens BEFORE temperature, so top-p and min-p judge the model's own
// distribution and temperature only reshapes what survived; a hot temperature can therefore
// never resurrect a token that truncation removed.
//
// Every stage has a neutral value that turns it off (see SamplerParams). With the neutral
// values and temperature 1, tokens are drawn exactly from softmax(logits).
//
// Ties: whenever logits are equal, the lower token id ranks first (greedy picks it, top-k keeps
// it, top-p's prefix holds it first), so results never depend on the standard library's sort.
//
// Determinism: for a given seed, params and logits the sequence of ids is the same on every
// run. The PRNG (xoshiro256** seeded through splitmix64) and the conversion to a uniform number
// are written out here, not taken from <random>, so they are bit-identical across standard
// libraries; only std::exp may differ by an ulp between C libraries.
//
// Failure: an empty logit row, a row larger than int32 ids can address, or a row in which every
// logit is NaN or -inf (after penalties) throws latent::Error — a forward pass that produced
// that is broken, and emitting token 0 would hide it. Invalid params throw latent::Error naming
// the field when the Sampler is built.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace latent::sampling {

// What the user (or a preset) chooses. Each stage's neutral value turns it off.
struct SamplerParams {
    float temperature = 0.8f;       // logits are divided by it; <= 0: greedy (argmax, lowest id on ties)
    int32_t top_k = 40;             // keep the k highest logits; <= 0 or >= n_vocab: off
    float top_p = 0.95f;            // nucleus mass, in [0, 1]; 1: off; 0: keeps only the top token
    float min_p = 0.05f;            // keep p >= min_p * p_max, in [0, 1]; 0: off
    float repeat_penalty = 1.0f;    // CTRL penalty (> 0) on recent tokens: logit > 0 ? logit / r : logit * r; 1: off
    float presence_penalty = 0.0f;  // subtracted once from each distinct recent token's logit; 0: off
    float frequency_penalty = 0.0f; // subtracted count times (count = occurrences in the window); 0: off
    int32_t penalty_last_n = 64;    // penalty window: the last n recent tokens; 0: no penalties; -1: all given
    uint64_t seed = 0;              // PRNG seed; every value, 0 included, is an ordinary seed
};

// One vocabulary entry under consideration.
struct Candidate {
    int32_t id = 0;      // token id, index into the logit row
    float logit = 0.0f;  // current (possibly penalised / truncated / tempered) logit; never NaN
    float prob = 0.0f;   // probability, valid only right after softmax() (top_p() also leaves it)
};

// What a stage may assume about the order of CandidateList::items.
enum class CandidateOrder {
    AscendingId,     // ids strictly ascending (assign() gives 0..n-1; filters keep it)
    DescendingLogit, // highest logit first, equal logits by ascending id
    Unordered,       // neither (e.g. penalties applied to a DescendingLogit list)
};

// The working set of the stages. Buffers are reused: once items has reached n_vocab entries,
// later calls never allocate.
struct CandidateList {
    std::vector<Candidate> items;                   // surviving tokens, in `order`
    CandidateOrder order = CandidateOrder::AscendingId;

    // Refills with the whole row: items[i] = {i, logits[i] (NaN → -inf), 0}, AscendingId.
    // Throws latent::Error when the row is empty or has more than INT32_MAX entries.
    void assign(std::span<const float> logits);
};

// A distinct recent token and how often it occurs in the penalty window.
struct TokenCount {
    int32_t id = 0;
    int32_t count = 0;
};

// The distinct tokens of `tokens` with their counts, by ascending id, into `counts` (its
// capacity is reused). Negative ids are kept; they simply match no candidate.
void count_tokens(std::span<const int32_t> tokens, std::vector<TokenCount>& counts);

// ---- Stages (compose freely; Sampler chains them in the order documented above) ------------

// For each candidate whose id is in `counts` (ascending id, as count_tokens writes them):
//   logit = logit > 0 ? logit / repeat_penalty : logit * repeat_penalty   (once per distinct id)
//   logit -= count * frequency_penalty + presence_penalty
// (llama.cpp's penalties sampler). Ids not in the list are ignored. AscendingId stays
// AscendingId; DescendingLogit becomes Unordered.
void apply_penalties(CandidateList& list, std::span<const TokenCount> counts, float repeat_penalty,
                     float presence_penalty, float frequency_penalty);

// Keeps the k highest logits (ties: lower id), sorted DescendingLogit. k <= 0 or k >= size:
// no-op. O(n + k log k): nth_element, then a sort of the kept k.
void top_k(CandidateList& list, int32_t k);

// Softmax over the list, then keeps the shortest DescendingLogit prefix whose cumulative
// probability is >= p (at least one token). p >= 1 or a single candidate: no-op. Sorts only as
// much of the list as the prefix needs (growing chunks), never the whole vocabulary unless the
// mass is spread over all of it. Leaves prob as computed BEFORE the cut (not renormalised).
void top_p(CandidateList& list, float p);

// Keeps candidates with prob >= p * prob_max, tested in logit space as
// logit >= logit_max + ln(p) (no exp needed); the best candidates always survive. p <= 0 or a
// single candidate: no-op. Keeps the list's order.
void min_p(CandidateList& list, float p);

// t > 0: logit = (logit - logit_max) / t. The shift leaves softmax unchanged and keeps a tiny t
// from overflowing every logit to -inf; an infinite logit_max leaves the list unchanged.
// t <= 0: the limit t → 0+, i.e. only the argmax survives (lowest id on ties).
void temperature(CandidateList& list, float t);

// prob = exp(logit - logit_max) / sum, summed in double. Candidates at +inf share the mass
// equally. Does not reorder. Throws latent::Error when the list is empty or every logit is -inf.
void softmax(CandidateList& list);

// ---- Reference stages: slow and obvious (full sort), same contract as the fast ones above ---

void top_k_reference(CandidateList& list, int32_t k);
void top_p_reference(CandidateList& list, float p);

// ---- Picking one token -----------------------------------------------------------------------

// xoshiro256** (Blackman & Vigna) with its state filled by splitmix64 from a 64-bit seed.
class Xoshiro256StarStar {
public:
    explicit Xoshiro256StarStar(uint64_t seed = 0) { reseed(seed); }
    void reseed(uint64_t seed);
    uint64_t next_u64();
    // Uniform in [0, 1): the top 53 bits of next_u64() times 2^-53.
    double next_unit();

private:
    uint64_t state_[4] = {};
};

// The id with the highest logit, lowest id on ties. Throws latent::Error when the list is empty
// or every logit is -inf.
int32_t argmax(const CandidateList& list);

// Draws one id with probability prob / sum(prob), walking the list in its order with one
// uniform number from `rng`. Requires softmax() (or other valid probs). A candidate with prob 0
// is never drawn. Throws latent::Error when the list is empty or carries no probability.
int32_t draw(const CandidateList& list, Xoshiro256StarStar& rng);

// ---- The standard chain -----------------------------------------------------------------------

class Sampler {
public:
    // Validates params (throws latent::Error naming the field): temperature and the penalties
    // finite, top_p and min_p in [0, 1], repeat_penalty > 0, penalty_last_n >= -1.
    explicit Sampler(const SamplerParams& params);

    // The next token for this logit row (n_vocab floats). recent_tokens is the context so far,
    // oldest first; only its last penalty_last_n entries are penalised. Greedy sampling draws no
    // random number. After the first call with the largest vocabulary, no call allocates.
    int32_t sample(std::span<const float> logits, std::span<const int32_t> recent_tokens);

    // Restarts the random sequence as if the Sampler had been built with this seed.
    void reseed(uint64_t seed);

    const SamplerParams& params() const { return params_; }

    // The candidates the last sample() drew from (after every stage), for inspection and tests.
    const CandidateList& last_candidates() const { return candidates_; }

private:
    SamplerParams params_;
    Xoshiro256StarStar rng_;
    CandidateList candidates_;
    std::vector<TokenCount> recent_counts_;
};

} // namespace latent::sampling
