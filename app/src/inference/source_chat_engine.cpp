#include "inference/source_chat_engine.h"

#include "inference/remote_chat_engine.h"

#include <stdexcept>

SourceChatEngine::SourceChatEngine(std::unique_ptr<ChatEngine> local, std::unique_ptr<ChatEngine> remote, bool remoteAllowed)
    : local_(std::move(local)), remote_(std::move(remote)), remoteAllowed_(remoteAllowed) {}

ModelFacts SourceChatEngine::load(const QString& pathOrUrl, const LoadSettings& settings, const std::function<bool(double)>& progress) {
    const bool endpoint = RemoteChatEngine::isEndpoint(pathOrUrl);
    if (endpoint && !remoteAllowed_) {
        throw std::runtime_error("remote model endpoints are turned off on this computer by its administrator");
    }
    unload();
    ChatEngine* target = endpoint ? remote_.get() : local_.get();
    ModelFacts facts = target->load(pathOrUrl, settings, progress);
    active_ = target;
    return facts;
}

void SourceChatEngine::unload() {
    if (active_) active_->unload();
    active_ = nullptr;
}

EngineResult SourceChatEngine::generate(const std::vector<ChatTurn>& turns, const SamplingSettings& settings,
                                        const std::function<void(std::string_view)>& onPiece, const std::atomic<bool>* stop) {
    if (!active_) {
        EngineResult r;
        r.message = QStringLiteral("no model loaded");
        return r;
    }
    return active_->generate(turns, settings, onPiece, stop);
}
