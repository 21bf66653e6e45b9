// The InferenceWorker on its own thread over the scripted FakeChatEngine: loading (progress,
// failure, cancel), streaming with batching, per-request stops, context fitting and errors.
// Requests go in through queued signals, as the controllers send them; the worker's signals are
// relayed to an object on this thread so every QSignalSpy records on the thread that reads it.
#include "inference/fake_chat_engine.h"
#include "inference/inference_worker.h"

#include <QElapsedTimer>
#include <QSignalSpy>
#include <QTest>
#include <QThread>

#include <memory>

namespace {

// Receives the worker's signals on the GUI thread (queued) and emits them again there.
class Relay : public QObject {
    Q_OBJECT
public:
    explicit Relay(InferenceWorker* worker) {
        connect(worker, &InferenceWorker::loadProgress, this, &Relay::loadProgress);
        connect(worker, &InferenceWorker::modelLoaded, this, &Relay::modelLoaded);
        connect(worker, &InferenceWorker::modelLoadFailed, this, &Relay::modelLoadFailed);
        connect(worker, &InferenceWorker::modelUnloaded, this, &Relay::modelUnloaded);
        connect(worker, &InferenceWorker::generationStarted, this, &Relay::generationStarted);
        connect(worker, &InferenceWorker::textAppended, this, &Relay::textAppended);
        connect(worker, &InferenceWorker::generationFinished, this, &Relay::generationFinished);
    }
signals:
    void loadProgress(double progress);
    void modelLoaded(const ModelFacts& facts);
    void modelLoadFailed(const QString& message, bool cancelled);
    void modelUnloaded();
    void generationStarted(quint64 requestId, int droppedTurns, int promptTokens, int contextSize,
                           bool startedInReasoning);
    void textAppended(quint64 requestId, const QString& text);
    void generationFinished(quint64 requestId, const EngineResult& result);
};

ChatTurn turn(ChatTurn::Role role, const QString& content) { return ChatTurn{role, content}; }

// "w0 w1 … w(n-1)"
QString words(int n, const QString& stem = QStringLiteral("w")) {
    QStringList list;
    for (int i = 0; i < n; ++i) list << stem + QString::number(i);
    return list.join(QLatin1Char(' '));
}

// Everything textAppended delivered for one request, in order.
QString streamedText(const QSignalSpy& spy, quint64 requestId) {
    QString text;
    for (const QList<QVariant>& args : spy) {
        if (args.at(0).toULongLong() == requestId) text += args.at(1).toString();
    }
    return text;
}

int countFor(const QSignalSpy& spy, quint64 requestId) {
    int n = 0;
    for (const QList<QVariant>& args : spy) n += args.at(0).toULongLong() == requestId ? 1 : 0;
    return n;
}

const QString kModelPath = QStringLiteral("/models/tiny-model.gguf");

} // namespace

class TestInferenceWorker : public QObject {
    Q_OBJECT

signals:
    // The GUI side's requests, queued to the worker thread.
    void requestLoad(quint64 ticket, const QString& path, const LoadSettings& settings);
    void requestUnload();
    void requestGenerate(quint64 requestId, const std::vector<ChatTurn>& turns, const SamplingSettings& settings);

private:
    QThread thread_;
    InferenceWorker* worker_ = nullptr;
    FakeChatEngine* fake_ = nullptr; // owned by worker_
    std::unique_ptr<Relay> relay_;

    void start(FakeChatEngine::Script script = {}) {
        auto engine = std::make_unique<FakeChatEngine>(script);
        fake_ = engine.get();
        worker_ = new InferenceWorker(std::move(engine));
        worker_->moveToThread(&thread_);
        connect(this, &TestInferenceWorker::requestLoad, worker_, &InferenceWorker::loadModel);
        connect(this, &TestInferenceWorker::requestUnload, worker_, &InferenceWorker::unloadModel);
        connect(this, &TestInferenceWorker::requestGenerate, worker_, &InferenceWorker::generate);
        relay_ = std::make_unique<Relay>(worker_);
        thread_.start();
    }

    // Loads the fake model and waits for it.
    bool load() {
        QSignalSpy loaded(relay_.get(), &Relay::modelLoaded);
        emit requestLoad(worker_->issueLoadTicket(), kModelPath, LoadSettings{});
        return loaded.wait(5000);
    }

    static std::vector<ChatTurn> question(const QString& text) {
        return {turn(ChatTurn::Role::System, QStringLiteral("be brief")), turn(ChatTurn::Role::User, text)};
    }

    static EngineResult resultOf(const QSignalSpy& finished, quint64 requestId) {
        for (const QList<QVariant>& args : finished) {
            if (args.at(0).toULongLong() == requestId) return args.at(1).value<EngineResult>();
        }
        return {};
    }

private slots:
    void cleanup() {
        if (worker_ != nullptr) {
            thread_.quit();
            thread_.wait();
            relay_.reset();
            delete worker_;
            worker_ = nullptr;
            fake_ = nullptr;
        }
    }

    // ---- Loading ------------------------------------------------------------------------------

    void load_reports_progress_and_facts() {
        start();
        QSignalSpy progress(relay_.get(), &Relay::loadProgress);
        QSignalSpy loaded(relay_.get(), &Relay::modelLoaded);
        QSignalSpy failed(relay_.get(), &Relay::modelLoadFailed);
        emit requestLoad(worker_->issueLoadTicket(), kModelPath, LoadSettings{});
        QVERIFY(loaded.wait(5000));
        QCOMPARE(failed.count(), 0);

        const auto facts = loaded.at(0).at(0).value<ModelFacts>();
        QCOMPARE(facts.path, kModelPath);
        QCOMPARE(facts.name, QStringLiteral("tiny-model.gguf"));
        QCOMPARE(facts.contextSize, 4096);
        QVERIFY(facts.activeParams > 0 && facts.activeParams < facts.totalParams);

        QVERIFY(progress.count() >= 2);
        double previous = -1.0;
        for (const QList<QVariant>& args : progress) {
            const double p = args.at(0).toDouble();
            QVERIFY2(p >= previous, "progress went back");
            previous = p;
        }
        QCOMPARE(progress.first().at(0).toDouble(), 0.0);
        QCOMPARE(progress.last().at(0).toDouble(), 1.0);
    }

    void load_failure_reports_the_message() {
        start();
        QSignalSpy loaded(relay_.get(), &Relay::modelLoaded);
        QSignalSpy failed(relay_.get(), &Relay::modelLoadFailed);
        emit requestLoad(worker_->issueLoadTicket(), QStringLiteral("/models/fail.gguf"), LoadSettings{});
        QVERIFY(failed.wait(5000));
        QCOMPARE(failed.at(0).at(0).toString(), QStringLiteral("cannot open model: /models/fail.gguf"));
        QCOMPARE(failed.at(0).at(1).toBool(), false);
        QCOMPARE(loaded.count(), 0);
    }

    void cancel_load() {
        FakeChatEngine::Script script;
        script.loadDelayMs = 300;
        start(script);
        QSignalSpy progress(relay_.get(), &Relay::loadProgress);
        QSignalSpy loaded(relay_.get(), &Relay::modelLoaded);
        QSignalSpy failed(relay_.get(), &Relay::modelLoadFailed);
        emit requestLoad(worker_->issueLoadTicket(), kModelPath, LoadSettings{});
        QVERIFY(progress.wait(5000)); // the load is under way
        worker_->cancelLoad();
        QVERIFY(failed.wait(5000));
        QCOMPARE(failed.at(0).at(1).toBool(), true);
        QCOMPARE(loaded.count(), 0);
        QVERIFY(progress.last().at(0).toDouble() < 1.0);

        // Nothing is loaded afterwards, and a later load is not cancelled by the old request.
        QSignalSpy finished(relay_.get(), &Relay::generationFinished);
        emit requestGenerate(1, question(QStringLiteral("hi")), SamplingSettings{});
        QVERIFY(finished.wait(5000));
        QCOMPARE(resultOf(finished, 1).end, EngineResult::End::Error);
        QVERIFY(load());
    }

    // A cancel reaches a load still queued behind other work (here a slow answer): it fails as
    // cancelled without the engine loading anything, and a load asked after the cancel runs.
    void cancel_reaches_a_queued_load() {
        FakeChatEngine::Script script;
        script.pieceDelayMs = 20;
        start(script);
        QVERIFY(load());
        QSignalSpy progress(relay_.get(), &Relay::loadProgress);
        QSignalSpy loaded(relay_.get(), &Relay::modelLoaded);
        QSignalSpy failed(relay_.get(), &Relay::modelLoadFailed);
        QSignalSpy finished(relay_.get(), &Relay::generationFinished);
        emit requestGenerate(1, question(QStringLiteral("a b c d e f g h i j")), SamplingSettings{});
        emit requestLoad(worker_->issueLoadTicket(), QStringLiteral("/models/other.gguf"), LoadSettings{});
        worker_->cancelLoad();
        emit requestLoad(worker_->issueLoadTicket(), QStringLiteral("/models/third.gguf"), LoadSettings{});
        QVERIFY(loaded.wait(5000));
        QCOMPARE(finished.count(), 1);
        QCOMPARE(failed.count(), 1);
        QCOMPARE(failed.at(0).at(1).toBool(), true);
        QCOMPARE(loaded.count(), 1);
        QCOMPARE(loaded.at(0).at(0).value<ModelFacts>().path, QStringLiteral("/models/third.gguf"));
        // Progress came from the third load only: it starts at 0 after the cancelled one failed.
        QVERIFY(!progress.isEmpty());
        QCOMPARE(progress.first().at(0).toDouble(), 0.0);
    }

    // ---- Generation ---------------------------------------------------------------------------

    void generate_without_model_fails() {
        start();
        QSignalSpy started(relay_.get(), &Relay::generationStarted);
        QSignalSpy finished(relay_.get(), &Relay::generationFinished);
        emit requestGenerate(7, question(QStringLiteral("hello")), SamplingSettings{});
        QVERIFY(finished.wait(5000));
        QCOMPARE(finished.at(0).at(0).toULongLong(), quint64{7});
        const EngineResult result = resultOf(finished, 7);
        QCOMPARE(result.end, EngineResult::End::Error);
        QCOMPARE(result.message, QStringLiteral("No model is loaded. Open a model first."));
        QCOMPARE(started.count(), 0);
    }

    void unload_then_generate_fails() {
        start();
        QVERIFY(load());
        QSignalSpy unloaded(relay_.get(), &Relay::modelUnloaded);
        QSignalSpy finished(relay_.get(), &Relay::generationFinished);
        emit requestUnload();
        emit requestGenerate(1, question(QStringLiteral("hello")), SamplingSettings{});
        QVERIFY(finished.wait(5000));
        QCOMPARE(unloaded.count(), 1);
        QCOMPARE(resultOf(finished, 1).end, EngineResult::End::Error);
    }

    void streams_the_reply() {
        start();
        QVERIFY(load());
        QSignalSpy started(relay_.get(), &Relay::generationStarted);
        QSignalSpy appended(relay_.get(), &Relay::textAppended);
        QSignalSpy finished(relay_.get(), &Relay::generationFinished);
        emit requestGenerate(1, question(QStringLiteral("hello there, worker")), SamplingSettings{});
        QVERIFY(finished.wait(5000));

        const EngineResult result = resultOf(finished, 1);
        QCOMPARE(result.end, EngineResult::End::Complete);
        QCOMPARE(result.text, QStringLiteral("Echo: hello there, worker"));
        QVERIFY(appended.count() >= 1);
        QCOMPARE(streamedText(appended, 1), result.text);

        // Started before any text, with the fake's count: 4 per turn + 1 per word = 8 + 2 + 3.
        QCOMPARE(started.count(), 1);
        QCOMPARE(started.at(0).at(0).toULongLong(), quint64{1});
        QCOMPARE(started.at(0).at(1).toInt(), 0);
        QCOMPARE(started.at(0).at(2).toInt(), 13);
        QCOMPARE(started.at(0).at(3).toInt(), 4096);
        QCOMPARE(started.at(0).at(4).toBool(), false);
    }

    // An R1-style prompt opens the think block: generationStarted says so before any text.
    void reports_a_prompt_that_opens_reasoning() {
        FakeChatEngine::Script script;
        script.opensReasoning = true;
        start(script);
        QVERIFY(load());
        QSignalSpy started(relay_.get(), &Relay::generationStarted);
        QSignalSpy finished(relay_.get(), &Relay::generationFinished);
        emit requestGenerate(1, question(QStringLiteral("why")), SamplingSettings{});
        QVERIFY(finished.wait(5000));
        QCOMPARE(started.count(), 1);
        QCOMPARE(started.at(0).at(4).toBool(), true);
    }

    // 400 pieces over about a second arrive in at most one update per kMinUpdateIntervalMs.
    void batches_text_updates() {
        FakeChatEngine::Script script;
        script.reply = words(400);
        script.pieceDelayMs = 2;
        start(script);
        QVERIFY(load());
        QSignalSpy appended(relay_.get(), &Relay::textAppended);
        QSignalSpy finished(relay_.get(), &Relay::generationFinished);
        QElapsedTimer clock;
        clock.start();
        emit requestGenerate(1, question(QStringLiteral("talk")), SamplingSettings{});
        QVERIFY(finished.wait(10000));
        const qint64 elapsedMs = clock.elapsed();

        QCOMPARE(resultOf(finished, 1).end, EngineResult::End::Complete);
        QCOMPARE(streamedText(appended, 1), script.reply);
        QVERIFY2(appended.count() > 1, "the reply was not streamed");
        QVERIFY2(appended.count() <= elapsedMs / InferenceWorker::kMinUpdateIntervalMs + 2,
                 qPrintable(QStringLiteral("%1 updates in %2 ms").arg(appended.count()).arg(elapsedMs)));
    }

    void stop_during_generation() {
        FakeChatEngine::Script script;
        script.reply = words(300);
        script.pieceDelayMs = 5;
        start(script);
        QVERIFY(load());
        QSignalSpy appended(relay_.get(), &Relay::textAppended);
        QSignalSpy finished(relay_.get(), &Relay::generationFinished);
        emit requestGenerate(1, question(QStringLiteral("talk")), SamplingSettings{});
        QVERIFY(appended.wait(5000));
        worker_->requestStop(1);
        QVERIFY(finished.wait(5000));

        const EngineResult result = resultOf(finished, 1);
        QCOMPARE(result.end, EngineResult::End::Stopped);
        QVERIFY(!result.text.isEmpty());
        QVERIFY(result.text.size() < script.reply.size());
        QVERIFY(script.reply.startsWith(result.text));
        QCOMPARE(streamedText(appended, 1), result.text);
    }

    // Request 2 is stopped while it still waits behind request 1: it ends without reaching the
    // engine, and request 1 runs to its end.
    void stop_before_start() {
        FakeChatEngine::Script script;
        script.pieceDelayMs = 60;
        start(script);
        QVERIFY(load());
        QSignalSpy started(relay_.get(), &Relay::generationStarted);
        QSignalSpy appended(relay_.get(), &Relay::textAppended);
        QSignalSpy finished(relay_.get(), &Relay::generationFinished);
        emit requestGenerate(1, question(QStringLiteral("first question with several words")), SamplingSettings{});
        QVERIFY(started.wait(5000));
        emit requestGenerate(2, question(QStringLiteral("second question")), SamplingSettings{});
        worker_->requestStop(2);
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 2, 5000);

        QCOMPARE(finished.at(0).at(0).toULongLong(), quint64{1});
        const EngineResult first = resultOf(finished, 1);
        QCOMPARE(first.end, EngineResult::End::Complete);
        QCOMPARE(first.text, QStringLiteral("Echo: first question with several words"));
        QCOMPARE(streamedText(appended, 1), first.text);

        const EngineResult second = resultOf(finished, 2);
        QCOMPARE(second.end, EngineResult::End::Stopped);
        QVERIFY(second.text.isEmpty());
        QCOMPARE(countFor(appended, 2), 0);
        QCOMPARE(started.count(), 1);
        QCOMPARE(fake_->lastTurns().back().content, QStringLiteral("first question with several words"));
    }

    // A stop for an earlier request does not touch a later one.
    void stale_stop_is_ignored() {
        start();
        QVERIFY(load());
        worker_->requestStop(1);
        QSignalSpy finished(relay_.get(), &Relay::generationFinished);
        emit requestGenerate(2, question(QStringLiteral("go on")), SamplingSettings{});
        QVERIFY(finished.wait(5000));
        QCOMPARE(resultOf(finished, 2).end, EngineResult::End::Complete);
        QCOMPARE(resultOf(finished, 2).text, QStringLiteral("Echo: go on"));
    }

    // The fake counts 4 per turn + 1 per word. System "You are helpful" = 7, each history turn
    // "xN yN zN" = 7, the last "final question here" = 7. Context 60 − reserve 10 leaves 50:
    // system + last = 14, plus 2 exchanges (28) = 42; a third would make 56.
    void long_history_drops_oldest_turns() {
        FakeChatEngine::Script script;
        script.contextSize = 60;
        start(script);
        QVERIFY(load());
        std::vector<ChatTurn> turns{turn(ChatTurn::Role::System, QStringLiteral("You are helpful"))};
        for (int i = 0; i < 10; ++i) {
            turns.push_back(turn(ChatTurn::Role::User, QStringLiteral("u%1 asks this").arg(i)));
            turns.push_back(turn(ChatTurn::Role::Assistant, QStringLiteral("a%1 answers that").arg(i)));
        }
        turns.push_back(turn(ChatTurn::Role::User, QStringLiteral("final question here")));
        SamplingSettings settings;
        settings.maxNewTokens = 10;

        QSignalSpy started(relay_.get(), &Relay::generationStarted);
        QSignalSpy finished(relay_.get(), &Relay::generationFinished);
        emit requestGenerate(1, turns, settings);
        QVERIFY(finished.wait(5000));
        QCOMPARE(resultOf(finished, 1).end, EngineResult::End::Complete);
        QCOMPARE(started.count(), 1);
        QCOMPARE(started.at(0).at(1).toInt(), 16);
        QCOMPARE(started.at(0).at(2).toInt(), 42);
        QCOMPARE(started.at(0).at(3).toInt(), 60);

        const std::vector<ChatTurn> sent = fake_->lastTurns();
        QCOMPARE(sent.size(), size_t{6});
        QCOMPARE(sent[0].role, ChatTurn::Role::System);
        QCOMPARE(sent[1].content, QStringLiteral("u8 asks this"));
        QCOMPARE(sent[4].content, QStringLiteral("a9 answers that"));
        QCOMPARE(sent[5].content, QStringLiteral("final question here"));
    }

    void too_long_message_fails() {
        FakeChatEngine::Script script;
        script.contextSize = 60;
        start(script);
        QVERIFY(load());
        QSignalSpy started(relay_.get(), &Relay::generationStarted);
        QSignalSpy finished(relay_.get(), &Relay::generationFinished);
        emit requestGenerate(1, question(words(100)), SamplingSettings{});
        QVERIFY(finished.wait(5000));
        const EngineResult result = resultOf(finished, 1);
        QCOMPARE(result.end, EngineResult::End::Error);
        // "be brief" (4 + 2) + 100 words (4 + 100).
        QCOMPARE(result.message, QStringLiteral("This message is too long for the model's context (110 tokens; the "
                                                "context holds 60). Shorten it, or raise the context length in "
                                                "Settings and reload the model."));
        QCOMPARE(started.count(), 0);
    }

    void engine_failure_keeps_streamed_text() {
        FakeChatEngine::Script script;
        script.failWith = QStringLiteral("backend exploded");
        start(script);
        QVERIFY(load());
        QSignalSpy appended(relay_.get(), &Relay::textAppended);
        QSignalSpy finished(relay_.get(), &Relay::generationFinished);
        emit requestGenerate(1, question(QStringLiteral("boom now")), SamplingSettings{});
        QVERIFY(finished.wait(5000));
        const EngineResult result = resultOf(finished, 1);
        QCOMPARE(result.end, EngineResult::End::Error);
        QCOMPARE(result.message, QStringLiteral("backend exploded"));
        QCOMPARE(result.text, QStringLiteral("Echo:"));
        QCOMPARE(streamedText(appended, 1), QStringLiteral("Echo:"));
    }

    // Connected straight to the worker (no relay), the signals still run on the receiver's thread.
    void signals_arrive_on_receiver_thread() {
        start();
        QObject receiver;
        QList<QThread*> threads;
        const auto record = [&] { threads << QThread::currentThread(); };
        connect(worker_, &InferenceWorker::modelLoaded, &receiver, record);
        connect(worker_, &InferenceWorker::textAppended, &receiver, record);
        connect(worker_, &InferenceWorker::generationFinished, &receiver, record);
        QVERIFY(load());
        QSignalSpy finished(relay_.get(), &Relay::generationFinished);
        emit requestGenerate(1, question(QStringLiteral("which thread")), SamplingSettings{});
        QVERIFY(finished.wait(5000));
        QTRY_VERIFY(threads.size() >= 3);
        for (QThread* t : threads) {
            QCOMPARE(t, QThread::currentThread());
            QVERIFY(t != &thread_);
        }
    }
};

QTEST_GUILESS_MAIN(TestInferenceWorker)
#include "test_inference_worker.moc"
