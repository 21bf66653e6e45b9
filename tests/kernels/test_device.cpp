// The device layer (kernels/device.h) on whichever implementation is linked: copies, memset,
// streams, events, and graph capture + replay (a replay reads the device memory of its time,
// as a CUDA graph does). The emulator also refuses copies outside an allocation.
#include "elementwise.h"
#include "gpu_test.h"

#include <QTest>

using namespace latent;

class TestDevice : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() {
        LATENT_REQUIRE_GPU();
        qInfo("device: %s", gpu::device_name().c_str());
    }

    void copies_and_memset() {
        test::Random random(3);
        const auto values = test::random_floats(random, 1000);
        gpu::Buffer a = gpu::upload(values);
        gpu::Buffer b(a.bytes());
        gpu::copy_on_device(b.data(), a.data(), a.bytes());
        QCOMPARE(gpu::download<float>(b), values);
        gpu::device_memset(b.as<float>() + 10, 0, 5 * sizeof(float));
        auto expected = values;
        std::fill(expected.begin() + 10, expected.begin() + 15, 0.0f);
        QCOMPARE(gpu::download<float>(b), expected);
        gpu::Buffer moved = std::move(b);
        QCOMPARE(gpu::download<float>(moved, 3), std::vector<float>(expected.begin(), expected.begin() + 3));
    }

    void copies_outside_an_allocation_are_refused() {
        if (!gpu::is_emulated()) QSKIP("a GPU reports these as memory faults, not exceptions");
        gpu::Buffer a(64);
        std::vector<uint8_t> host(128);
        QVERIFY_THROWS_EXCEPTION(gpu::DeviceError, gpu::copy_to_device(a.data(), host.data(), 65));
        QVERIFY_THROWS_EXCEPTION(gpu::DeviceError, gpu::copy_to_host(host.data(), a.as<uint8_t>() + 1, 64));
        QVERIFY_THROWS_EXCEPTION(gpu::DeviceError, gpu::device_memset(host.data(), 0, 8));
    }

    void streams_and_events() {
        gpu::Stream stream = gpu::stream_create();
        gpu::Event start = gpu::event_create(), end = gpu::event_create();
        const std::vector<float> ones(4096, 1.0f);
        gpu::Buffer a = gpu::upload(ones), out(a.bytes());
        gpu::event_record(start, stream);
        kernels::residual_add(out.as<float>(), a.as<float>(), a.as<float>(), ones.size(), stream);
        gpu::event_record(end, stream);
        gpu::event_synchronize(end);
        QVERIFY(gpu::event_elapsed_ms(start, end) >= 0.0f);
        std::vector<float> got(ones.size());
        gpu::copy_to_host(got.data(), out.data(), out.bytes(), stream);
        QCOMPARE(got, std::vector<float>(ones.size(), 2.0f));
        gpu::event_destroy(start);
        gpu::event_destroy(end);
        gpu::stream_destroy(stream);
    }

    void graph_replays_read_current_memory() {
        gpu::Stream stream = gpu::stream_create();
        const std::size_t n = 1000;
        gpu::Buffer a = gpu::upload(std::vector<float>(n, 1.0f)), b = gpu::upload(std::vector<float>(n, 2.0f)), out(n * sizeof(float));
        gpu::device_memset(out.data(), 0, out.bytes());
        gpu::stream_synchronize(stream);
        gpu::graph_begin_capture(stream);
        kernels::residual_add(out.as<float>(), out.as<float>(), a.as<float>(), n, stream); // out += a
        kernels::residual_add(out.as<float>(), out.as<float>(), b.as<float>(), n, stream); // out += b
        gpu::Graph graph = gpu::graph_end_capture(stream);
        QCOMPARE(gpu::download<float>(out)[0], 0.0f); // captured, not run
        gpu::graph_launch(graph, stream);
        gpu::stream_synchronize(stream);
        QCOMPARE(gpu::download<float>(out), std::vector<float>(n, 3.0f));
        gpu::copy_to_device(a.data(), std::vector<float>(n, 10.0f).data(), a.bytes(), stream);
        gpu::graph_launch(graph, stream);
        gpu::stream_synchronize(stream);
        QCOMPARE(gpu::download<float>(out), std::vector<float>(n, 15.0f));
        gpu::graph_destroy(graph);
        gpu::stream_destroy(stream);
    }
};

QTEST_GUILESS_MAIN(TestDevice)
#include "test_device.moc"
