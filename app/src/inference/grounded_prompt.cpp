#include "inference/grounded_prompt.h"

#include "documents/grounding.h"

#include <string>
#include <string_view>

GroundedFit fitGroundedToContext(const std::vector<ChatTurn>& turns, const std::vector<latent::documents::Passage>& passages,
                                 int contextSize, int reserveTokens,
                                 const std::function<int(const std::vector<ChatTurn>&)>& countTokens) {
    GroundedFit out;
    if (turns.empty() || turns.back().role != ChatTurn::Role::User) {
        out.fit = fitToContext(turns, contextSize, reserveTokens, countTokens);
        return out;
    }
    const std::string question = turns.back().content.toStdString();

    // The history shrinks first: the passages are what the question is asked about.
    ContextFit history = fitToContext(turns, contextSize, reserveTokens + contextSize / 3, countTokens);
    if (!history.fits) history = fitToContext(turns, contextSize, reserveTokens, countTokens);
    if (!history.fits) {
        out.fit = history; // the question alone is too long; the caller says so
        return out;
    }

    // A text's tokens inside a user turn: that turn's count less an empty one's.
    const int emptyTurn = countTokens({{ChatTurn::Role::User, QString()}});
    const auto countText = [&](std::string_view text) -> size_t {
        const int tokens = countTokens({{ChatTurn::Role::User, QString::fromUtf8(text.data(), static_cast<qsizetype>(text.size()))}}) - emptyTurn;
        return tokens > 0 ? static_cast<size_t>(tokens) : 0;
    };
    std::vector<ChatTurn> shell = history.turns;
    shell.back().content.clear();
    long long budget = static_cast<long long>(contextSize) - reserveTokens - countTokens(shell);
    budget -= 8 + budget / 50; // texts counted apart can tokenize differently where they meet

    // The prompt is counted whole at the end; should it still not fit, fewer passages are quoted.
    constexpr int kAttempts = 3;
    for (int attempt = 1;; ++attempt) {
        const latent::documents::GroundedQuestion grounded =
            latent::documents::ground_question(question, passages, countText, budget > 0 ? static_cast<size_t>(budget) : 0);
        std::vector<ChatTurn> prompt = history.turns;
        prompt.back().content = QString::fromStdString(grounded.content);
        ContextFit fit = fitToContext(prompt, contextSize, reserveTokens, countTokens);
        if (fit.fits || attempt == kAttempts) {
            fit.droppedTurns = static_cast<int>(turns.size() - fit.turns.size());
            out.fit = std::move(fit);
            out.sources = grounded.sources;
            return out;
        }
        budget /= 2;
    }
}
