// The only caller of the engine. Lives on its own QThread; its slots are invoked queued from
// the GUI thread, its signals are queued back. Streamed text is batched: textAppended fires at
// most ~30 times a second. Stops are per request and may be asked from any thread.
#pragma once

#include "doclibrary/document_retrieval.h"
#include "inference/chat_engine.h"

#include <QObject>
#include <QElapsedTimer>

#include <atomic>
#include <memory>

class InferenceWorker : public QObject {
    Q_OBJECT
public:
    explicit InferenceWorker(std::unique_ptr<ChatEngine> engine, QObject* parent = nullptr);
    ~InferenceWorker() override;

    // Thread-safe. Stops request `requestId` if it is running, or skips it when it starts
    // (and every earlier one).
    void requestStop(quint64 requestId);
    // Thread-safe. A ticket for the next loadModel() call; loads are cancelled by ticket, so a
    // cancel reaches a load that is still queued behind other work.
    quint64 issueLoadTicket();
    // Thread-safe. Cancels the load in progress and every load whose ticket was issued before
    // this call (a queued one then fails as cancelled without touching the engine).
    void cancelLoad();

    static constexpr int kMinUpdateIntervalMs = 33; // ≤ 30 textAppended per second

public slots:
    void loadModel(quint64 ticket, const QString& path, const LoadSettings& settings);
    void unloadModel();
    // turns: the whole conversation, system prompt first when there is one, the user's last.
    void generate(quint64 requestId, const std::vector<ChatTurn>& turns, const SamplingSettings& settings);
    // The same, the last turn answered from documents when the query is active: from the
    // passages it retrieves (searched here, on this thread), fitted with the history into the
    // context; sourcesChosen tells which ones the prompt quotes.
    void generateFromDocuments(quint64 requestId, const std::vector<ChatTurn>& turns, const SamplingSettings& settings,
                               const DocumentQuery& documents);
    // Prompt tokens `turns` would take with the loaded model (the composer's count); answered
    // by tokensCounted, with -1 when no model is loaded or the prompt cannot be formed.
    void countTokens(quint64 requestId, const std::vector<ChatTurn>& turns);

signals:
    void loadProgress(double progress);
    void modelLoaded(const ModelFacts& facts);
    void modelLoadFailed(const QString& message, bool cancelled);
    void modelUnloaded();
    // After fitting the conversation to the context, before the first token. startedInReasoning:
    // the prompt opened a think block, so the text streams from inside the reasoning.
    void generationStarted(quint64 requestId, int droppedTurns, int promptTokens, int contextSize,
                           bool startedInReasoning);
    void textAppended(quint64 requestId, const QString& text);
    // A question answered from documents, before generationStarted: the passages its prompt
    // quotes (source n = sources[n - 1]; none when nothing matched or fitted). problem: why the
    // documents could not be searched ("" when they were); the question is then sent without.
    void sourcesChosen(quint64 requestId, const std::vector<latent::documents::Passage>& sources, const QString& problem);
    // Always follows generate(); result.text holds everything streamed.
    void generationFinished(quint64 requestId, const EngineResult& result);
    // The loaded model's file changed on disk during or before an answer: that answer finished
    // as Stopped with what was streamed (result.modelFileChanged set), the model was unloaded,
    // and this follows generationFinished (then modelUnloaded). message: "the model file
    // changed on disk; reload it: PATH (…)".
    void modelFileChanged(const QString& message);
    void tokensCounted(quint64 requestId, int tokens);

private:
    std::unique_ptr<ChatEngine> engine_;
    DocumentRetriever retriever_;
    std::atomic<bool> stop_{false};
    std::atomic<quint64> current_{0};
    std::atomic<quint64> stoppedUpTo_{0};
    std::atomic<quint64> loadTickets_{0};
    std::atomic<quint64> loadsCancelledUpTo_{0};
};
