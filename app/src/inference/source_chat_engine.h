// The engine the app runs: a local model (EngineChatEngine) or an OpenAI-compatible endpoint
// (RemoteChatEngine), chosen by what is loaded: a path loads a model file, an http(s) URL
// connects to an endpoint. Everything else goes to whichever is active, so conversations,
// document answers and export work the same with either.
//
// Remote endpoints can be forbidden by the administrator (endpoint_policy.h): connecting then
// fails with a message that says so, and nothing is sent anywhere.
#pragma once

#include "inference/chat_engine.h"

#include <memory>

class SourceChatEngine : public ChatEngine {
public:
    SourceChatEngine(std::unique_ptr<ChatEngine> local, std::unique_ptr<ChatEngine> remote, bool remoteAllowed);

    ModelFacts load(const QString& pathOrUrl, const LoadSettings& settings, const std::function<bool(double)>& progress) override;
    void unload() override;
    bool isLoaded() const override { return active_ && active_->isLoaded(); }
    int contextSize() const override { return active_ ? active_->contextSize() : 0; }
    bool promptOpensReasoning() const override { return active_ && active_->promptOpensReasoning(); }
    int countPromptTokens(const std::vector<ChatTurn>& turns) const override { return active_ ? active_->countPromptTokens(turns) : 0; }
    EngineResult generate(const std::vector<ChatTurn>& turns, const SamplingSettings& settings,
                          const std::function<void(std::string_view)>& onPiece, const std::atomic<bool>* stop) override;

private:
    std::unique_ptr<ChatEngine> local_, remote_;
    ChatEngine* active_ = nullptr;
    bool remoteAllowed_;
};
