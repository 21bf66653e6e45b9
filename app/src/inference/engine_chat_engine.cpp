#include "inference/engine_chat_engine.h"

#include "cuda/cuda_device.h"
#include "engine.h"
#include "model/model_info.h"
#include "model/model_stats.h"

#include <QFile>
#include <QFileInfo>

#include <algorithm>
#include <new>
#include <random>
#include <stdexcept>

namespace {

std::filesystem::path toPath(const QString& path) { return std::filesystem::path(QFile::encodeName(path).toStdString()); }

std::vector<latent::chat::ChatMessage> toMessages(const std::vector<ChatTurn>& turns) {
    std::vector<latent::chat::ChatMessage> messages;
    messages.reserve(turns.size());
    for (const ChatTurn& turn : turns) {
        latent::chat::ChatMessage message;
        switch (turn.role) {
        case ChatTurn::Role::System: message.role = latent::chat::ChatMessage::System; break;
        case ChatTurn::Role::User: message.role = latent::chat::ChatMessage::User; break;
        case ChatTurn::Role::Assistant: message.role = latent::chat::ChatMessage::Assistant; break;
        }
        message.content = turn.content.toStdString();
        messages.push_back(std::move(message));
    }
    return messages;
}

latent::GenerationParams toParams(const SamplingSettings& settings) {
    latent::GenerationParams params;
    params.sampling.temperature = static_cast<float>(settings.temperature);
    params.sampling.top_p = static_cast<float>(settings.topP);
    params.sampling.top_k = settings.topK;
    params.sampling.min_p = static_cast<float>(settings.minP);
    params.sampling.repeat_penalty = static_cast<float>(settings.repeatPenalty);
    if (settings.seed != 0) {
        params.sampling.seed = settings.seed;
    } else {
        // The engine takes 0 as an ordinary seed; the app's 0 means "a different answer each time".
        std::random_device random;
        params.sampling.seed = (uint64_t{random()} << 32) ^ uint64_t{random()};
    }
    params.max_new_tokens = settings.maxNewTokens;
    return params;
}

EngineResult::End toEnd(latent::StopReason reason) {
    switch (reason) {
    case latent::StopReason::EndOfTurn:
    case latent::StopReason::StopString: return EngineResult::End::Complete;
    case latent::StopReason::MaxTokens: return EngineResult::End::MaxTokens;
    case latent::StopReason::ContextFull: return EngineResult::End::ContextFull;
    case latent::StopReason::Cancelled: return EngineResult::End::Stopped;
    case latent::StopReason::Error: return EngineResult::End::Error;
    }
    return EngineResult::End::Error;
}

} // namespace

EngineChatEngine::EngineChatEngine() = default;
EngineChatEngine::~EngineChatEngine() = default;

ModelFacts EngineChatEngine::load(const QString& path, const LoadSettings& settings,
                                  const std::function<bool(double)>& progress) {
    unload(); // two large models rarely fit in memory together
    const QString fileName = QFileInfo(path).fileName();
    const auto fail = [&](const std::string& why) {
        return std::runtime_error("Cannot load " + fileName.toStdString() + ": " + why);
    };
    const std::filesystem::path file = toPath(path);
    try {
        const latent::BackendKind kind =
            latent::backend_kind_from_name(settings.backend.toStdString()).value_or(latent::BackendKind::Auto);
        // With a GPU the bar covers reading the file (first 60%) and the upload to the GPU
        // (the rest); on the CPU reading is all of it.
        const bool gpu_upload = (kind == latent::BackendKind::Auto || kind == latent::BackendKind::Cuda) &&
                                !latent::probe_cuda_devices().devices.empty();
        const double read_share = gpu_upload ? 0.6 : 1.0;
        latent::ModelLoadOptions options;
        // Touch every page now: the progress bar then measures the real reading of the file, and
        // the first answer is not slowed by page faults.
        options.prefetch = true;
        options.progress = [&](float p) { return !progress || progress(read_share * static_cast<double>(p)); };
        std::unique_ptr<latent::Model> model = latent::Model::load(file, options);
        const latent::ModelConfig& config = model->config();

        // n_ctx_train is at most latent::kMaxContext (2^28), so it fits an int.
        const int trained = config.n_ctx_train > 0 ? static_cast<int>(config.n_ctx_train) : std::max(settings.contextLength, 256);
        const int contextLength = std::max(std::min(settings.contextLength, trained), std::min(256, trained));
        latent::BackendOptions backendOptions;
        backendOptions.n_ctx = static_cast<uint32_t>(contextLength);
        backendOptions.n_threads = static_cast<uint32_t>(std::max(settings.threads, 0));
        backendOptions.load_progress = [&](float p) {
            return !progress || progress(read_share + (1.0 - read_share) * static_cast<double>(p));
        };
        std::string note;
        std::unique_ptr<latent::Backend> backend = latent::create_backend(*model, kind, backendOptions, &note);
        auto session = std::make_unique<latent::Session>(*backend);

        const latent::ModelStats stats = latent::compute_model_stats(config, model->weights());
        const latent::KvCacheFootprint kv = latent::kv_cache_footprint(config, 2);
        ModelFacts facts;
        facts.path = path;
        facts.name = config.name.empty() ? fileName : QString::fromStdString(config.name);
        facts.architecture = QString::fromStdString(config.architecture);
        facts.quantization = QString::fromStdString(latent::quantization_name(*model, stats));
        facts.chatFormat = QString::fromStdString(latent::chat::describe_chat_format_choice(model->chat_format()));
        facts.fileBytes = static_cast<qint64>(model->files().total_file_bytes());
        facts.totalParams = static_cast<qint64>(stats.total_params);
        facts.activeParams = static_cast<qint64>(stats.active_params);
        facts.trainedContext = static_cast<int>(config.n_ctx_train);
        facts.contextSize = static_cast<int>(backend->context_size());
        facts.layers = static_cast<int>(config.n_layer);
        facts.experts = static_cast<int>(config.n_expert);
        facts.expertsUsed = static_cast<int>(config.n_expert_used);
        facts.sharedExperts = static_cast<int>(config.n_expert_shared);
        facts.kvBytesPerTokenMla = static_cast<qint64>(kv.mla_bytes_per_token);
        facts.kvBytesPerTokenMha = static_cast<qint64>(kv.mha_bytes_per_token);
        facts.backend = QString::fromUtf8(backend->name().data(), static_cast<qsizetype>(backend->name().size()));
        facts.backendNote = QString::fromStdString(note);

        model_ = std::move(model);
        backend_ = std::move(backend);
        session_ = std::move(session);
        return facts;
    } catch (const latent::Cancelled&) {
        throw LoadCancelled();
    } catch (const std::bad_alloc&) {
        throw fail("not enough memory (try a smaller context length)");
    } catch (const std::exception& e) {
        throw fail(e.what());
    }
}

void EngineChatEngine::unload() {
    // The session refers to the backend, the backend to the model.
    session_.reset();
    backend_.reset();
    model_.reset();
}

bool EngineChatEngine::isLoaded() const { return session_ != nullptr; }

int EngineChatEngine::contextSize() const { return backend_ ? static_cast<int>(backend_->context_size()) : 0; }

bool EngineChatEngine::promptOpensReasoning() const {
    return session_ && session_->opens_reasoning(latent::GenerationParams{});
}

int EngineChatEngine::countPromptTokens(const std::vector<ChatTurn>& turns) const {
    if (!session_) return 0;
    return static_cast<int>(session_->prompt_tokens(toMessages(turns), latent::GenerationParams{}).size());
}

EngineResult EngineChatEngine::generate(const std::vector<ChatTurn>& turns, const SamplingSettings& settings,
                                        const std::function<void(std::string_view)>& onPiece,
                                        const std::atomic<bool>* stop) {
    EngineResult result;
    result.end = EngineResult::End::Error;
    try {
        if (!session_) {
            result.message = QStringLiteral("No model is loaded.");
            return result;
        }
        const latent::GenerationResult r = session_->generate(toMessages(turns), toParams(settings), onPiece, stop);
        result.end = toEnd(r.reason);
        result.text = QString::fromStdString(r.text);
        result.message = QString::fromStdString(r.message);
        result.startedInReasoning = r.started_in_reasoning;
        result.promptTokens = static_cast<int>(r.stats.n_prompt_tokens);
        result.generatedTokens = static_cast<int>(r.stats.n_generated);
        result.timeToFirstTokenMs = r.stats.time_to_first_token_ms;
        result.promptTokensPerSecond = r.stats.prompt_tokens_per_s;
        result.generationTokensPerSecond = r.stats.generation_tokens_per_s;
        result.modelFileChanged = r.model_file_changed;
    } catch (const std::exception& e) {
        result.end = EngineResult::End::Error;
        result.message = QString::fromUtf8(e.what());
    } catch (...) {
        result.end = EngineResult::End::Error;
        result.message = QStringLiteral("generation failed for an unknown reason");
    }
    return result;
}
