// What the inference worker needs from a language-model engine. The real implementation
// (EngineChatEngine) wraps the latent engine (engine.h: Model, Backend, Session); tests use
// FakeChatEngine. Every method is called from the worker thread only.
#pragma once

#include <QMetaType>
#include <QString>

#include <atomic>
#include <functional>
#include <string_view>
#include <vector>

struct ChatTurn {
    enum class Role { System, User, Assistant };
    Role role = Role::User;
    QString content; // assistant turns: the answer without its reasoning
};

// Applied when a model is loaded.
struct LoadSettings {
    int contextLength = 4096; // KV-cache positions (clamped to the model's trained context)
    int threads = 0;          // CPU threads, 0: all hardware threads
    QString backend = QStringLiteral("auto"); // "auto", "cpu", "cuda" (falls back with a note)
    // An OpenAI-compatible endpoint (when the load path is an http(s) URL): its API key (never
    // logged), the model to use (empty: the first it lists) and how long it may stay silent.
    QString apiKey;
    QString remoteModel;
    int remoteTimeoutMs = 60000;
};

// Applied per answer.
struct SamplingSettings {
    double temperature = 0.7;
    double topP = 0.95;
    int topK = 40;
    double minP = 0.05;
    double repeatPenalty = 1.0;
    int maxNewTokens = 1024;
    quint64 seed = 0; // 0: random
};

// Facts shown in the model panel.
struct ModelFacts {
    QString path;
    QString name;            // general.name, else the file name
    QString architecture;    // "deepseek2"
    QString quantization;    // "Q4_K_M"
    QString chatFormat;      // "deepseek-v3" …
    qint64 fileBytes = 0;
    qint64 totalParams = 0;
    qint64 activeParams = 0;
    int trainedContext = 0;  // context length the model was trained for
    int contextSize = 0;     // positions of the allocated KV cache
    int layers = 0;
    int experts = 0;         // routed experts (0 for a dense model)
    int expertsUsed = 0;
    int sharedExperts = 0;
    qint64 kvBytesPerTokenMla = 0;   // latent cache, all layers (f16)
    qint64 kvBytesPerTokenMha = 0;   // what an uncompressed multi-head cache would need
    QString backend;         // backend in use ("cpu")
    QString backendNote;     // why it was chosen / what it fell back from, else empty
};

struct EngineResult {
    enum class End { Complete, MaxTokens, ContextFull, Stopped, Error };
    End end = End::Error;
    QString text;            // everything generated (reasoning included), as streamed
    QString message;         // human-readable reason for ContextFull / Error
    bool startedInReasoning = false; // the prompt opened a think block (R1)
    int promptTokens = 0;
    int generatedTokens = 0;
    double timeToFirstTokenMs = 0.0;
    double promptTokensPerSecond = 0.0;
    double generationTokensPerSecond = 0.0;
    bool modelFileChanged = false;   // the model's file changed on disk (truncated, rewritten, replaced): message
                                     // says so; the model is unusable until loaded again
};

class ChatEngine {
public:
    virtual ~ChatEngine() = default;

    // Loads a model (replacing any loaded one). progress(p in [0,1]) returns false to cancel.
    // Throws std::exception with a user-readable message; a cancel throws LoadCancelled.
    virtual ModelFacts load(const QString& path, const LoadSettings& settings,
                            const std::function<bool(double)>& progress) = 0;
    virtual void unload() = 0;
    virtual bool isLoaded() const = 0;
    virtual int contextSize() const = 0; // 0 when nothing is loaded

    // Whether the generation prompt opens a think block (R1): the answer then starts inside its
    // reasoning and the stream shows only the block's end.
    virtual bool promptOpensReasoning() const = 0;

    // Prompt tokens the turns would take (chat format, generation prompt included).
    virtual int countPromptTokens(const std::vector<ChatTurn>& turns) const = 0;

    // One answer to `turns` (the last one is the user's). Streams pieces (UTF-8 complete) to
    // onPiece; returns when done, when *stop becomes true, or on failure. Never throws.
    virtual EngineResult generate(const std::vector<ChatTurn>& turns, const SamplingSettings& settings,
                                  const std::function<void(std::string_view)>& onPiece,
                                  const std::atomic<bool>* stop) = 0;

    // Splits generated text into reasoning and answer (R1 "<think>…</think>"), as the model's
    // chat format says. Pure; may be called from any thread.
    struct Split { QString reasoning; QString answer; bool reasoningOpen = false; };
    static Split splitReasoning(const QString& text, bool startedInReasoning);
};

struct LoadCancelled : std::exception {
    const char* what() const noexcept override { return "loading cancelled"; }
};

Q_DECLARE_METATYPE(ModelFacts)
Q_DECLARE_METATYPE(EngineResult)
Q_DECLARE_METATYPE(LoadSettings)
Q_DECLARE_METATYPE(SamplingSettings)
Q_DECLARE_METATYPE(std::vector<ChatTurn>)
