// EngineChatEngine over real (tiny, generated) models: loading with progress and cancel, the
// facts against latent::inspect_model, backend choice, context clamping, greedy generation,
// stops, token limits, prompt counting against the chat format, broken files, and the
// reasoning split.
#include "inference/engine_chat_engine.h"

#include "engine.h"
#include "model/model_builder.h"
#include "model/model_info.h"
#include "test_support.h"

#include <QFile>
#include <QSet>
#include <QTemporaryDir>
#include <QTest>

#include <string>

using latent::test::to_path;

namespace {

std::vector<ChatTurn> conversation() {
    return {{ChatTurn::Role::System, QStringLiteral("You are a helpful assistant.")},
            {ChatTurn::Role::User, QStringLiteral("Hello, how are you today?")}};
}

SamplingSettings greedy(int maxNewTokens = 16) {
    SamplingSettings s;
    s.temperature = 0.0;
    s.maxNewTokens = maxNewTokens;
    return s;
}

LoadSettings smallLoad(int contextLength = 1024, const QString& backend = QStringLiteral("auto")) {
    LoadSettings settings;
    settings.contextLength = contextLength;
    settings.threads = 2;
    settings.backend = backend;
    return settings;
}

struct Generated {
    EngineResult result;
    QByteArray pieces; // the streamed bytes, concatenated
    int pieceCount = 0;
};

Generated run(EngineChatEngine& engine, const std::vector<ChatTurn>& turns, const SamplingSettings& settings,
              const std::atomic<bool>* stop = nullptr, const std::function<void(int)>& afterPiece = {}) {
    Generated g;
    g.result = engine.generate(turns, settings, [&](std::string_view piece) {
        g.pieces.append(piece.data(), static_cast<qsizetype>(piece.size()));
        ++g.pieceCount;
        if (afterPiece) afterPiece(g.pieceCount);
    }, stop);
    return g;
}

} // namespace

class TestEngineChatEngine : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    QString path(const QString& name) const { return dir_.filePath(name); }

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        latent::BuildOptions f32;
        latent::build_model_file(*latent::model_shape_preset("tiny"), f32, to_path(path("tiny.gguf")));

        latent::BuildOptions q8;
        q8.scheme = latent::WeightScheme::Q8_0;
        latent::build_model_file(*latent::model_shape_preset("tiny-v3"), q8, to_path(path("tiny-v3.gguf")));

        // No general.name and no general.file_type: the facts fall back to the file name and
        // the dominant tensor type.
        latent::BuildOptions bare;
        bare.omit_keys = {"general.name", "general.file_type"};
        latent::build_model_file(*latent::model_shape_preset("tiny"), bare, to_path(path("tiny-bare.gguf")));

        latent::ModelShape shortContext = *latent::model_shape_preset("tiny");
        shortContext.n_ctx_train = 512;
        shortContext.yarn = false;
        latent::build_model_file(shortContext, f32, to_path(path("short.gguf")));
    }

    // ---- Loading ------------------------------------------------------------------------------

    void load_reports_facts_of_the_file_data() {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QString>("name");
        QTest::addColumn<QString>("quantization");
        QTest::newRow("tiny f32") << "tiny.gguf" << "random-tiny" << "F32";
        QTest::newRow("tiny-v3 q8_0") << "tiny-v3.gguf" << "random-tiny-v3" << "Q8_0";
        QTest::newRow("no name, no file type") << "tiny-bare.gguf" << "tiny-bare.gguf" << "F32 (dominant type)";
    }

    void load_reports_facts_of_the_file() {
        QFETCH(QString, file);
        QFETCH(QString, name);
        QFETCH(QString, quantization);

        EngineChatEngine engine;
        QVERIFY(!engine.isLoaded());
        std::vector<double> progress;
        const ModelFacts facts = engine.load(path(file), smallLoad(), [&](double p) {
            progress.push_back(p);
            return true;
        });
        QVERIFY(engine.isLoaded());

        QVERIFY(progress.size() >= 2);
        for (size_t i = 1; i < progress.size(); ++i) QVERIFY2(progress[i] >= progress[i - 1], "progress went back");
        QCOMPARE(progress.front(), 0.0);
        QCOMPARE(progress.back(), 1.0);

        const latent::ModelInfo info = latent::inspect_model(to_path(path(file)));
        QCOMPARE(facts.path, path(file));
        QCOMPARE(facts.name, name);
        QCOMPARE(facts.quantization, quantization);
        QCOMPARE(facts.quantization, QString::fromStdString(info.quantization));
        QCOMPARE(facts.architecture, QStringLiteral("deepseek2"));
        QCOMPARE(facts.fileBytes, static_cast<qint64>(QFile(path(file)).size()));
        QCOMPARE(facts.fileBytes, static_cast<qint64>(info.file_bytes));
        QCOMPARE(facts.totalParams, static_cast<qint64>(info.stats.total_params));
        QCOMPARE(facts.activeParams, static_cast<qint64>(info.stats.active_params));
        QVERIFY(facts.activeParams < facts.totalParams);
        QCOMPARE(facts.layers, static_cast<int>(info.config.n_layer));
        QCOMPARE(facts.experts, static_cast<int>(info.config.n_expert));
        QCOMPARE(facts.expertsUsed, static_cast<int>(info.config.n_expert_used));
        QCOMPARE(facts.sharedExperts, static_cast<int>(info.config.n_expert_shared));
        QCOMPARE(facts.trainedContext, static_cast<int>(info.config.n_ctx_train));
        QCOMPARE(facts.kvBytesPerTokenMla, static_cast<qint64>(info.kv_cache.mla_bytes_per_token));
        QCOMPARE(facts.kvBytesPerTokenMha, static_cast<qint64>(info.kv_cache.mha_bytes_per_token));
        // (kv_lora_rank + rope dims) f16 values per layer.
        QCOMPARE(facts.kvBytesPerTokenMla, qint64{2} * facts.layers * (32 + 16));
        QVERIFY(facts.chatFormat.startsWith(
            QString::fromUtf8(latent::chat::chat_format_name(info.chat_format.format).data())));
        QCOMPARE(facts.contextSize, 1024);
        QCOMPARE(engine.contextSize(), 1024);
        QCOMPARE(facts.backend, QStringLiteral("cpu"));
        QVERIFY(!facts.backendNote.isEmpty()); // auto says what it chose

        engine.unload();
        QVERIFY(!engine.isLoaded());
        QCOMPARE(engine.contextSize(), 0);
    }

    void backend_choice_data() {
        QTest::addColumn<QString>("requested");
        QTest::addColumn<QString>("backend");
        QTest::addColumn<QString>("noteContains"); // "" : no note
        QTest::newRow("auto") << "auto" << "cpu" << "auto";
        QTest::newRow("cpu") << "cpu" << "cpu" << "";
        QTest::newRow("CPU") << "CPU" << "cpu" << "";
        QTest::newRow("cuda falls back") << "cuda" << "cpu" << "cuda";
        QTest::newRow("unknown is auto") << "tpu" << "cpu" << "auto";
    }

    void backend_choice() {
        QFETCH(QString, requested);
        QFETCH(QString, backend);
        QFETCH(QString, noteContains);
        EngineChatEngine engine;
        const ModelFacts facts = engine.load(path("tiny.gguf"), smallLoad(512, requested), {});
        QCOMPARE(facts.backend, backend);
        if (noteContains.isEmpty()) {
            QCOMPARE(facts.backendNote, QString());
        } else {
            QVERIFY2(facts.backendNote.contains(noteContains), qPrintable(facts.backendNote));
        }
    }

    // short.gguf was trained for 512 positions; the cache holds at least 256.
    void context_length_is_clamped_data() {
        QTest::addColumn<int>("requested");
        QTest::addColumn<int>("expected");
        QTest::newRow("above trained") << 100000 << 512;
        QTest::newRow("within") << 300 << 300;
        QTest::newRow("below the floor") << 16 << 256;
    }

    void context_length_is_clamped() {
        QFETCH(int, requested);
        QFETCH(int, expected);
        EngineChatEngine engine;
        const ModelFacts facts = engine.load(path("short.gguf"), smallLoad(requested), {});
        QCOMPARE(facts.trainedContext, 512);
        QCOMPARE(facts.contextSize, expected);
        QCOMPARE(engine.contextSize(), expected);
    }

    void cancel_during_load() {
        EngineChatEngine engine;
        engine.load(path("tiny.gguf"), smallLoad(), {});
        int calls = 0;
        QVERIFY_THROWS_EXCEPTION(LoadCancelled, engine.load(path("tiny-v3.gguf"), smallLoad(), [&](double) {
            return ++calls < 2;
        }));
        QCOMPARE(calls, 2);
        QVERIFY(!engine.isLoaded()); // the old model was replaced, the new one never came
        QCOMPARE(engine.contextSize(), 0);
    }

    void broken_files_fail_with_a_reason_data() {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QByteArray>("content"); // null: the file does not exist
        QTest::newRow("missing") << "missing.gguf" << QByteArray();
        QTest::newRow("not gguf") << "notes.gguf" << QByteArray("these are my notes, not a model\n");
        QTest::newRow("empty") << "empty.gguf" << QByteArray("");
        QFile tiny(path("tiny.gguf"));
        QVERIFY(tiny.open(QIODevice::ReadOnly));
        QTest::newRow("truncated") << "truncated.gguf" << tiny.read(5000);
    }

    void broken_files_fail_with_a_reason() {
        QFETCH(QString, file);
        QFETCH(QByteArray, content);
        if (!content.isNull()) {
            QFile out(path(file));
            QVERIFY(out.open(QIODevice::WriteOnly));
            out.write(content);
        }
        EngineChatEngine engine;
        try {
            engine.load(path(file), smallLoad(), {});
            QFAIL("a broken file was loaded");
        } catch (const LoadCancelled&) {
            QFAIL("reported as a cancel");
        } catch (const std::exception& e) {
            const QString message = QString::fromUtf8(e.what());
            QVERIFY2(message.contains(file), qPrintable(message));
            QVERIFY2(message.size() > file.size() + 16, qPrintable(message)); // says more than the name
        }
        QVERIFY(!engine.isLoaded());
    }

    // ---- Generation ---------------------------------------------------------------------------

    void not_loaded() {
        EngineChatEngine engine;
        QCOMPARE(engine.countPromptTokens(conversation()), 0);
        const EngineResult result = engine.generate(conversation(), greedy(), {}, nullptr);
        QCOMPARE(result.end, EngineResult::End::Error);
        QVERIFY(!result.message.isEmpty());
    }

    void greedy_generation_is_repeatable_data() {
        QTest::addColumn<QString>("file");
        QTest::newRow("tiny") << "tiny.gguf";
        QTest::newRow("tiny-v3") << "tiny-v3.gguf";
    }

    void greedy_generation_is_repeatable() {
        QFETCH(QString, file);
        EngineChatEngine engine;
        engine.load(path(file), smallLoad(), {});
        const Generated first = run(engine, conversation(), greedy());
        QVERIFY2(first.result.end == EngineResult::End::Complete || first.result.end == EngineResult::End::MaxTokens,
                 qPrintable(first.result.message));
        QVERIFY(first.result.generatedTokens > 0);
        QVERIFY(first.result.generatedTokens <= 16);
        QCOMPARE(first.result.text, QString::fromUtf8(first.pieces));
        QCOMPARE(first.result.promptTokens, engine.countPromptTokens(conversation()));
        QVERIFY(first.result.timeToFirstTokenMs > 0.0);

        // Again in the same session (prefix reuse), and in a fresh engine.
        const Generated second = run(engine, conversation(), greedy());
        QCOMPARE(second.result.text, first.result.text);
        EngineChatEngine other;
        other.load(path(file), smallLoad(), {});
        QCOMPARE(run(other, conversation(), greedy()).result.text, first.result.text);
    }

    void follow_up_turn() {
        EngineChatEngine engine;
        engine.load(path("tiny-v3.gguf"), smallLoad(), {});
        std::vector<ChatTurn> turns = conversation();
        const Generated first = run(engine, turns, greedy(8));
        turns.push_back({ChatTurn::Role::Assistant,
                         ChatEngine::splitReasoning(first.result.text, first.result.startedInReasoning).answer});
        turns.push_back({ChatTurn::Role::User, QStringLiteral("And what comes next?")});
        const Generated second = run(engine, turns, greedy(8));
        QVERIFY2(second.result.end == EngineResult::End::Complete || second.result.end == EngineResult::End::MaxTokens,
                 qPrintable(second.result.message));
        QVERIFY(second.result.promptTokens > first.result.promptTokens);
        QCOMPARE(second.result.promptTokens, engine.countPromptTokens(turns));
        QCOMPARE(second.result.text, QString::fromUtf8(second.pieces));
    }

    void stop_flag_ends_generation() {
        EngineChatEngine engine;
        engine.load(path("tiny.gguf"), smallLoad(), {});
        std::atomic<bool> stop{false};
        const Generated g = run(engine, conversation(), greedy(64), &stop, [&](int pieces) {
            if (pieces == 3) stop.store(true);
        });
        QCOMPARE(g.result.end, EngineResult::End::Stopped);
        QCOMPARE(g.pieceCount, 3);
        QCOMPARE(g.result.text, QString::fromUtf8(g.pieces));

        // A flag already set stops before the first token.
        const Generated none = run(engine, conversation(), greedy(64), &stop);
        QCOMPARE(none.result.end, EngineResult::End::Stopped);
        QCOMPARE(none.pieceCount, 0);
    }

    void max_new_tokens_respected_data() {
        QTest::addColumn<int>("maxNewTokens");
        QTest::newRow("1") << 1;
        QTest::newRow("5") << 5;
        QTest::newRow("12") << 12;
    }

    void max_new_tokens_respected() {
        QFETCH(int, maxNewTokens);
        EngineChatEngine engine;
        engine.load(path("tiny.gguf"), smallLoad(), {});
        SamplingSettings settings = greedy(maxNewTokens);
        settings.temperature = 0.9; // sampled, random seed
        const Generated g = run(engine, conversation(), settings);
        QVERIFY(g.result.generatedTokens >= 1);
        QVERIFY(g.result.generatedTokens <= maxNewTokens);
        if (g.result.end == EngineResult::End::MaxTokens) QCOMPARE(g.result.generatedTokens, maxNewTokens);
        else QCOMPARE(g.result.end, EngineResult::End::Complete);
    }

    // Seed 0 picks a fresh seed each time; a fixed seed repeats.
    void seed_zero_is_random() {
        EngineChatEngine engine;
        engine.load(path("tiny.gguf"), smallLoad(), {});
        SamplingSettings settings = greedy(24);
        settings.temperature = 1.5;
        settings.topK = 0;
        settings.topP = 1.0;
        settings.minP = 0.0;
        settings.seed = 42;
        QCOMPARE(run(engine, conversation(), settings).result.text, run(engine, conversation(), settings).result.text);
        settings.seed = 0;
        QSet<QString> texts;
        for (int i = 0; i < 4; ++i) texts.insert(run(engine, conversation(), settings).result.text);
        QVERIFY2(texts.size() > 1, "seed 0 gave the same text four times");
    }

    // The count is what the session evaluates: the chat format with BOS and the generation
    // prompt, earlier reasoning dropped.
    void count_prompt_tokens_matches_chat_format_data() {
        QTest::addColumn<QString>("file");
        QTest::newRow("deepseek2 format") << "tiny.gguf";
        QTest::newRow("deepseek3 format") << "tiny-v3.gguf";
    }

    void count_prompt_tokens_matches_chat_format() {
        QFETCH(QString, file);
        const std::vector<ChatTurn> turns{{ChatTurn::Role::System, QStringLiteral("Be brief.")},
                                          {ChatTurn::Role::User, QStringLiteral("What is MLA?")},
                                          {ChatTurn::Role::Assistant, QStringLiteral("Latent attention.")},
                                          {ChatTurn::Role::User, QStringLiteral("Thanks — and MoE? ünïcödé")}};
        const std::vector<latent::chat::ChatMessage> messages{
            {latent::chat::ChatMessage::System, "Be brief."},
            {latent::chat::ChatMessage::User, "What is MLA?"},
            {latent::chat::ChatMessage::Assistant, "Latent attention."},
            {latent::chat::ChatMessage::User, "Thanks — and MoE? ünïcödé"}};
        const auto model = latent::Model::load(to_path(path(file)));
        latent::chat::ChatOptions options;
        options.think_prefix = model->chat_format().think_prefix;
        const size_t expected =
            latent::chat::chat_to_tokens(model->tokenizer(), model->chat_format().format, messages, options).size();

        EngineChatEngine engine;
        engine.load(path(file), smallLoad(), {});
        QCOMPARE(engine.countPromptTokens(turns), static_cast<int>(expected));
        QVERIFY(expected > 10);
        QCOMPARE(engine.promptOpensReasoning(), model->chat_format().think_prefix);
    }

    // ---- Reasoning split ----------------------------------------------------------------------

    void split_reasoning_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<bool>("startedInReasoning");
        QTest::addColumn<QString>("reasoning");
        QTest::addColumn<QString>("answer");
        QTest::addColumn<bool>("open");
        QTest::newRow("no think") << "Hello there" << false << "" << "Hello there" << false;
        QTest::newRow("closed block") << "<think>a</think>b" << false << "a" << "b" << false;
        QTest::newRow("trimmed") << "<think>\n plan \n</think>\n\n answer " << false << "plan" << "answer" << false;
        QTest::newRow("open while streaming") << "<think>still thinking" << false << "still thinking" << "" << true;
        QTest::newRow("partial close held back") << "<think>abc</th" << false << "abc" << "" << true;
        QTest::newRow("started in reasoning, closed") << "plan</think>answer" << true << "plan" << "answer" << false;
        QTest::newRow("started in reasoning, open") << "pondering" << true << "pondering" << "" << true;
        QTest::newRow("close without open") << "plan</think>answer" << false << "plan" << "answer" << false;
    }

    void split_reasoning() {
        QFETCH(QString, text);
        QFETCH(bool, startedInReasoning);
        QFETCH(QString, reasoning);
        QFETCH(QString, answer);
        QFETCH(bool, open);
        const ChatEngine::Split split = ChatEngine::splitReasoning(text, startedInReasoning);
        QCOMPARE(split.reasoning, reasoning);
        QCOMPARE(split.answer, answer);
        QCOMPARE(split.reasoningOpen, open);
    }
};

QTEST_GUILESS_MAIN(TestEngineChatEngine)
#include "test_engine_chat_engine.moc"
