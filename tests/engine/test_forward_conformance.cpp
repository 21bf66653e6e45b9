// The forward pass against the conformance kit's reference logits (README tolerances):
// - `ref` (float32 over exactly decoded weights) strictly against every .deq.json: every listed
//   logit and lse within 2e-3, the same top-1 at every position, the same greedy tokens;
// - `cpu` (the fast path, activations rounded for quantised dot products) within the fast-path
//   tolerance: mean |Δlogit| over the listed ids <= 0.15, top-1 agreement >= 85%;
// - `cuda` on the CPU emulator (LATENT_GPU_EMULATOR=1, the GPU plugin's real code; an f16 cache,
//   as the GPU keeps it) within the same fast-path tolerance. Skipped, saying so, in a build
//   without the emulator plugin.
#include "backend/backend.h"
#include "model/model.h"
#include "logit_compare.h"
#include "reference_logits.h"
#include "test_support.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <numeric>

using namespace latent;

namespace {

test::ReferenceLogits load_expected(const std::filesystem::path& path) {
    return test::parse_reference_logits(QJsonDocument::fromJson(QByteArray::fromStdString(test::read_text_file(path))).object());
}

} // namespace

class TestForwardConformance : public QObject {
    Q_OBJECT

private slots:
    void kit_data() {
        QTest::addColumn<QString>("backend");
        QTest::addColumn<QString>("model");
        QTest::addColumn<QString>("prompt");
        for (const char* backend : {"ref", "cpu", "cuda"}) {
            for (const char* model : {"tiny-v2lite-f32e", "tiny-v3-f32e", "tiny-v3-q8_0"}) {
                for (const char* prompt : {"short", "chat", "long"}) {
                    QTest::newRow(qPrintable(QString("%1 %2 %3").arg(backend, model, prompt))) << backend << model << prompt;
                }
            }
        }
    }

    void kit() {
        LATENT_REQUIRE_CONFORMANCE(kit);
        QFETCH(QString, backend);
        QFETCH(QString, model);
        QFETCH(QString, prompt);
        const test::ReferenceLogits e = load_expected(kit / "expected" / (model + "." + prompt + ".deq.json").toStdString());
        const auto m = Model::load(kit / "models" / (model + ".gguf").toStdString());
        const std::vector<int32_t> tokens = m->tokenizer().encode(test::read_text_file(kit / "prompts" / (prompt + ".txt").toStdString()), true, true);
        QCOMPARE(tokens, e.tokens);

        BackendOptions options;
        options.n_ctx = static_cast<uint32_t>(tokens.size() + e.greedy.size() + 1);
        options.cache_type = KvCacheType::F32; // the kit was made with a float32 cache
        std::string skip;
        const std::unique_ptr<Backend> b = test::backend_named(*m, backend.toStdString(), options, &skip);
        if (!b) QSKIP(skip.c_str());
        const size_t n_vocab = m->config().n_vocab;
        const std::vector<float> logits = test::all_logits(*b, tokens);

        const bool strict = backend == "ref";
        const test::ReferenceCheck check = test::check_reference_logits(logits, n_vocab, e, strict);
        qInfo("%s: %zu positions, max |dlogit| %.2e, mean %.2e, top-1 agreement %.1f%%", qPrintable(backend), tokens.size(), check.max_err,
              check.mean_err, 100.0 * check.top1);
        QVERIFY2(check.failure.empty(), check.failure.c_str());

        // Greedy continuation, one token at a time.
        const std::vector<int32_t> greedy = test::greedy_continuation(*b, logits, n_vocab, e.greedy.size());
        if (strict) {
            QCOMPARE(greedy, e.greedy);
        } else {
            const size_t same = static_cast<size_t>(std::mismatch(greedy.begin(), greedy.end(), e.greedy.begin()).first - greedy.begin());
            qInfo("greedy: first %zu of %zu tokens identical", same, greedy.size());
        }
    }
};

int main(int argc, char** argv) {
    // The cuda rows run the GPU plugin on the CPU emulator.
    setenv("LATENT_GPU_EMULATOR", "1", 1);
    TestForwardConformance test;
    return QTest::qExec(&test, argc, argv);
}
#include "test_forward_conformance.moc"
