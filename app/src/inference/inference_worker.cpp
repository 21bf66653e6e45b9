#include "inference/inference_worker.h"

#include "inference/context_window.h"
#include "inference/grounded_prompt.h"

#include <algorithm>
#include <exception>

InferenceWorker::InferenceWorker(std::unique_ptr<ChatEngine> engine, QObject* parent)
    : QObject(parent), engine_(std::move(engine)) {
    // Every type that crosses threads in a queued signal or slot.
    qRegisterMetaType<ModelFacts>();
    qRegisterMetaType<EngineResult>();
    qRegisterMetaType<LoadSettings>();
    qRegisterMetaType<SamplingSettings>();
    qRegisterMetaType<std::vector<ChatTurn>>();
    qRegisterMetaType<DocumentQuery>();
    qRegisterMetaType<std::vector<latent::documents::Passage>>();
}

InferenceWorker::~InferenceWorker() = default;

namespace {

// value = max(value, atLeast), atomically.
void raiseTo(std::atomic<quint64>& value, quint64 atLeast) {
    quint64 seen = value.load();
    while (seen < atLeast && !value.compare_exchange_weak(seen, atLeast)) {
    }
}

} // namespace

void InferenceWorker::requestStop(quint64 requestId) {
    // Record the stop first, then flag the running request: generate() publishes current_
    // before it reads stoppedUpTo_, so whichever side comes second sees the other's write.
    raiseTo(stoppedUpTo_, requestId);
    if (current_.load() == requestId) stop_.store(true);
}

quint64 InferenceWorker::issueLoadTicket() { return ++loadTickets_; }

void InferenceWorker::cancelLoad() { raiseTo(loadsCancelledUpTo_, loadTickets_.load()); }

void InferenceWorker::loadModel(quint64 ticket, const QString& path, const LoadSettings& settings) {
    const auto cancelled = [this, ticket] { return loadsCancelledUpTo_.load() >= ticket; };
    if (cancelled()) {
        emit modelLoadFailed(tr("Loading was cancelled."), true);
        return;
    }
    // Progress is throttled to changes of at least 1 % or 50 ms apart, never goes back, and
    // always reports the final 1.
    double lastReported = -1.0;
    QElapsedTimer sinceReport;
    sinceReport.start();
    const auto onProgress = [&](double p) {
        p = std::clamp(p, 0.0, 1.0);
        const bool first = lastReported < 0.0;
        const bool done = p >= 1.0 && lastReported < 1.0;
        const bool moved = p > lastReported && (p - lastReported >= 0.01 || sinceReport.elapsed() >= 50);
        if (first || done || moved) {
            lastReported = p;
            sinceReport.restart();
            emit loadProgress(p);
        }
        return !cancelled();
    };
    try {
        const ModelFacts facts = engine_->load(path, settings, onProgress);
        emit modelLoaded(facts);
    } catch (const LoadCancelled&) {
        emit modelLoadFailed(tr("Loading was cancelled."), true);
    } catch (const std::exception& e) {
        emit modelLoadFailed(QString::fromUtf8(e.what()), false);
    } catch (...) {
        emit modelLoadFailed(tr("The model could not be loaded (unknown error)."), false);
    }
}

void InferenceWorker::unloadModel() {
    engine_->unload();
    emit modelUnloaded();
}

void InferenceWorker::generate(quint64 requestId, const std::vector<ChatTurn>& turns, const SamplingSettings& settings) {
    generateFromDocuments(requestId, turns, settings, DocumentQuery());
}

void InferenceWorker::generateFromDocuments(quint64 requestId, const std::vector<ChatTurn>& turns, const SamplingSettings& settings,
                                            const DocumentQuery& documents) {
    // The order matters (see requestStop): clear, publish the id, then honour a stop already asked.
    stop_.store(false);
    current_.store(requestId);
    if (stoppedUpTo_.load() >= requestId) stop_.store(true);

    EngineResult result;
    const auto finish = [&] {
        current_.store(0);
        emit generationFinished(requestId, result);
    };
    if (stop_.load()) {
        result.end = EngineResult::End::Stopped;
        finish();
        return;
    }
    if (!engine_->isLoaded()) {
        result.end = EngineResult::End::Error;
        result.message = tr("No model is loaded. Open a model first.");
        finish();
        return;
    }

    const int contextSize = engine_->contextSize();
    const auto countTokens = [this](const std::vector<ChatTurn>& t) { return engine_->countPromptTokens(t); };
    const bool grounded = documents.active() && !turns.empty() && turns.back().role == ChatTurn::Role::User;
    std::vector<latent::documents::Passage> passages;
    QString documentProblem;
    if (grounded) {
        try {
            passages = retriever_.search(documents, turns.back().content);
        } catch (const std::exception& e) {
            documentProblem = tr("The documents could not be searched: %1").arg(QString::fromUtf8(e.what()));
        }
    }
    ContextFit fit;
    try {
        const int reserve = reservedAnswerTokens(settings.maxNewTokens, contextSize);
        if (grounded && documentProblem.isEmpty()) {
            GroundedFit groundedFit = fitGroundedToContext(turns, passages, contextSize, reserve, countTokens);
            fit = std::move(groundedFit.fit);
            passages = std::move(groundedFit.sources);
        } else {
            fit = fitToContext(turns, contextSize, reserve, countTokens);
            passages.clear();
        }
    } catch (const std::exception& e) {
        result.end = EngineResult::End::Error;
        result.message = tr("The conversation could not be prepared for the model: %1").arg(QString::fromUtf8(e.what()));
        finish();
        return;
    }
    if (!fit.fits) {
        result.end = EngineResult::End::Error;
        result.promptTokens = fit.promptTokens;
        result.message = tr("This message is too long for the model's context (%1 tokens; the context holds %2). "
                            "Shorten it, or raise the context length in Settings and reload the model.")
                             .arg(fit.promptTokens)
                             .arg(contextSize);
        finish();
        return;
    }
    if (grounded) emit sourcesChosen(requestId, passages, documentProblem);
    emit generationStarted(requestId, fit.droppedTurns, fit.promptTokens, contextSize, engine_->promptOpensReasoning());

    SamplingSettings bounded = settings;
    bounded.maxNewTokens = std::min(settings.maxNewTokens, contextSize - fit.promptTokens);

    // Pieces are gathered and sent at most every kMinUpdateIntervalMs; the rest goes out right
    // before generationFinished, so the texts sent concatenate to exactly the result's text.
    QString pending, streamed;
    QElapsedTimer sinceUpdate;
    sinceUpdate.start();
    const auto onPiece = [&](std::string_view piece) {
        const QString text = QString::fromUtf8(piece.data(), static_cast<qsizetype>(piece.size()));
        pending += text;
        streamed += text;
        if (sinceUpdate.elapsed() >= kMinUpdateIntervalMs) {
            emit textAppended(requestId, pending);
            pending.clear();
            sinceUpdate.restart();
        }
    };
    try {
        result = engine_->generate(fit.turns, bounded, onPiece, &stop_);
    } catch (const std::exception& e) {
        result.end = EngineResult::End::Error;
        result.text = streamed;
        result.message = QString::fromUtf8(e.what());
    } catch (...) {
        result.end = EngineResult::End::Error;
        result.text = streamed;
        result.message = tr("Generation failed (unknown error).");
    }
    if (!pending.isEmpty()) emit textAppended(requestId, pending);
    if (result.modelFileChanged) {
        // Not a failure of the answer: it ends where it was, as if stopped, and the model that
        // can no longer be trusted is dropped at once (its pages may read zeros now).
        result.end = EngineResult::End::Stopped;
        if (result.text.isEmpty()) result.text = streamed;
        const QString message = result.message;
        engine_->unload();
        finish();
        emit modelFileChanged(message);
        emit modelUnloaded();
        return;
    }
    finish();
}

void InferenceWorker::countTokens(quint64 requestId, const std::vector<ChatTurn>& turns) {
    int tokens = -1;
    try {
        if (engine_->isLoaded()) tokens = engine_->countPromptTokens(turns);
    } catch (const std::exception&) {
        tokens = -1; // the prompt cannot be formed; generate() will say why
    }
    emit tokensCounted(requestId, tokens);
}
