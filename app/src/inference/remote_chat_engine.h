// A ChatEngine that talks to an OpenAI-compatible endpoint (vLLM, SGLang, `latent serve`, …)
// instead of running a model here: for models bigger than this workstation. Loading a model is
// connecting: `load(url, settings)` with the base URL ("http://host:8000/v1"), the API key and
// model name in LoadSettings, checks GET {url}/models. Answers are streamed
// (POST {url}/chat/completions with "stream": true) through QNetworkAccessManager on the
// worker thread; the stop flag aborts the request at once.
//
// Reasoning arrives as delta.reasoning_content (llama-server, LM Studio, SGLang, latent serve)
// or delta.reasoning (newer vLLM); it is passed on wrapped in <think>…</think> so the worker's
// usual split shows it as the thinking block.
//
// Errors are plain sentences: unreachable (connection refused, unknown host), the key refused
// (401/403), busy (429), no answer within the timeout, and the server's own message otherwise.
// The API key is sent only in the Authorization header and never written to a log or message.
#pragma once

#include "inference/chat_engine.h"

#include <QStringList>

#include <memory>

class QNetworkAccessManager;

class RemoteChatEngine : public ChatEngine {
public:
    RemoteChatEngine();
    ~RemoteChatEngine() override;

    ModelFacts load(const QString& baseUrl, const LoadSettings& settings, const std::function<bool(double)>& progress) override;
    void unload() override;
    bool isLoaded() const override { return loaded_; }
    int contextSize() const override { return contextSize_; }
    bool promptOpensReasoning() const override { return false; }
    // The endpoint has no tokenizer API: an estimate that errs high (one token per 3 bytes).
    int countPromptTokens(const std::vector<ChatTurn>& turns) const override;
    EngineResult generate(const std::vector<ChatTurn>& turns, const SamplingSettings& settings,
                          const std::function<void(std::string_view)>& onPiece, const std::atomic<bool>* stop) override;

    // The ids GET {baseUrl}/models lists. Blocks up to timeoutMs (call it off the GUI thread).
    // Throws std::runtime_error with a plain message.
    static QStringList listModels(const QString& baseUrl, const QString& apiKey, int timeoutMs = 15000);

    // Whether a load path names an endpoint (http:// or https://) rather than a model file.
    static bool isEndpoint(const QString& path);
    // The URL as it may be shown or logged: no user info, no query.
    static QString displayUrl(const QString& url);

private:
    std::unique_ptr<QNetworkAccessManager> network_; // created on the worker thread
    QString baseUrl_, apiKey_, model_;
    int timeoutMs_ = 60000;
    int contextSize_ = 0;
    bool loaded_ = false;
};
