// A scripted ChatEngine for tests (controller, worker, QML): no model file is read.
//   load: fails with "cannot open model: <path>" when the path contains "fail"; reports
//         progress 0, 0.5, 1 (honouring cancel); facts are made up but plausible.
//   countPromptTokens: 4 per turn + 1 per whitespace-separated word.
//   generate: replies "Echo: <last user text>" (or `reply` when set) one word per piece,
//             sleeping pieceDelayMs between pieces, checking *stop between pieces;
//             `failWith` non-empty → End::Error with that message after the first piece.
#pragma once

#include "inference/chat_engine.h"

#include <atomic>

class FakeChatEngine : public ChatEngine {
public:
    struct Script {
        QString reply;          // empty: "Echo: <last user text>"
        int pieceDelayMs = 0;
        QString failWith;
        int contextSize = 4096;
        int loadDelayMs = 0;    // per progress step
        bool opensReasoning = false; // promptOpensReasoning(), as an R1 model's format says
    };
    // Two constructors rather than `Script script = {}`: GCC cannot use Script's default member
    // initialisers in a default argument inside the enclosing class.
    FakeChatEngine();
    explicit FakeChatEngine(Script script);

    ModelFacts load(const QString& path, const LoadSettings& settings,
                    const std::function<bool(double)>& progress) override;
    void unload() override;
    bool isLoaded() const override { return loaded_; }
    int contextSize() const override { return loaded_ ? script_.contextSize : 0; }
    bool promptOpensReasoning() const override { return script_.opensReasoning; }
    int countPromptTokens(const std::vector<ChatTurn>& turns) const override;
    EngineResult generate(const std::vector<ChatTurn>& turns, const SamplingSettings& settings,
                          const std::function<void(std::string_view)>& onPiece,
                          const std::atomic<bool>* stop) override;

    // The turns of the last generate() call (read after it returned).
    std::vector<ChatTurn> lastTurns() const;

private:
    Script script_;
    bool loaded_ = false;
    std::vector<ChatTurn> lastTurns_;
};
