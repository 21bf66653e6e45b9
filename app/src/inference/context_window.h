// Fitting a long conversation into the model's context: the system prompt and the latest turns
// are kept, the oldest turns are left out of the prompt (never deleted from the history).
#pragma once

#include "inference/chat_engine.h"

#include <functional>
#include <vector>

struct ContextFit {
    std::vector<ChatTurn> turns; // what goes into the prompt
    int droppedTurns = 0;        // oldest non-system turns left out
    int promptTokens = 0;        // tokens of `turns`
    bool fits = false;           // false: even the system prompt + last turn are too long
};

// Tokens kept free for the answer: the requested maximum, but at most half the context.
inline int reservedAnswerTokens(int maxNewTokens, int contextSize) { return maxNewTokens < contextSize / 2 ? maxNewTokens : contextSize / 2; }

// Drops whole exchanges (a user turn with the assistant turns after it), oldest first, until
// countTokens(turns) + reserveTokens <= contextSize. The system turn (if first) and the last
// turn are never dropped.
ContextFit fitToContext(const std::vector<ChatTurn>& turns, int contextSize, int reserveTokens,
                        const std::function<int(const std::vector<ChatTurn>&)>& countTokens);
