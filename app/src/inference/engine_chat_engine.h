// The ChatEngine over the latent engine (engine.h): Model::load with progress/cancel,
// create_backend (auto/cpu/cuda with fallback note), one Session reused across turns (prefix
// reuse makes a follow-up turn evaluate only its new tokens).
#pragma once

#include "inference/chat_engine.h"

#include <memory>

namespace latent {
class Model;
class Backend;
class Session;
}

class EngineChatEngine : public ChatEngine {
public:
    EngineChatEngine();
    ~EngineChatEngine() override;

    ModelFacts load(const QString& path, const LoadSettings& settings,
                    const std::function<bool(double)>& progress) override;
    void unload() override;
    bool isLoaded() const override;
    int contextSize() const override;
    bool promptOpensReasoning() const override;
    int countPromptTokens(const std::vector<ChatTurn>& turns) const override;
    EngineResult generate(const std::vector<ChatTurn>& turns, const SamplingSettings& settings,
                          const std::function<void(std::string_view)>& onPiece,
                          const std::atomic<bool>* stop) override;

private:
    std::unique_ptr<latent::Model> model_;
    std::unique_ptr<latent::Backend> backend_;
    std::unique_ptr<latent::Session> session_;
};
