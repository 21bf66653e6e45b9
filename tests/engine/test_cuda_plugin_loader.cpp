// The GPU plugin seam (engine/cuda/cuda_plugin.h): how the loader finds, checks and refuses
// liblatent-cuda.so, and what probe_cuda_devices / create_cuda_backend say through it. Uses fake
// plugins (tests/engine/plugin/fake_cuda_plugin.cpp), so it needs no CUDA and no GPU.
#include "cuda/cuda_plugin.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTest>

#include <string>
#include <vector>

class TestCudaPluginLoader : public QObject {
    Q_OBJECT
private slots:
    void notInstalledNamesWhereItLooked();
    void notALibrary();
    void otherBuildRefused();
    void noEntryPointRefused();
    void goodPluginProbes();
    void firstExistingCandidateDecides();
    void cachedLoaderHonoursEnvironment();
};

void TestCudaPluginLoader::notInstalledNamesWhereItLooked() {
    const latent::CudaPluginLoad load = latent::load_cuda_plugin_from({"/nonexistent/a/liblatent-cuda.so", "/nonexistent/b/liblatent-cuda.so"});
    QVERIFY(load.api == nullptr);
    QVERIFY(load.path.empty());
    QCOMPARE(QString::fromStdString(load.error),
             QStringLiteral("GPU support is not installed (no /nonexistent/a/liblatent-cuda.so, /nonexistent/b/liblatent-cuda.so; "
                            "install the latent-chat-cuda package for GPU support)"));
}

void TestCudaPluginLoader::notALibrary() {
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("liblatent-cuda.so"));
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write("this is not an ELF file");
    file.close();
    const latent::CudaPluginLoad load = latent::load_cuda_plugin_from({path.toStdString()});
    QVERIFY(load.api == nullptr);
    QCOMPARE(QString::fromStdString(load.path), path);
    QVERIFY2(load.error.find("cannot be loaded: ") != std::string::npos, load.error.c_str());
}

void TestCudaPluginLoader::otherBuildRefused() {
    const latent::CudaPluginLoad load = latent::load_cuda_plugin_from({FAKE_PLUGIN_OTHER_BUILD_PATH});
    QVERIFY(load.api == nullptr);
    QVERIFY2(load.error.find("is from another build of Latent Chat (0.0.0-other (another compiler), this is " LATENT_VERSION) !=
                 std::string::npos,
             load.error.c_str());
}

void TestCudaPluginLoader::noEntryPointRefused() {
    const latent::CudaPluginLoad load = latent::load_cuda_plugin_from({FAKE_PLUGIN_NO_ENTRY_PATH});
    QVERIFY(load.api == nullptr);
    QVERIFY2(load.error.find("from another build") != std::string::npos && load.error.find("an unknown version") != std::string::npos,
             load.error.c_str());
}

void TestCudaPluginLoader::goodPluginProbes() {
    const latent::CudaPluginLoad load = latent::load_cuda_plugin_from({FAKE_PLUGIN_GOOD_PATH});
    QVERIFY2(load.api != nullptr, load.error.c_str());
    QVERIFY(load.error.empty());
    QCOMPARE(std::string(load.api->build_id), std::string(latent::cuda_plugin_build_id()));
    const latent::CudaProbe probe = load.api->probe();
    QCOMPARE(probe.devices.size(), size_t(1));
    QCOMPARE(probe.devices.front().name, std::string("Fake GPU from the test plugin"));
    QVERIFY(load.api->create_backend == nullptr);
}

void TestCudaPluginLoader::firstExistingCandidateDecides() {
    // A broken plugin earlier in the list is reported, not skipped for a later good one: the
    // user must learn that the installed package is broken.
    const latent::CudaPluginLoad load =
        latent::load_cuda_plugin_from({"/nonexistent/liblatent-cuda.so", FAKE_PLUGIN_OTHER_BUILD_PATH, FAKE_PLUGIN_GOOD_PATH});
    QVERIFY(load.api == nullptr);
    QCOMPARE(load.path, std::string(FAKE_PLUGIN_OTHER_BUILD_PATH));
}

void TestCudaPluginLoader::cachedLoaderHonoursEnvironment() {
    // CTest sets LATENT_CUDA_PLUGIN to the good fake (tests/engine/plugin/fake_plugins.cmake).
    QCOMPARE(qEnvironmentVariable("LATENT_CUDA_PLUGIN"), QStringLiteral(FAKE_PLUGIN_GOOD_PATH));
    const latent::CudaProbe probe = latent::probe_cuda_devices();
    QCOMPARE(probe.devices.size(), size_t(1));
    QVERIFY(&latent::load_cuda_plugin() == &latent::load_cuda_plugin());
}

QTEST_GUILESS_MAIN(TestCudaPluginLoader)
#include "test_cuda_plugin_loader.moc"
