// The `latent` CLI as other tools use it: real process, real files, exit codes and stderr.
#include "core/error.h"
#include "gguf/gguf.h"
#include "model/model_builder.h"
#include "tensor/tensor_types.h"
#include "test_support.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QtTest>

#include <cmath>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>

using namespace latent;

namespace {

struct Run {
    int exit_code = -1;
    QByteArray out, err;
};

Run run_cli(const QStringList& args, const QByteArray& input = {}, int timeout_ms = 120000, const QProcessEnvironment& env = QProcessEnvironment::systemEnvironment()) {
    QProcess p;
    p.setProcessEnvironment(env);
    p.start(QString::fromStdString(test::cli_path().string()), args);
    if (!p.waitForStarted(10000)) return {};
    if (!input.isEmpty()) p.write(input);
    p.closeWriteChannel();
    if (!p.waitForFinished(timeout_ms)) {
        p.kill(); // a hang is a failure: exit code -1
        p.waitForFinished(10000);
    }
    Run r;
    r.exit_code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = p.readAllStandardOutput();
    r.err = p.readAllStandardError();
    return r;
}

QJsonObject parse_object(const QByteArray& bytes) {
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(bytes, &error);
    if (error.error != QJsonParseError::NoError || !doc.isObject()) qWarning("not a JSON object: %s", bytes.constData());
    return doc.object();
}

QString str(const std::filesystem::path& p) { return QString::fromStdString(p.string()); }

} // namespace

class TestCli : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    std::filesystem::path tiny_;   // generated "tiny" model, F32
    std::filesystem::path tiny_q_; // generated "tiny-v3" model, Q4_K_M

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        tiny_ = test::to_path(dir_.filePath("tiny.gguf"));
        BuildOptions options;
        options.seed = 7;
        build_model_file(*model_shape_preset("tiny"), options, tiny_);
        tiny_q_ = test::to_path(dir_.filePath("tiny-v3-q4km.gguf"));
        options.scheme = WeightScheme::Q4_K_M;
        ModelShape wide = *model_shape_preset("tiny-v3");
        wide.n_embd = 256; // so that Q4_K applies (ne0 must be a multiple of 256)
        build_model_file(wide, options, tiny_q_);
    }

    void help_and_usage_errors() {
        const Run help = run_cli({"--help"});
        QCOMPARE(help.exit_code, 0);
        QVERIFY(help.out.contains("info") && help.out.contains("tokenize") && help.out.contains("dump"));
        const Run none = run_cli({});
        QVERIFY(none.exit_code != 0);
        const Run unknown = run_cli({"frobnicate"});
        QVERIFY(unknown.exit_code != 0);
        QVERIFY(unknown.err.contains("unknown command 'frobnicate'"));
        const Run bad_option = run_cli({"info", "--bogus"});
        QVERIFY(bad_option.exit_code != 0);
        QVERIFY2(bad_option.err.contains("unknown option '--bogus'"), bad_option.err.constData());
        const Run no_model = run_cli({"info"});
        QVERIFY(no_model.exit_code != 0);
        QVERIFY(no_model.err.contains("--model"));
        const Run version = run_cli({"--version"});
        QCOMPARE(version.exit_code, 0);
        QVERIFY(version.out.startsWith("latent "));
    }

    void info_on_generated_model() {
        const Run text = run_cli({"info", "-m", str(tiny_)});
        QCOMPARE(text.exit_code, 0);
        QVERIFY2(text.out.contains("architecture:      deepseek2"), text.out.constData());
        QVERIFY(text.out.contains("kv cache:"));
        QVERIFY(text.out.contains("chat format:"));

        const Run json = run_cli({"info", "-m", str(tiny_q_), "--json"});
        QCOMPARE(json.exit_code, 0);
        const QJsonObject o = parse_object(json.out);
        const ModelShape shape = *model_shape_preset("tiny-v3");
        QCOMPARE(o["architecture"].toString(), QString("deepseek2"));
        QCOMPARE(o["quantization"].toString(), QString("Q4_K_M"));
        QCOMPARE(o["n_layer"].toInt(), static_cast<int>(shape.n_layer));
        QCOMPARE(o["n_embd"].toInt(), 256);
        QCOMPARE(o["attention"].toObject()["q_lora_rank"].toInt(), static_cast<int>(shape.q_lora_rank));
        QCOMPARE(o["ffn"].toObject()["n_expert"].toInt(), static_cast<int>(shape.n_expert));
        QCOMPARE(o["ffn"].toObject()["gating"].toString(), QString("sigmoid"));
        QCOMPARE(o["chat_format"].toObject()["name"].toString(), QString("deepseek3"));
        // KV cache bytes per token: MLA keeps kv_lora_rank + rope dims per layer; uncompressed
        // keeps every head's key and value.
        const QJsonObject kv = o["kv_cache_bytes_per_token"].toObject();
        const double mla = shape.n_layer * (shape.kv_lora_rank + shape.qk_rope_dim) * 2.0;
        const double mha = shape.n_layer * shape.n_head * (shape.qk_head_dim() + shape.v_head_dim) * 2.0;
        QCOMPARE(kv["mla"].toDouble(), mla);
        QCOMPARE(kv["uncompressed"].toDouble(), mha);
        QVERIFY(std::abs(kv["reduction_percent"].toDouble() - 100.0 * (1.0 - mla / mha)) < 1e-3);
        // Parameters: total = all tensor elements in the file.
        auto files = gguf::ModelFiles::open(tiny_q_);
        double total = 0;
        for (const auto& t : files->tensors()) total += static_cast<double>(t.element_count());
        QCOMPARE(o["parameters"].toObject()["total"].toDouble(), total);
        QVERIFY(o["parameters"].toObject()["active_per_token"].toDouble() < total);
        const QJsonArray types = o["tensor_types"].toArray();
        QVERIFY(types.size() >= 3); // f32 norms, q4_K body, q6_K output at least
    }

    void info_on_conformance_models_data() {
        QTest::addColumn<QString>("model");
        QTest::addColumn<int>("layers");
        QTest::addColumn<int>("experts");
        QTest::addColumn<int>("used");
        QTest::addColumn<int>("shared");
        QTest::addColumn<QString>("gating");
        QTest::addColumn<QString>("chat");
        QTest::newRow("tiny-v2lite-f32e") << "tiny-v2lite-f32e" << 27 << 6 << 2 << 2 << "softmax" << "deepseek2";
        QTest::newRow("tiny-v3-f32e") << "tiny-v3-f32e" << 4 << 16 << 4 << 1 << "sigmoid" << "deepseek3";
        QTest::newRow("tiny-v3-q8_0") << "tiny-v3-q8_0" << 4 << 16 << 4 << 1 << "sigmoid" << "deepseek3";
    }
    void info_on_conformance_models() {
        LATENT_REQUIRE_CONFORMANCE(kit);
        QFETCH(QString, model);
        QFETCH(int, layers);
        QFETCH(int, experts);
        QFETCH(int, used);
        QFETCH(int, shared);
        QFETCH(QString, gating);
        QFETCH(QString, chat);
        const Run r = run_cli({"info", "-m", str(kit / "models" / (model.toStdString() + ".gguf")), "--json"});
        QCOMPARE(r.exit_code, 0);
        const QJsonObject o = parse_object(r.out);
        QCOMPARE(o["n_layer"].toInt(), layers);
        QCOMPARE(o["n_leading_dense"].toInt(), 1);
        QCOMPARE(o["ffn"].toObject()["n_expert"].toInt(), experts);
        QCOMPARE(o["ffn"].toObject()["n_expert_used"].toInt(), used);
        QCOMPARE(o["ffn"].toObject()["n_expert_shared"].toInt(), shared);
        QCOMPARE(o["ffn"].toObject()["gating"].toString(), gating);
        QCOMPARE(o["chat_format"].toObject()["name"].toString(), chat);
        QCOMPARE(o["rope"].toObject()["scaling"].toString(), QString("yarn"));
        QCOMPARE(o["rope"].toObject()["factor"].toDouble(), 40.0);
        QCOMPARE(o["tokenizer"].toObject()["tokens"].toInt(), 32256);
        QCOMPARE(o["attention"].toObject()["q_lora_rank"].toInt() > 0, model.startsWith("tiny-v3"));
    }

    void info_on_bad_files() {
        const auto garbage = test::to_path(dir_.filePath("garbage.gguf"));
        {
            QFile f(str(garbage));
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write("this is not a model");
        }
        const Run r = run_cli({"info", "-m", str(garbage)});
        QVERIFY(r.exit_code != 0);
        QVERIFY2(r.err.contains("not a GGUF file"), r.err.constData());
        QVERIFY(r.out.isEmpty());
        const Run missing = run_cli({"info", "-m", dir_.filePath("absent.gguf")});
        QVERIFY(missing.exit_code != 0);
        QVERIFY(missing.err.contains("absent.gguf"));
        // Truncated model: cut the generated file in half.
        const auto cut = test::to_path(dir_.filePath("cut.gguf"));
        std::filesystem::copy_file(tiny_, cut);
        std::filesystem::resize_file(cut, std::filesystem::file_size(tiny_) / 2);
        const Run truncated = run_cli({"info", "-m", str(cut)});
        QVERIFY(truncated.exit_code != 0);
        QVERIFY2(truncated.err.contains("extends beyond the end of the file"), truncated.err.constData());
    }

    void tokenize_kit_vocabulary() {
        LATENT_REQUIRE_CONFORMANCE(kit);
        const QString vocab = str(kit / "vocab" / "deepseek-llm.gguf");
        // Expected ids are the kit's reference (tokenizer/deepseek-llm.jsonl, first case).
        const Run plain = run_cli({"tokenize", "-m", vocab, "Hello world"});
        QCOMPARE(plain.exit_code, 0);
        QCOMPARE(plain.out, QByteArray("[17464,1843]\n"));
        const Run bos = run_cli({"tokenize", "-m", vocab, "--add-bos", "--parse-special", "Hello world"});
        QCOMPARE(bos.out, QByteArray("[100000,17464,1843]\n"));
        // Every case of the kit through --file, against both reference files.
        for (const char* pre : {"deepseek-llm", "deepseek-v3"}) {
            const QString jsonl = QString::fromStdString(test::read_text_file(kit / "tokenizer" / (std::string(pre) + ".jsonl")));
            int checked = 0;
            for (const QString& line : jsonl.split('\n', Qt::SkipEmptyParts)) {
                const QJsonObject c = QJsonDocument::fromJson(line.toUtf8()).object();
                const auto text_path = test::to_path(dir_.filePath("case.txt"));
                {
                    QFile f(str(text_path));
                    QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
                    f.write(c["text"].toString().toUtf8());
                }
                const Run r = run_cli({"tokenize", "-m", vocab, "--pre", pre, "--file", str(text_path), "--add-bos", "--parse-special"});
                QCOMPARE(r.exit_code, 0);
                const QJsonArray got = QJsonDocument::fromJson(r.out).array();
                QCOMPARE(got, c["ids_bos_special"].toArray());
                if (++checked == 12) break; // the tokenizer suite checks every case in-process
            }
            QCOMPARE(checked, 12);
        }
    }

    void tokenize_errors() {
        const Run both = run_cli({"tokenize", "-m", str(tiny_), "--file", "x", "text"});
        QVERIFY(both.exit_code != 0);
        const Run no_text = run_cli({"tokenize", "-m", str(tiny_)});
        QVERIFY(no_text.exit_code != 0);
        const Run bad_pre = run_cli({"tokenize", "-m", str(tiny_), "--pre", "gpt-17", "x"});
        QVERIFY(bad_pre.exit_code != 0);
        QVERIFY2(bad_pre.err.contains("gpt-17"), bad_pre.err.constData());
        // Special parsing is off unless asked: the BOS text becomes several ordinary tokens.
        const Run special = run_cli({"tokenize", "-m", str(tiny_), "--parse-special", "<｜begin▁of▁sentence｜>"});
        const Run plain = run_cli({"tokenize", "-m", str(tiny_), "<｜begin▁of▁sentence｜>"});
        QCOMPARE(QJsonDocument::fromJson(special.out).array().size(), 1);
        QVERIFY(QJsonDocument::fromJson(plain.out).array().size() > 1);
    }

    // dump writes the decoded tensor; checked against an independent decoding written here.
    void dump_tensors() {
        auto files = gguf::ModelFiles::open(tiny_q_);
        // An F32 tensor: the bytes as stored.
        const gguf::TensorInfo* norm = files->find_tensor("blk.0.attn_norm.weight");
        QVERIFY(norm && norm->type == TensorType::F32);
        const Run r = run_cli({"dump", "-m", str(tiny_q_), "--tensor", "blk.0.attn_norm.weight"});
        QCOMPARE(r.exit_code, 0);
        QCOMPARE(static_cast<uint64_t>(r.out.size()), norm->size_bytes);
        QVERIFY(std::memcmp(r.out.constData(), norm->data, norm->size_bytes) == 0);
        // A Q4_K tensor: decode with the spec's closed form (deepseek2-gguf.md §7.4).
        const gguf::TensorInfo* q = nullptr;
        for (const auto& t : files->tensors()) {
            if (t.type == TensorType::Q4_K) {
                q = &t;
                break;
            }
        }
        QVERIFY(q);
        const Run rq = run_cli({"dump", "-m", str(tiny_q_), "-t", QString::fromStdString(q->name)});
        QCOMPARE(rq.exit_code, 0);
        QCOMPARE(static_cast<uint64_t>(rq.out.size()), q->element_count() * 4);
        const float* got = reinterpret_cast<const float*>(rq.out.constData());
        const uint64_t blocks = q->element_count() / 256;
        for (uint64_t b = 0; b < blocks; ++b) {
            const uint8_t* blk = q->data + b * 144;
            uint16_t dh, mh;
            std::memcpy(&dh, blk, 2);
            std::memcpy(&mh, blk + 2, 2);
            const float d = fp16_to_fp32(dh), dmin = fp16_to_fp32(mh);
            const uint8_t* s = blk + 4;
            for (int e = 0; e < 256; ++e) {
                const int g = e / 64, r64 = e % 64, k = 2 * g + (r64 >= 32 ? 1 : 0);
                const uint8_t byte = blk[16 + 32 * g + (r64 % 32)];
                const int qv = r64 < 32 ? (byte & 0xF) : (byte >> 4);
                int sc, m;
                if (k < 4) {
                    sc = s[k] & 63;
                    m = s[k + 4] & 63;
                } else {
                    sc = (s[k + 4] & 0x0F) | ((s[k - 4] >> 6) << 4);
                    m = (s[k + 4] >> 4) | ((s[k] >> 6) << 4);
                }
                const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
                const float expected = d1 * static_cast<float>(qv) - m1;
                if (got[b * 256 + e] != expected) QFAIL(qPrintable(QString("element %1 differs").arg(b * 256 + e)));
            }
        }
        const Run missing_tensor = run_cli({"dump", "-m", str(tiny_q_), "--tensor", "no.such.tensor"});
        QVERIFY(missing_tensor.exit_code != 0);
        QVERIFY(missing_tensor.err.contains("no tensor named 'no.such.tensor'"));
    }

    // eval prints the kit's JSON shape; with the ref backend it reproduces the kit's logits.
    void eval_matches_kit() {
        LATENT_REQUIRE_CONFORMANCE(kit);
        const Run r = run_cli({"eval", "-m", str(kit / "models" / "tiny-v3-f32e.gguf"), "--file", str(kit / "prompts" / "short.txt"), "--backend", "ref"});
        QCOMPARE(r.exit_code, 0);
        const QJsonObject got = parse_object(r.out);
        const QJsonObject want = parse_object(QByteArray::fromStdString(test::read_text_file(kit / "expected" / "tiny-v3-f32e.short.deq.json")));
        QCOMPARE(got["tokens"].toArray(), want["tokens"].toArray());
        QCOMPARE(got["greedy"].toArray(), want["greedy"].toArray());
        const QJsonArray gp = got["positions"].toArray(), wp = want["positions"].toArray();
        QCOMPARE(gp.size(), wp.size());
        for (qsizetype i = 0; i < gp.size(); ++i) {
            QVERIFY(std::abs(gp[i].toObject()["lse"].toDouble() - wp[i].toObject()["lse"].toDouble()) < 2e-3);
            const QJsonArray gt = gp[i].toObject()["top"].toArray(), wt = wp[i].toObject()["top"].toArray();
            QCOMPARE(gt.size(), 8);
            QCOMPARE(gt[0].toArray()[0].toInt(), wt[0].toArray()[0].toInt());
            QVERIFY(std::abs(gt[0].toArray()[1].toDouble() - wt[0].toArray()[1].toDouble()) < 2e-3);
        }
    }

    void run_and_make_model() {
        const auto made = test::to_path(dir_.filePath("made.gguf"));
        const Run mk = run_cli({"make-model", "--shape", "tiny-legacy", "--type", "q8_0", "--out", str(made), "--seed", "3"});
        QCOMPARE(mk.exit_code, 0);
        QVERIFY(mk.out.contains("wrote"));
        const Run info = run_cli({"info", "-m", str(made), "--json"});
        QCOMPARE(parse_object(info.out)["quantization"].toString(), QString("Q8_0"));
        QVERIFY(run_cli({"make-model", "--shape", "huge", "--type", "q8_0", "--out", str(made)}).err.contains("unknown shape 'huge'"));

        // Greedy generation is deterministic: two runs give the same text; stats go to stderr.
        const QStringList args{"run", "-m", str(made), "-p", "Hello", "-n", "12", "--temp", "0", "--backend", "cpu"};
        const Run a = run_cli(args), b = run_cli(args);
        QCOMPARE(a.exit_code, 0);
        QCOMPARE(a.out, b.out);
        QVERIFY2(a.err.contains("generated"), a.err.constData());
        const Run chat_mode = run_cli({"run", "-m", str(made), "-p", "Hi", "-n", "4", "--chat", "--system", "Be brief.", "--seed", "1"});
        QCOMPARE(chat_mode.exit_code, 0);
        const Run bad = run_cli({"run", "-m", str(made), "-p", "x", "--temp", "warm"});
        QVERIFY(bad.exit_code != 0);
        QVERIFY(bad.err.contains("--temp"));
    }

    // Without -m, run and chat use the built-in demo model (LATENT_DEMO_MODEL points at a stand-in
    // here), saying so with its label; with none to be found, the error names --model and where it looked.
    void run_without_model_uses_demo_model() {
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert("LATENT_DEMO_MODEL", str(tiny_));
        const Run with_demo = run_cli({"run", "-p", "Hello", "-n", "3", "--temp", "0", "--backend", "cpu"}, {}, 60000, env);
        QCOMPARE(with_demo.exit_code, 0);
        QVERIFY2(with_demo.err.contains("using the built-in demo model") && with_demo.err.contains("not a general assistant"),
                 with_demo.err.constData());
        const QStringList same{"run", "-m", str(tiny_), "-p", "Hello", "-n", "3", "--temp", "0", "--backend", "cpu"};
        QCOMPARE(with_demo.out, run_cli(same).out);
        const Run chat = run_cli({"chat", "-n", "2", "--temp", "0"}, "Hi\n/exit\n", 60000, env);
        QCOMPARE(chat.exit_code, 0);
        QVERIFY2(chat.err.contains("using the built-in demo model"), chat.err.constData());

        env.insert("LATENT_DEMO_MODEL", dir_.filePath("no-demo-here.gguf"));
        const Run missing = run_cli({"run", "-p", "Hello"}, {}, 30000, env);
        QVERIFY(missing.exit_code != 0);
        QVERIFY2(missing.err.contains("--model") && missing.err.contains("no-demo-here.gguf"), missing.err.constData());
    }

    // chat keeps the conversation: the second turn reuses the first turn's cache.
    void chat_reuses_cache_across_turns() {
        const Run r = run_cli({"chat", "-m", str(tiny_), "-n", "6", "--temp", "0"}, "Hello there\nAnd again\n/exit\n");
        QCOMPARE(r.exit_code, 0);
        const QList<QByteArray> stats = [&] {
            QList<QByteArray> out;
            for (const QByteArray& line : r.err.split('\n'))
                if (line.contains("reused")) out.push_back(line);
            return out;
        }();
        QCOMPARE(stats.size(), 2);
        QVERIFY2(stats[0].contains("(0 reused)"), stats[0].constData());
        QVERIFY2(!stats[1].contains("(0 reused)"), stats[1].constData());
    }

    void bench_json() {
        const Run r = run_cli({"bench", "-m", str(tiny_), "-p", "16", "-n", "4", "-r", "1", "--json", "--backend", "cpu"});
        QCOMPARE(r.exit_code, 0);
        const QJsonObject o = parse_object(r.out);
        for (const char* key : {"pp_tokens_per_s", "tg_tokens_per_s", "tg_gb_per_s", "copy_gb_per_s"}) QVERIFY2(o[key].toDouble() > 0, key);
        QCOMPARE(o["warmup"].toBool(), true); // as llama-bench, unless -w 0
        // The read bandwidth measured right before and after the generation run, and the run's
        // share of it: with one run, its GB/s over that bandwidth.
        const double around = o["read_gb_per_s_around_runs"].toDouble();
        QVERIFY(around > 0);
        QVERIFY(qAbs(o["tg_percent_of_read_bandwidth_around_runs"].toDouble() - 100.0 * o["tg_gb_per_s"].toDouble() / around) <
                1e-3 * o["tg_percent_of_read_bandwidth_around_runs"].toDouble());
        const Run unprobed = run_cli({"bench", "-m", str(tiny_), "-p", "0", "-n", "2", "-r", "1", "--probe-around", "0", "--json", "--backend", "cpu"});
        QCOMPARE(unprobed.exit_code, 0);
        QCOMPARE(parse_object(unprobed.out)["read_gb_per_s_around_runs"].toDouble(), 0.0);
        QVERIFY(parse_object(unprobed.out)["read_gb_per_s"].toDouble() > 0); // the one after the runs stays
        const Run cold = run_cli({"bench", "-m", str(tiny_), "-p", "4", "-n", "2", "-r", "1", "-w", "0", "--json", "--backend", "cpu"});
        QCOMPARE(cold.exit_code, 0);
        QCOMPARE(parse_object(cold.out)["warmup"].toBool(), false);
        const Run missing = run_cli({"dump", "-m", str(tiny_q_), "--tensor", "no.such.tensor"});
        QVERIFY(missing.exit_code != 0);
        QVERIFY(missing.err.contains("no tensor named 'no.such.tensor'"));
    }

    // bench-parallel reports, per count, the bytes a step reads: N tokens share everything but
    // their routed experts, each of which is read once per step however many tokens chose it
    // (experts = routed + shared; shared ones are read once per step too).
    void bench_parallel_json() {
        const Run r = run_cli({"bench-parallel", "-m", str(tiny_), "-p", "8", "-n", "6", "-r", "1", "--parallel", "1,4", "--json", "-t", "1"});
        QCOMPARE(r.exit_code, 0);
        const QJsonArray rows = parse_object(r.out)["results"].toArray();
        QCOMPARE(rows.size(), 2);
        const QJsonObject one = rows[0].toObject(), four = rows[1].toObject();
        QCOMPARE(one["parallel"].toInt(), 1);
        QCOMPARE(one["bandwidth_ceiling"].toDouble(), 1.0);
        for (const QJsonObject& o : {one, four}) {
            QVERIFY(o["tokens_per_s"].toDouble() > 0);
            QVERIFY(o["gb_read_per_step"].toDouble() > 0);
            QVERIFY(o["gb_experts_per_step"].toDouble() > 0);
            QVERIFY(o["gb_experts_per_step"].toDouble() < o["gb_read_per_step"].toDouble());
        }
        const double routed1 = one["gb_experts_per_step"].toDouble(), routed4 = four["gb_experts_per_step"].toDouble();
        QVERIFY2(routed4 >= routed1 && routed4 < 4.0 * routed1, qPrintable(QString("%1 vs %2").arg(routed4).arg(routed1)));
        const double shared1 = one["gb_read_per_step"].toDouble() - routed1, shared4 = four["gb_read_per_step"].toDouble() - routed4;
        QVERIFY2(shared4 >= shared1 && shared4 < 2.0 * shared1, "the weights every token uses are read once per step");
        QVERIFY(four["bandwidth_ceiling"].toDouble() > 1.0 && four["bandwidth_ceiling"].toDouble() <= 4.0);
        // --profile: each count's step section by section, the experts among them.
        const Run p = run_cli({"bench-parallel", "-m", str(tiny_), "-p", "4", "-n", "3", "-r", "1", "--parallel", "1,2", "--profile", "-t", "1"});
        QCOMPARE(p.exit_code, 0);
        for (const char* line : {"parallel 1, one decode step by section", "parallel 2, one decode step by section", "MoE: experts", "output head"}) {
            QVERIFY2(p.out.contains(line), p.out.constData());
        }
    }

    void failures_exit_non_zero_data();
    void failures_exit_non_zero();
    void without_qt();
    void prompts_from_pipes();
    void run_model_truncated_while_generating();
};

// Every failure of the CLI as one row: arguments (@model, @dir, @fifo, @missing stand for a
// generated model, a directory, a FIFO and a missing file), the exit status expected, and what
// stderr must say. Nothing may hang (a FIFO given as the model once blocked in open()).
void TestCli::failures_exit_non_zero_data() {
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<int>("exit_code");
    QTest::addColumn<QString>("message");
    const auto row = [](const char* name, QStringList args, int code, const char* message) {
        QTest::newRow(name) << args << code << QString::fromUtf8(message);
    };
    const QStringList run{"run", "-m", "@model", "-p", "Hello"};
    // The context: the prompt does not fit (exit 4).
    row("run --ctx 1", run + QStringList{"--ctx", "1"}, 4, "but the context holds 1");
    row("run prompt longer than the context", QStringList{"run", "-m", "@model", "-p", "one two three four five six seven eight nine ten", "--ctx", "8"}, 4,
        "but the context holds 8");
    // Numeric ranges (exit 2), one message shape for all.
    row("run -n -5", run + QStringList{"-n", "-5"}, 2, "--n-predict must be an integer from 0 to 16777216, got '-5'");
    row("run --top-k -3", run + QStringList{"--top-k", "-3"}, 2, "--top-k must be an integer from 0 to 1000000, got '-3'");
    row("run --temp -1", run + QStringList{"--temp", "-1"}, 2, "--temp must be a number from 0 to 100, got '-1'");
    row("run --temp inf", run + QStringList{"--temp", "inf"}, 2, "--temp must be a number from 0 to 100");
    row("run --top-p 1.5", run + QStringList{"--top-p", "1.5"}, 2, "--top-p must be a number from 0 to 1, got '1.5'");
    row("run --min-p -0.1", run + QStringList{"--min-p", "-0.1"}, 2, "--min-p must be a number from 0 to 1");
    row("run --repeat-penalty 0", run + QStringList{"--repeat-penalty", "0"}, 2, "--repeat-penalty must be a number from 0.01 to 100");
    row("run --presence-penalty 1000", run + QStringList{"--presence-penalty", "1000"}, 2, "--presence-penalty must be a number from -100 to 100");
    row("run --seed -2", run + QStringList{"--seed", "-2"}, 2, "--seed must be -1 (random) or an integer from 0 to 18446744073709551615");
    row("run --seed 1e3", run + QStringList{"--seed", "1e3"}, 2, "--seed must be -1 (random)");
    row("run --ctx 0", run + QStringList{"--ctx", "0"}, 2, "--ctx must be an integer from 1 to 16777216, got '0'");
    row("run --threads -1", run + QStringList{"--threads", "-1"}, 2, "--threads must be an integer from 0 to 1024");
    row("run --cache-type f8", run + QStringList{"--cache-type", "f8"}, 2, "--cache-type must be f16, bf16 (cuda backend) or f32, got 'f8'");
    row("run -p and --file", run + QStringList{"--file", "@missing"}, 2, "give the prompt once");
    row("chat -n -1", QStringList{"chat", "-m", "@model", "-n", "-1"}, 2, "--n-predict must be an integer from 0 to 16777216");
    row("chat --top-k -3", QStringList{"chat", "-m", "@model", "--top-k", "-3"}, 2, "--top-k must be an integer");
    row("eval --top 0", QStringList{"eval", "-m", "@model", "--file", "@missing", "--top", "0"}, 2, "--top must be an integer from 1 to 1000000");
    row("eval --greedy -1", QStringList{"eval", "-m", "@model", "--file", "@missing", "--greedy", "-1"}, 2, "--greedy must be an integer from 0 to 65536");
    row("eval --cache-type x", QStringList{"eval", "-m", "@model", "--file", "@missing", "--cache-type", "x"}, 2, "--cache-type must be f16, bf16 (cuda backend) or f32");
    row("eval --threads 5000", QStringList{"eval", "-m", "@model", "--file", "@missing", "--threads", "5000"}, 2, "--threads must be an integer from 0 to 1024");
    row("bench --reps 0", QStringList{"bench", "-m", "@model", "--reps", "0"}, 2, "--reps must be an integer from 1 to 1000");
    row("bench --prompt -1", QStringList{"bench", "-m", "@model", "--prompt", "-1"}, 2, "--prompt must be an integer from 0 to 1048576");
    row("bench --gen -1", QStringList{"bench", "-m", "@model", "--gen", "-1"}, 2, "--gen must be an integer from 0 to 1048576");
    row("bench --warmup 2", QStringList{"bench", "-m", "@model", "--warmup", "2"}, 2, "--warmup must be an integer from 0 to 1");
    row("bench --probe-around 2", QStringList{"bench", "-m", "@model", "--probe-around", "2"}, 2, "--probe-around must be an integer from 0 to 1");
    row("bench --depth -1", QStringList{"bench", "-m", "@model", "--depth", "-1"}, 2, "--depth must be an integer from 0 to 1048576");
    row("bench --cache-type f8", QStringList{"bench", "-m", "@model", "--cache-type", "f8"}, 2, "--cache-type must be f16, bf16 (cuda backend) or f32");
    row("make-model --seed -1", QStringList{"make-model", "--shape", "tiny", "--type", "f32", "--out", "@missing", "--seed", "-1"}, 2,
        "--seed must be an integer from 0 to 18446744073709551615");
    // Input files: directories, endless devices and missing files (exit 1).
    row("run --file DIR", QStringList{"run", "-m", "@model", "--file", "@dir"}, 1, "is a directory, not a file");
    row("run --file /dev/zero", QStringList{"run", "-m", "@model", "--file", "/dev/zero"}, 1, "holds more than the 64 MiB an input may have");
    row("run --file missing", QStringList{"run", "-m", "@model", "--file", "@missing"}, 1, "No such file");
    row("eval --file DIR", QStringList{"eval", "-m", "@model", "--file", "@dir"}, 1, "is a directory, not a file");
    row("eval --file /dev/zero", QStringList{"eval", "-m", "@model", "--file", "/dev/zero"}, 1, "64 MiB");
    row("tokenize --file DIR", QStringList{"tokenize", "-m", "@model", "--file", "@dir"}, 1, "is a directory, not a file");
    row("tokenize --file /dev/zero", QStringList{"tokenize", "-m", "@model", "--file", "/dev/zero"}, 1, "64 MiB");
    // Models that are not regular files are refused before open() (exit 1), for every command.
    row("run -m FIFO", QStringList{"run", "-m", "@fifo", "-p", "x"}, 1, "is a FIFO, not a regular file");
    row("chat -m FIFO", QStringList{"chat", "-m", "@fifo"}, 1, "is a FIFO, not a regular file");
    row("info -m FIFO", QStringList{"info", "-m", "@fifo"}, 1, "is a FIFO, not a regular file");
    row("dump -m FIFO", QStringList{"dump", "-m", "@fifo", "--tensor", "x"}, 1, "is a FIFO, not a regular file");
    row("tokenize -m FIFO", QStringList{"tokenize", "-m", "@fifo", "x"}, 1, "is a FIFO, not a regular file");
    row("eval -m FIFO", QStringList{"eval", "-m", "@fifo", "--file", "/dev/null"}, 1, "is a FIFO, not a regular file");
    row("bench -m FIFO", QStringList{"bench", "-m", "@fifo"}, 1, "is a FIFO, not a regular file");
    row("run -m DIR", QStringList{"run", "-m", "@dir", "-p", "x"}, 1, "is a directory, not a regular file");
    row("make-model --out FIFO", QStringList{"make-model", "--shape", "tiny", "--type", "f32", "--out", "@fifo"}, 1, "is a FIFO, not a regular file");
    row("make-model --out DIR", QStringList{"make-model", "--shape", "tiny", "--type", "f32", "--out", "@dir"}, 1, "is a directory, not a regular file");
    // Accepted: -1 is the random seed, 0 tokens is a valid count.
    row("run --seed -1", run + QStringList{"--seed", "-1", "-n", "2"}, 0, "");
    row("run -n 0", run + QStringList{"-n", "0"}, 0, "");
}

void TestCli::failures_exit_non_zero() {
    QFETCH(QStringList, args);
    QFETCH(int, exit_code);
    QFETCH(QString, message);
    const QString fifo = dir_.filePath("model.fifo");
    if (!QFileInfo::exists(fifo)) QCOMPARE(::mkfifo(fifo.toLocal8Bit().constData(), 0600), 0);
    for (QString& arg : args) {
        if (arg == "@model") arg = str(tiny_);
        else if (arg == "@dir") arg = dir_.path();
        else if (arg == "@fifo") arg = fifo;
        else if (arg == "@missing") arg = dir_.filePath("no-such-file");
    }
    const Run r = run_cli(args, {}, 30000);
    QVERIFY2(r.exit_code == exit_code, qPrintable(QStringLiteral("exit %1, stderr: %2").arg(r.exit_code).arg(QString::fromUtf8(r.err))));
    QVERIFY2(r.err.contains(message.toUtf8()), r.err.constData());
}

// `latent` links no Qt (the `latent` package must work alone); the document library is a plugin
// of the app's package, and without it `docs` and `--docs` say where it comes from.
void TestCli::without_qt() {
    QProcess ldd;
    ldd.start("ldd", {QString::fromStdString(test::cli_path().string())});
    if (!ldd.waitForStarted(10000)) QSKIP("ldd is not available");
    QVERIFY(ldd.waitForFinished(30000));
    QCOMPARE(ldd.exitCode(), 0);
    const QByteArray libraries = ldd.readAllStandardOutput();
    QVERIFY2(libraries.contains("liblatent-engine"), libraries.constData()); // ldd did list the libraries
    QVERIFY2(!libraries.contains("libQt"), libraries.constData());
    QVERIFY2(!libraries.contains("libicu"), libraries.constData());

    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert("LATENT_DOCS_PLUGIN", dir_.filePath("no-plugin-here.so"));
    const Run docs = run_cli({"docs", "list", "--db", dir_.filePath("docs.db")}, {}, 30000, env);
    QCOMPARE(docs.exit_code, 1);
    QVERIFY2(docs.err.contains("the document library is not installed") && docs.err.contains("latent-chat package"), docs.err.constData());
    const Run run = run_cli({"run", "-m", str(tiny_), "-p", "x", "--docs", dir_.filePath("docs.db")}, {}, 30000, env);
    QCOMPARE(run.exit_code, 1);
    QVERIFY2(run.err.contains("the document library is not installed"), run.err.constData());
    // A file that is not the plugin is named as such, not loaded blindly.
    env.insert("LATENT_DOCS_PLUGIN", QFileInfo(QString::fromStdString(test::cli_path().string())).dir().filePath("../lib/liblatent-engine.so"));
    const Run wrong = run_cli({"docs", "list", "--db", dir_.filePath("docs.db")}, {}, 30000, env);
    QCOMPARE(wrong.exit_code, 1);
    QVERIFY2(wrong.err.contains("is not a Latent Chat plugin (no latent_docs_plugin_entry)"), wrong.err.constData());
}

// Prompts from a pipe are fine (bounded like files); an endless line on chat's stdin is an error.
void TestCli::prompts_from_pipes() {
    const Run piped = run_cli({"run", "-m", str(tiny_), "--file", "/dev/stdin", "-n", "3", "--temp", "0"}, "Hello from a pipe");
    QVERIFY2(piped.exit_code == 0, piped.err.constData());
    QVERIFY2(piped.err.contains("max_tokens"), piped.err.constData());
    const Run endless = run_cli({"chat", "-m", str(tiny_), "-n", "2"}, QByteArray((64 << 20) + 16, 'a'), 60000);
    QCOMPARE(endless.exit_code, 1);
    QVERIFY2(endless.err.contains("64 MiB"), endless.err.constData());
}

// `latent run` whose model is truncated while it generates: exit 1 naming the file, no crash.
void TestCli::run_model_truncated_while_generating() {
    const QString model = dir_.filePath("truncated-during-run.gguf");
    QVERIFY(QFile::copy(str(tiny_), model));
    QProcess p;
    p.start(QString::fromStdString(test::cli_path().string()),
            {"run", "-m", model, "-p", "Once upon a time", "-n", "16000", "--ctx", "16384", "--temp", "0", "--threads", "2"});
    QVERIFY(p.waitForStarted(10000));
    QVERIFY(p.waitForReadyRead(30000)); // generating
    QCOMPARE(::truncate(model.toLocal8Bit().constData(), static_cast<off_t>(QFileInfo(model).size() / 2)), 0);
    QVERIFY(p.waitForFinished(60000));
    const QByteArray err = p.readAllStandardError();
    QCOMPARE(p.exitStatus(), QProcess::NormalExit); // not killed by SIGBUS
    QCOMPARE(p.exitCode(), 1);
    QVERIFY2(err.contains("latent run: error: the model file changed on disk; reload it: " + model.toUtf8()), err.constData());
}

QTEST_GUILESS_MAIN(TestCli)
#include "test_cli.moc"
