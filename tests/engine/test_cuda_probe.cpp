// The CPU-checkable part of the GPU backend: the CUDA device probe (whatever this machine has),
// the VRAM plan against sizes computed independently from the GGUF file and the model shape,
// the shortfall and fallback wording, create_backend(auto/cuda) falling back to a working cpu
// backend, and `latent devices`.
#include "backend/vram_plan.h"
#include "core/error.h"
#include "cuda/cuda_device.h"
#include "engine.h"
#include "gguf/gguf.h"
#include "model/model_builder.h"
#include "session/cuda_fallback.h"
#include "test_support.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QtTest>

#include <cmath>
#include <filesystem>

using namespace latent;

namespace {

uint64_t kib(double n) { return static_cast<uint64_t>(std::llround(n * 1024.0)); }
uint64_t mib(double n) { return static_cast<uint64_t>(std::llround(n * 1024.0 * 1024.0)); }
uint64_t gib(double n) { return static_cast<uint64_t>(std::llround(n * 1024.0 * 1024.0 * 1024.0)); }

VramPlan make_plan(uint64_t weights, uint64_t kv, uint64_t work, uint32_t n_ctx) {
    VramPlan plan;
    plan.weights_bytes = weights;
    plan.kv_cache_bytes = kv;
    plan.work_bytes = work;
    plan.n_ctx = n_ctx;
    return plan;
}

CudaProbe probe_with_device(const std::string& name, uint64_t free_bytes) {
    CudaProbe probe;
    CudaDeviceInfo device;
    device.name = name;
    device.compute_major = 8;
    device.compute_minor = 9;
    device.multiprocessors = 76;
    device.total_bytes = free_bytes + gib(0.5);
    device.free_bytes = free_bytes;
    probe.devices.push_back(device);
    return probe;
}

struct Run {
    int exit_code = -1;
    QByteArray out, err;
};

Run run_cli(const QStringList& args) {
    QProcess p;
    p.start(QString::fromStdString(test::cli_path().string()), args);
    if (!p.waitForStarted(10000)) return {};
    p.closeWriteChannel();
    p.waitForFinished(60000);
    Run r;
    r.exit_code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = p.readAllStandardOutput();
    r.err = p.readAllStandardError();
    return r;
}

} // namespace

class TestCudaProbe : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    CudaProbe probe_; // what this machine has, read once

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        try {
            probe_ = probe_cuda_devices();
        } catch (...) {
            QFAIL("probe_cuda_devices threw");
        }
        if (probe_.devices.empty()) qInfo("no CUDA device here (%s): checking the no-device branch", probe_.error.c_str());
        else qInfo("%zu CUDA device(s) here, device 0: %s: checking the device branch", probe_.devices.size(), probe_.devices.front().name.c_str());
    }

    // ---- The probe --------------------------------------------------------------------------

    void probe_is_consistent_on_this_machine() {
        const CudaProbe again = probe_cuda_devices(); // a second call must not fail differently
        QCOMPARE(again.devices.size(), probe_.devices.size());
        if (probe_.devices.empty()) {
            QVERIFY2(!probe_.error.empty(), "no devices but no reason given");
            QCOMPARE(again.error, probe_.error);
            return;
        }
        QVERIFY2(probe_.error.empty(), probe_.error.c_str());
        int previous_index = -1;
        for (const CudaDeviceInfo& d : probe_.devices) {
            QVERIFY(d.index > previous_index);
            previous_index = d.index;
            QVERIFY(!d.name.empty());
            QVERIFY2(d.compute_major >= 5 && d.compute_major < 20 && d.compute_minor >= 0 && d.compute_minor < 10, d.name.c_str());
            QVERIFY(d.multiprocessors > 0 && d.multiprocessors < 10000);
            QVERIFY(d.total_bytes >= gib(0.5) && d.total_bytes < gib(4096));
            QVERIFY(d.free_bytes > 0 && d.free_bytes <= d.total_bytes);
            QVERIFY(d.peak_bandwidth_gbs >= 0.0 && d.peak_bandwidth_gbs < 100000.0);
        }
    }

    // ---- The VRAM plan ----------------------------------------------------------------------

    void plan_matches_the_file_data() {
        QTest::addColumn<QString>("preset");
        QTest::addColumn<QString>("scheme");
        QTest::addColumn<QString>("variant"); // "plain", "tied" (no output.weight), "unused" (an extra tensor)
        QTest::addColumn<uint>("n_ctx");
        QTest::newRow("tiny f32") << "tiny" << "f32" << "plain" << 4096u;
        QTest::newRow("tiny q8_0") << "tiny" << "q8_0" << "plain" << 512u;
        QTest::newRow("tiny-v3 f32") << "tiny-v3" << "f32" << "plain" << 32768u;
        QTest::newRow("tiny-v3 q8_0") << "tiny-v3" << "q8_0" << "plain" << 1u;
        QTest::newRow("tiny-v3 q4_k_m") << "tiny-v3" << "q4_k_m" << "plain" << 100u;
        QTest::newRow("tiny-legacy f16") << "tiny-legacy" << "f16" << "plain" << 2048u;
        QTest::newRow("tiny q8_0 tied output") << "tiny" << "q8_0" << "tied" << 4096u;
        QTest::newRow("tiny f32 unused tensor") << "tiny" << "f32" << "unused" << 4096u;
    }
    void plan_matches_the_file() {
        QFETCH(QString, preset);
        QFETCH(QString, scheme);
        QFETCH(QString, variant);
        QFETCH(uint, n_ctx);
        ModelShape shape = *model_shape_preset(preset.toStdString());
        if (scheme == "q4_k_m") shape.n_embd = 256; // so that Q4_K applies (ne0 a multiple of 256)
        BuildOptions build;
        build.seed = 11;
        build.scheme = *weight_scheme_from_name(scheme.toStdString());
        if (variant == "tied") {
            build.edit_tensors = [](std::vector<TensorPlan>& tensors) {
                std::erase_if(tensors, [](const TensorPlan& t) { return t.name == "output.weight"; });
            };
        } else if (variant == "unused") {
            build.edit_tensors = [](std::vector<TensorPlan>& tensors) {
                tensors.push_back(TensorPlan{"extra.unused.weight", TensorType::F32, {64, 8}, WeightInit::Matrix});
            };
        }
        const auto path = test::to_path(dir_.filePath(QString("%1-%2-%3.gguf").arg(preset, scheme, variant)));
        const BuildResult built = build_model_file(shape, build, path);

        // Independent weights: the data sizes gguf lists for the file's tensors, less the ones
        // the model does not bind; the builder's own count must agree.
        const auto file = gguf::File::open(path);
        uint64_t file_bytes = 0;
        uint64_t unused_bytes = 0;
        for (const gguf::TensorInfo& t : file->tensors()) {
            file_bytes += t.size_bytes;
            if (t.name.rfind("extra.", 0) == 0) unused_bytes += t.size_bytes;
        }
        QCOMPARE(file_bytes, built.data_bytes);
        if (variant == "unused") QCOMPARE(unused_bytes, uint64_t{64 * 8 * 4});

        const auto model = Model::load(path);
        QCOMPARE(model->weights().output_tied, variant == "tied");
        BackendOptions options;
        options.n_ctx = n_ctx;
        const VramPlan plan = plan_vram(*model, options);
        QCOMPARE(plan.weights_bytes, file_bytes - unused_bytes);
        // KV cache by hand from the shape: per layer and position r_kv + d_r f16 values.
        const uint64_t kv = uint64_t{shape.n_layer} * (shape.kv_lora_rank + shape.qk_rope_dim) * n_ctx * 2;
        QCOMPARE(plan.kv_cache_bytes, kv);
        QCOMPARE(plan.n_ctx, n_ctx);
        QVERIFY(plan.work_bytes > kVramFixedWorkBytes);
        QCOMPARE(plan.total_bytes(), plan.weights_bytes + plan.kv_cache_bytes + plan.work_bytes);
    }

    // The KV cache grows linearly with the context and doubles from f16 to f32; weights do not
    // depend on either; the work buffers grow by one head's scores (4·T bytes per position).
    void plan_scales_with_context_and_cache_type() {
        const auto path = test::to_path(dir_.filePath("scaling.gguf"));
        build_model_file(*model_shape_preset("tiny-v3"), BuildOptions{}, path);
        const auto model = Model::load(path);
        BackendOptions options;
        options.n_ctx = 2048;
        const VramPlan base = plan_vram(*model, options);
        options.n_ctx = 8192;
        const VramPlan longer = plan_vram(*model, options);
        options.cache_type = KvCacheType::F32;
        const VramPlan wide = plan_vram(*model, options);
        QCOMPARE(longer.kv_cache_bytes, 4 * base.kv_cache_bytes);
        QCOMPARE(wide.kv_cache_bytes, 2 * longer.kv_cache_bytes);
        QCOMPARE(longer.weights_bytes, base.weights_bytes);
        QCOMPARE(wide.weights_bytes, base.weights_bytes);
        QCOMPARE(wide.work_bytes, longer.work_bytes);
        QCOMPARE(longer.work_bytes - base.work_bytes, uint64_t{4} * kVramPrefillChunk * (8192 - 2048));
    }

    // The work formula of vram_plan.h worked by hand for "tiny" at n_ctx 64 (T = 64):
    // V 1024 + 2D 128 + query (0 + 4·32 + 4·48 = 320) + attention (48 + 4·(32 + 16) = 240)
    // + scores 64 + ffn max(2·128, 2·(2 + 2)·32 + 8 = 264) = 2040 floats per token.
    void work_bytes_by_hand() {
        const auto path = test::to_path(dir_.filePath("tiny-work.gguf"));
        build_model_file(*model_shape_preset("tiny"), BuildOptions{}, path);
        const auto model = Model::load(path);
        BackendOptions options;
        options.n_ctx = 64;
        QCOMPARE(plan_vram(*model, options).work_bytes, uint64_t{4} * 64 * 2040 + (uint64_t{256} << 20));
    }

    // ---- Wording ------------------------------------------------------------------------------

    void memory_sizes_data() {
        QTest::addColumn<qulonglong>("bytes");
        QTest::addColumn<int>("decimals");
        QTest::addColumn<QString>("expected");
        QTest::newRow("zero") << qulonglong{0} << 1 << "0 bytes";
        QTest::newRow("below 0.1 KiB") << qulonglong{102} << 1 << "102 bytes";
        QTest::newRow("0.1 KiB") << qulonglong{103} << 1 << "0.1 KiB";
        QTest::newRow("1 KiB") << qulonglong{1024} << 1 << "1.0 KiB";
        QTest::newRow("1.5 MiB") << qulonglong{kib(1536)} << 1 << "1.5 MiB";
        QTest::newRow("102 MiB") << qulonglong{mib(102)} << 1 << "102.0 MiB";
        QTest::newRow("103 MiB") << qulonglong{mib(103)} << 1 << "0.1 GiB";
        QTest::newRow("80 GiB") << qulonglong{gib(80)} << 1 << "80.0 GiB";
        QTest::newRow("stays GiB") << qulonglong{gib(2048)} << 1 << "2048.0 GiB";
        QTest::newRow("two decimals") << qulonglong{gib(1.5)} << 2 << "1.50 GiB";
    }
    void memory_sizes() {
        QFETCH(qulonglong, bytes);
        QFETCH(int, decimals);
        QFETCH(QString, expected);
        QCOMPARE(QString::fromStdString(format_memory_size(bytes, decimals)), expected);
    }

    void shortfall_data() {
        QTest::addColumn<qulonglong>("weights");
        QTest::addColumn<qulonglong>("kv");
        QTest::addColumn<qulonglong>("work");
        QTest::addColumn<uint>("n_ctx");
        QTest::addColumn<qulonglong>("free");
        QTest::addColumn<QString>("device");
        QTest::addColumn<QString>("expected");
        QTest::newRow("V2-Lite on a 4080")
            << qulonglong{gib(9.7)} << qulonglong{gib(1.1)} << qulonglong{gib(0.4)} << 32768u << qulonglong{gib(7.9)} << "NVIDIA RTX 4080"
            << "the model needs 11.2 GiB of GPU memory (weights 9.7 GiB, KV cache 1.1 GiB for 32768 tokens, work buffers 0.4 GiB) "
               "but NVIDIA RTX 4080 has 7.9 GiB free";
        QTest::newRow("small sizes in MiB and KiB")
            << qulonglong{mib(5)} << qulonglong{kib(80)} << qulonglong{mib(300)} << 4096u << qulonglong{mib(100)} << "NVIDIA T400"
            << "the model needs 0.3 GiB of GPU memory (weights 5.0 MiB, KV cache 80.0 KiB for 4096 tokens, work buffers 0.3 GiB) "
               "but NVIDIA T400 has 100.0 MiB free";
        QTest::newRow("close call gets more decimals")
            << qulonglong{gib(7.5)} << qulonglong{gib(0.28)} << qulonglong{gib(0.26)} << 16384u << qulonglong{gib(8.0)} << "NVIDIA GeForce RTX 3070"
            << "the model needs 8.04 GiB of GPU memory (weights 7.5 GiB, KV cache 0.3 GiB for 16384 tokens, work buffers 0.3 GiB) "
               "but NVIDIA GeForce RTX 3070 has 8.00 GiB free";
        QTest::newRow("unnamed device")
            << qulonglong{gib(2)} << qulonglong{mib(64)} << qulonglong{mib(300)} << 2048u << qulonglong{gib(1.5)} << ""
            << "the model needs 2.4 GiB of GPU memory (weights 2.0 GiB, KV cache 64.0 MiB for 2048 tokens, work buffers 0.3 GiB) "
               "but the GPU has 1.5 GiB free";
    }
    void shortfall() {
        QFETCH(qulonglong, weights);
        QFETCH(qulonglong, kv);
        QFETCH(qulonglong, work);
        QFETCH(uint, n_ctx);
        QFETCH(qulonglong, free);
        QFETCH(QString, device);
        QFETCH(QString, expected);
        const VramPlan plan = make_plan(weights, kv, work, n_ctx);
        QCOMPARE(QString::fromStdString(describe_vram_shortfall(plan, free, device.toStdString())), expected);
    }

    // Every branch of the fallback note, with fake probes (the device branches cannot happen on
    // a machine without a GPU).
    void fallback_note_data() {
        QTest::addColumn<QString>("kind");
        QTest::addColumn<QString>("device"); // "" : no device
        QTest::addColumn<qulonglong>("free");
        QTest::addColumn<QString>("expected");
        const QString no_device = "no CUDA-capable device is detected (cudaErrorNoDevice)";
        QTest::newRow("auto, no device") << "auto" << "" << qulonglong{0} << "auto: using cpu (no usable NVIDIA GPU: " + no_device + ")";
        QTest::newRow("cuda, no device") << "cuda" << "" << qulonglong{0} << "cuda: no usable NVIDIA GPU (" + no_device + "); using cpu";
        const QString shortfall = "the model needs 11.2 GiB of GPU memory (weights 9.7 GiB, KV cache 1.1 GiB for 32768 tokens, "
                                  "work buffers 0.4 GiB) but NVIDIA RTX 4080 has 7.9 GiB free";
        QTest::newRow("cuda, too small") << "cuda" << "NVIDIA RTX 4080" << qulonglong{gib(7.9)} << "cuda: " + shortfall + "; using cpu";
        QTest::newRow("auto, too small") << "auto" << "NVIDIA RTX 4080" << qulonglong{gib(7.9)} << "auto: using cpu (" + shortfall + ")";
        QTest::newRow("cuda, load failed") << "cuda" << "NVIDIA H100 80GB HBM3" << qulonglong{gib(79.1)}
                                           << "cuda: GPU error while loading the model: out of memory; using cpu";
        QTest::newRow("auto, load failed") << "auto" << "NVIDIA H100 80GB HBM3" << qulonglong{gib(79.1)}
                                           << "auto: using cpu (GPU error while loading the model: out of memory)";
    }
    void fallback_note() {
        QFETCH(QString, kind);
        QFETCH(QString, device);
        QFETCH(qulonglong, free);
        QFETCH(QString, expected);
        CudaProbe probe;
        if (device.isEmpty()) probe.error = "no CUDA-capable device is detected (cudaErrorNoDevice)";
        else probe = probe_with_device(device.toStdString(), free);
        GpuPlacement placement;
        placement.plan = make_plan(gib(9.7), gib(1.1), gib(0.4), 32768);
        const BackendKind k = *backend_kind_from_name(kind.toStdString());
        const std::string error = QString(QTest::currentDataTag()).contains("load failed") ? "GPU error while loading the model: out of memory" : "";
        QCOMPARE(QString::fromStdString(cuda_fallback_note(k, probe, placement, error)), expected);
    }

    // Exactly the free memory fits; one byte less does not.
    void fallback_note_boundary() {
        GpuPlacement placement;
        placement.plan = make_plan(gib(3), mib(100), mib(300), 8192);
        const std::string fits = describe_vram_shortfall(placement.plan, placement.plan.total_bytes(), "GPU A");
        QVERIFY2(fits.find("the model needs") != std::string::npos, fits.c_str());
        const std::string short_by_one = cuda_fallback_note(BackendKind::Cuda, probe_with_device("GPU A", placement.plan.total_bytes() - 1), placement);
        QVERIFY2(short_by_one.find("the model needs") != std::string::npos, short_by_one.c_str());
        // Even with every MoE layer's experts in host memory: the note says so.
        placement.n_moe_layers = placement.experts_on_cpu = 3;
        placement.device_bytes = gib(1);
        const std::string still = cuda_fallback_note(BackendKind::Cuda, probe_with_device("GPU A", mib(10)), placement);
        QVERIFY2(still.find("with every MoE layer's routed experts in host memory it still needs 1.0 GiB") != std::string::npos, still.c_str());
        // Even with every layer whole on the CPU (the last resort): the note says what is left.
        placement.n_layers = placement.layers_on_cpu = 4;
        placement.device_bytes = mib(300);
        const std::string last = cuda_fallback_note(BackendKind::Auto, probe_with_device("GPU A", mib(10)), placement);
        QVERIFY2(last.rfind("auto: using cpu (", 0) == 0, last.c_str());
        QVERIFY2(last.find("even with every layer on the CPU, the output head and work buffers need 0.3 GiB") != std::string::npos, last.c_str());
    }

    // ---- create_backend on this machine ---------------------------------------------------------

    void falls_back_to_a_working_cpu_backend_data() {
        QTest::addColumn<QString>("kind");
        QTest::newRow("auto") << "auto";
        QTest::newRow("cuda") << "cuda";
    }
    void falls_back_to_a_working_cpu_backend() {
        QFETCH(QString, kind);
        const auto path = test::to_path(dir_.filePath("fallback.gguf"));
        if (!std::filesystem::exists(path)) build_model_file(*model_shape_preset("tiny"), BuildOptions{}, path);
        const auto model = Model::load(path);
        BackendOptions options;
        options.n_ctx = 32;
        options.n_threads = 1;

        std::string note = "stale";
        const BackendKind k = *backend_kind_from_name(kind.toStdString());
        const std::unique_ptr<Backend> backend = create_backend(*model, k, options, &note);
        qInfo("note: %s", note.c_str());
        QVERIFY(note.rfind(kind.toStdString() + ": ", 0) == 0);
        if (!probe_.devices.empty()) {
            // A tiny model always fits a real GPU: the cuda backend is used, and the note says where.
            QCOMPARE(backend->name(), std::string_view("cuda"));
            QVERIFY2(note.find("using cuda on " + probe_.devices.front().name) != std::string::npos, note.c_str());
            return;
        }
        QCOMPARE(backend->name(), std::string_view("cpu"));
        {
            const std::string expected = k == BackendKind::Auto ? "auto: using cpu (no usable NVIDIA GPU: " + probe_.error + ")"
                                                                : "cuda: no usable NVIDIA GPU (" + probe_.error + "); using cpu";
            QCOMPARE(note, expected);
        }

        // It really works: one token gives the same logits as a cpu backend made directly.
        const auto n_vocab = static_cast<size_t>(model->config().n_vocab);
        const int32_t token[] = {'a'};
        const uint32_t row[] = {0};
        std::vector<float> got(n_vocab), expected(n_vocab);
        backend->evaluate(token, row, got.data());
        QCOMPARE(backend->n_cached(), 1u);
        create_cpu_backend(*model, options)->evaluate(token, row, expected.data());
        for (float v : got) QVERIFY(std::isfinite(v));
        QVERIFY(got == expected);

        // A kind with nothing to say clears the note.
        note = "stale";
        (void)create_backend(*model, BackendKind::Cpu, options, &note);
        QVERIFY(note.empty());
    }

    // ---- latent devices ---------------------------------------------------------------------

    void cli_devices() {
        const std::string cli = test::cli_path().string();
        QVERIFY2(std::filesystem::is_regular_file(test::cli_path()), ("latent CLI not found at '" + cli + "' (build the latent target)").c_str());
        const Run text = run_cli({"devices"});
        QVERIFY2(text.exit_code == 0, text.err.constData());
        if (probe_.devices.empty()) {
            QCOMPARE(text.out, QByteArray::fromStdString("no usable NVIDIA GPU: " + probe_.error + "\n"));
        } else {
            for (const CudaDeviceInfo& d : probe_.devices) {
                QVERIFY2(text.out.contains(QByteArray::fromStdString("device " + std::to_string(d.index) + ": " + d.name + "\n")), text.out.constData());
            }
            QVERIFY(text.out.contains("compute capability:"));
        }

        const Run json = run_cli({"devices", "--json"});
        QVERIFY2(json.exit_code == 0, json.err.constData());
        QJsonParseError error;
        const QJsonDocument doc = QJsonDocument::fromJson(json.out, &error);
        QVERIFY2(error.error == QJsonParseError::NoError && doc.isObject(), json.out.constData());
        const QJsonObject o = doc.object();
        const QJsonArray devices = o["devices"].toArray();
        QCOMPARE(static_cast<size_t>(devices.size()), probe_.devices.size());
        if (probe_.devices.empty()) {
            QCOMPARE(o["error"].toString(), QString::fromStdString(probe_.error));
        } else {
            QVERIFY(o["error"].isNull());
            for (qsizetype i = 0; i < devices.size(); ++i) {
                const QJsonObject d = devices[i].toObject();
                const CudaDeviceInfo& info = probe_.devices[static_cast<size_t>(i)];
                QCOMPARE(d["name"].toString(), QString::fromStdString(info.name));
                QCOMPARE(d["total_bytes"].toDouble(), static_cast<double>(info.total_bytes));
                QCOMPARE(d["compute_capability"].toString(), QString("%1.%2").arg(info.compute_major).arg(info.compute_minor));
            }
        }

        const Run stray = run_cli({"devices", "extra"});
        QVERIFY(stray.exit_code != 0);
        QVERIFY2(stray.err.contains("unexpected argument 'extra'"), stray.err.constData());
        const Run help = run_cli({"--help"});
        QVERIFY(help.out.contains("devices"));
    }
};

QTEST_GUILESS_MAIN(TestCudaProbe)
#include "test_cuda_probe.moc"
