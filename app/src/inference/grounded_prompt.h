// A question answered from documents, fitted into the model's context: the conversation's
// history shrinks first (oldest exchanges out, as fitToContext does) until the passages have at
// least a third of what the answer leaves; then as many retrieved passages as fit are quoted
// into the last user turn (documents::ground_question: quoted as data, numbered sources). The
// history keeps the plain question; the passages are for this turn's prompt only.
#pragma once

#include "inference/context_window.h"

#include "documents/retriever.h"

#include <functional>
#include <vector>

struct GroundedFit {
    ContextFit fit;                                   // the prompt, its last turn grounded
    std::vector<latent::documents::Passage> sources;  // what it quotes, source n = sources[n - 1]
};

// turns: the conversation, the user's question last. passages: best first. countTokens counts a
// whole prompt (chat format included), as ChatEngine::countPromptTokens does.
GroundedFit fitGroundedToContext(const std::vector<ChatTurn>& turns, const std::vector<latent::documents::Passage>& passages,
                                 int contextSize, int reserveTokens,
                                 const std::function<int(const std::vector<ChatTurn>&)>& countTokens);
