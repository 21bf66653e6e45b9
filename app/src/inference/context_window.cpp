#include "inference/context_window.h"

#include <cstddef>

namespace {

// The prompt when the `dropGroups` oldest exchanges are left out.
std::vector<ChatTurn> keptTurns(const std::vector<ChatTurn>& turns, size_t head, const std::vector<size_t>& groupStarts,
                                size_t dropGroups) {
    std::vector<ChatTurn> kept(turns.begin(), turns.begin() + static_cast<std::ptrdiff_t>(head));
    const size_t from = dropGroups < groupStarts.size() ? groupStarts[dropGroups] : turns.size() - 1;
    kept.insert(kept.end(), turns.begin() + static_cast<std::ptrdiff_t>(from), turns.end());
    return kept;
}

} // namespace

ContextFit fitToContext(const std::vector<ChatTurn>& turns, int contextSize, int reserveTokens,
                        const std::function<int(const std::vector<ChatTurn>&)>& countTokens) {
    ContextFit fit;
    const auto fitsIn = [&](int tokens) { return static_cast<long long>(tokens) + reserveTokens <= contextSize; };
    if (turns.empty()) {
        fit.promptTokens = countTokens(turns);
        fit.fits = fitsIn(fit.promptTokens);
        return fit;
    }

    // The droppable middle, [head, last), split into exchanges: each starts at a user turn and
    // holds the turns up to the next user turn. Turns before the first user turn (a history
    // that opens with the assistant) form an exchange of their own.
    const size_t head = (turns.size() > 1 && turns.front().role == ChatTurn::Role::System) ? 1 : 0;
    const size_t last = turns.size() - 1;
    std::vector<size_t> groupStarts;
    for (size_t i = head; i < last; ++i) {
        if (i == head || turns[i].role == ChatTurn::Role::User) groupStarts.push_back(i);
    }

    // Fewest exchanges to leave out: none in the common case (one count), else a binary search
    // over how many (the count only shrinks as exchanges go), so a long history costs
    // O(log exchanges) tokenizations instead of one per exchange.
    const auto tokensWithout = [&](size_t dropGroups) { return countTokens(keptTurns(turns, head, groupStarts, dropGroups)); };
    size_t drop = 0;
    int tokens = tokensWithout(0);
    if (!fitsIn(tokens)) {
        const size_t all = groupStarts.size();
        int tokensAll = all == 0 ? tokens : tokensWithout(all);
        if (!fitsIn(tokensAll)) {
            drop = all;
            tokens = tokensAll;
        } else {
            size_t low = 0, high = all; // fits(high), !fits(low)
            while (high - low > 1) {
                const size_t middle = low + (high - low) / 2;
                const int middleTokens = tokensWithout(middle);
                if (fitsIn(middleTokens)) {
                    high = middle;
                    tokensAll = middleTokens;
                } else {
                    low = middle;
                }
            }
            drop = high;
            tokens = tokensAll;
        }
    }

    fit.turns = keptTurns(turns, head, groupStarts, drop);
    fit.droppedTurns = static_cast<int>(turns.size() - fit.turns.size());
    fit.promptTokens = tokens;
    fit.fits = fitsIn(tokens);
    return fit;
}
