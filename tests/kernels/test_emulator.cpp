// The execution model the kernel tests rely on, checked on the emulator (and, where the GPU
// defines the same result, in the device run): barriers, warp collectives over their own warp,
// poisoned shared memory, atomics across blocks, and the faults the emulator must report.
#include "gpu_test.h"
#include "probe_kernels.h"

#include <QProcess>
#include <QTest>

#include <dlfcn.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

using namespace latent;

namespace {

float sum_of(const std::vector<float>& values) {
    double sum = 0;
    for (float v : values) sum += v;
    return static_cast<float>(sum);
}

// Runs the block-sum probe under `seeds` different schedules; returns how many were wrong.
int wrong_block_sums(bool with_barriers, int seeds, unsigned threads) {
    int wrong = 0;
    for (int seed = 0; seed < seeds; ++seed) {
        test::Random random(static_cast<uint32_t>(seed + 1));
        const auto values = test::random_floats(random, threads * 2);
        const gpu::Buffer in = gpu::upload(values);
        gpu::Buffer out = test::poisoned_buffer<float>(1);
        test::probe::block_sum(out.as<float>(), in.as<float>(), threads * 2, threads, with_barriers);
        const float got = gpu::download<float>(out)[0];
        const float expected = sum_of(values);
        if (!(std::fabs(got - expected) <= 1e-4f * (1.0f + std::fabs(expected)))) ++wrong;
    }
    return wrong;
}

// The order in which the threads of a block ran after a barrier, for 4 launches, as text.
std::string schedule_text() {
    std::string text;
    for (int launch = 0; launch < 4; ++launch) {
        gpu::Buffer out = test::poisoned_buffer<unsigned>(64);
        test::probe::arrival_order(out.as<unsigned>());
        for (unsigned v : gpu::download<unsigned>(out)) text += std::to_string(v) + " ";
    }
    return text;
}

const char* child_mode() { return std::getenv("LATENT_GPU_TEST_CHILD"); }

struct ChildResult {
    bool crashed = false;
    int exit_code = 0;
    QByteArray out, err;
};

// Runs this test executable again as a child running only `function`, with `env` added.
ChildResult run_child(const QString& function, const QStringList& env) {
    QProcess child;
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    for (const QString& item : env) environment.insert(item.section('=', 0, 0), item.section('=', 1));
    child.setProcessEnvironment(environment);
    child.start(QCoreApplication::applicationFilePath(), {function});
    child.waitForFinished(120000);
    return {child.exitStatus() != QProcess::NormalExit, child.exitCode(), child.readAllStandardOutput(), child.readAllStandardError()};
}

} // namespace

class TestEmulator : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() { LATENT_REQUIRE_GPU(); }

    void barrier_reduction_is_correct() {
        for (unsigned threads : {32u, 64u, 256u, 1024u}) {
            QCOMPARE(wrong_block_sums(true, 8, threads), 0);
        }
    }

    // The emulator's race finding: each launch runs its fibers in another order between
    // barriers, so the reduction without its barriers reads unwritten (NaN-poisoned) or stale
    // shared memory on some schedule. On a GPU the same race is real but may stay hidden.
    void removed_barrier_is_caught() {
        if (!gpu::is_emulated()) QSKIP("race finding is the emulator's");
        const int wrong = wrong_block_sums(false, 16, 256);
        QVERIFY2(wrong > 0, ("no schedule exposed the missing __syncthreads; " + test::gpu_run_note()).c_str());
    }

    // A collective done by warp 1 alone completes with the data of warp 1 (warp 0 has exited).
    void shuffle_by_warp1_alone_returns_real_values() {
        for (int source : {0, 7, 31}) {
            gpu::Buffer out = test::poisoned_buffer<int>(64);
            test::probe::warp1_shuffle(out.as<int>(), source);
            const auto got = gpu::download<int>(out);
            for (int lane = 0; lane < 32; ++lane) {
                QCOMPARE(got[2 * lane], 1000 + source);
                QCOMPARE(got[2 * lane + 1], 1000 + (lane ^ 1));
            }
        }
    }

    void warp_reductions_and_votes() {
        test::Random random(42);
        for (int round = 0; round < 4; ++round) {
            std::vector<int> in(32);
            for (int& v : in) v = static_cast<int>(random.bits() % 200) - 60;
            const gpu::Buffer din = gpu::upload(in);
            gpu::Buffer out = test::poisoned_buffer<int>(6);
            test::probe::warp_votes(out.as<int>(), din.as<int>());
            const auto got = gpu::download<int>(out);
            int sum = 0, low = in[0], high = in[0], any = 0, all = 1;
            unsigned ballot = 0;
            for (int lane = 0; lane < 32; ++lane) {
                sum += in[lane];
                low = std::min(low, in[lane]);
                high = std::max(high, in[lane]);
                if (in[lane] > 0) ballot |= 1u << lane;
                any |= in[lane] < 0;
                all &= in[lane] < 100;
            }
            QCOMPARE(got[0], sum);
            QCOMPARE(got[1], low);
            QCOMPARE(got[2], high);
            QCOMPARE(static_cast<unsigned>(got[3]), ballot);
            QCOMPARE(got[4] != 0, any != 0);
            QCOMPARE(got[5] != 0, all != 0);
        }
    }

    // Width-16 segments: lanes outside a segment keep their own value; indices wrap inside it.
    void shuffle_widths_and_block_votes() {
        gpu::Buffer out = test::poisoned_buffer<int>(64 * 7);
        test::probe::shuffles_and_block_votes(out.as<int>());
        const auto got = gpu::download<int>(out);
        for (int t = 0; t < 64; ++t) {
            const int lane = t % 32, base = t - lane % 16, in_segment = lane % 16;
            const int* o = got.data() + 7 * t;
            QCOMPARE(o[0], in_segment >= 3 ? t - 3 : t);
            QCOMPARE(o[1], in_segment + 5 < 16 ? t + 5 : t);
            QCOMPARE(o[2], base + 1);
            QCOMPARE(o[3], t ^ 8);
            QCOMPARE(o[4], 22); // 0, 3, ..., 63
            QCOMPARE(o[5], 1);
            QCOMPARE(o[6], 1);
        }
    }

    void unwritten_shared_memory_reads_nan() {
        if (!gpu::is_emulated()) QSKIP("shared memory poisoning is the emulator's");
        gpu::Buffer out = test::poisoned_buffer<float>(2);
        gpu::device_memset(out.data(), 0, out.bytes());
        test::probe::read_unwritten_shared(out.as<float>());
        const auto got = gpu::download<float>(out);
        QVERIFY(std::isnan(got[0]));
        QVERIFY(std::isnan(got[1]));
    }

    void device_allocations_are_poisoned() {
        if (!gpu::is_emulated()) QSKIP("allocation poisoning is the emulator's");
        gpu::Buffer buffer(64);
        for (float v : gpu::download<float>(buffer)) QVERIFY(std::isnan(v));
    }

    void atomics_across_blocks() {
        for (unsigned blocks : {1u, 7u, 64u}) {
            gpu::Buffer counter(sizeof(unsigned)), sum(sizeof(float));
            gpu::device_memset(counter.data(), 0, counter.bytes());
            gpu::device_memset(sum.data(), 0, sum.bytes());
            test::probe::atomic_count(counter.as<unsigned>(), sum.as<float>(), blocks, 0.5f);
            QCOMPARE(gpu::download<unsigned>(counter)[0], blocks * 128);
            QCOMPARE(gpu::download<float>(sum)[0], 0.5f * static_cast<float>(blocks * 128)); // exact in float
        }
    }

    // The schedule is a function of the seed: the same seed gives the same order of threads,
    // run to run, and another seed another order; the seed is what a failure prints.
    void the_seed_repeats_a_schedule() {
        if (!gpu::is_emulated()) QSKIP("schedules are the emulator's");
        const ChildResult first = run_child("child_schedule", {"LATENT_GPU_TEST_CHILD=schedule", "LATENT_EMU_SEED=4242"});
        const ChildResult again = run_child("child_schedule", {"LATENT_GPU_TEST_CHILD=schedule", "LATENT_EMU_SEED=4242"});
        const ChildResult other = run_child("child_schedule", {"LATENT_GPU_TEST_CHILD=schedule", "LATENT_EMU_SEED=777"});
        QVERIFY2(!first.crashed && first.exit_code == 0, first.err.constData());
        auto schedule_line = [](const QByteArray& out) {
            const QByteArray tail = out.mid(out.indexOf("schedule:"));
            return tail.left(tail.indexOf('\n'));
        };
        const QByteArray a = schedule_line(first.out), b = schedule_line(again.out), c = schedule_line(other.out);
        QVERIFY2(a.startsWith("schedule:"), first.out.constData());
        QCOMPARE(a, b);
        QVERIFY2(a != c, "two seeds gave the same schedules");
    }

    void child_schedule() {
        if (!child_mode() || std::string(child_mode()) != "schedule") QSKIP("runs in the child of the_seed_repeats_a_schedule");
        std::printf("schedule: %s\n", schedule_text().c_str());
        std::fflush(stdout);
    }

    // Under AddressSanitizer (gpu_asan.emulator) a kernel reading one element past a device
    // allocation is a test failure, not silent corruption: the child running it must die with
    // ASan's report naming the kernel.
    void out_of_bounds_read_is_caught_under_asan() {
        if (!gpu::is_emulated()) QSKIP("the emulator's AddressSanitizer build catches it");
        if (!dlsym(RTLD_DEFAULT, "__asan_init")) QSKIP("checked by the AddressSanitizer variant (gpu_asan.emulator)");
        const ChildResult child = run_child("child_read_past_end", {"LATENT_GPU_TEST_CHILD=read_past_end"});
        const QByteArray& report = child.err;
        QVERIFY2(child.crashed || child.exit_code != 0, report.constData());
        QVERIFY2(report.contains("heap-buffer-overflow"), report.constData());
        QVERIFY2(report.contains("read_past_end_kernel"), report.constData());
    }

    void child_read_past_end() {
        if (!child_mode() || std::string(child_mode()) != "read_past_end") QSKIP("runs in the child of out_of_bounds_read_is_caught_under_asan");
        const unsigned n = 100;
        const gpu::Buffer in = gpu::upload(std::vector<float>(n, 1.0f));
        gpu::Buffer out = test::poisoned_buffer<float>(n);
        test::probe::read_past_end(out.as<float>(), in.as<float>(), n);
    }

    // A thread spinning without a barrier cannot be interrupted; the launch timeout turns the
    // hang into a report naming the kernel.
    void a_spinning_kernel_is_reported_after_the_timeout() {
        if (!gpu::is_emulated()) QSKIP("hangs a GPU; the emulator reports it");
        const ChildResult child = run_child("child_spin_forever", {"LATENT_GPU_TEST_CHILD=spin", "LATENT_EMU_TIMEOUT_S=1"});
        QVERIFY2(child.crashed || child.exit_code != 0, child.err.constData());
        QVERIFY2(child.err.contains("has not finished after 1 s"), child.err.constData());
        QVERIFY2(child.err.contains("spin_forever_kernel"), child.err.constData());
    }

    void child_spin_forever() {
        if (!child_mode() || std::string(child_mode()) != "spin") QSKIP("runs in the child of a_spinning_kernel_is_reported_after_the_timeout");
        gpu::Buffer flag(sizeof(int));
        gpu::device_memset(flag.data(), 0, flag.bytes());
        test::probe::spin_forever(flag.as<int>());
    }

    void faults_are_reported_with_their_site() {
        if (!gpu::is_emulated()) QSKIP("these faults hang or corrupt a GPU; the emulator reports them");
        struct Case {
            int which;
            const char* expected;
        };
        for (const Case& c : {Case{0, "deadlock"}, Case{1, "which is not in the mask"}, Case{2, "__trap()"},
                              Case{3, "can never complete"}}) {
            gpu::Buffer scratch = test::poisoned_buffer<int>(64);
            try {
                test::probe::fault(c.which, scratch.as<int>());
                QFAIL(qPrintable(QString("fault %1 was not reported").arg(c.which)));
            } catch (const gpu::DeviceError& e) {
                const std::string message = e.what();
                QVERIFY2(message.find(c.expected) != std::string::npos, message.c_str());
                QVERIFY2(message.find("probe_kernels.cu:") != std::string::npos, message.c_str()); // the site
                QVERIFY2(message.find("fault_kernel") != std::string::npos, message.c_str());     // the kernel
                QVERIFY2(message.find("LATENT_EMU_SEED=") != std::string::npos, message.c_str());
            }
        }
        // The emulator is usable again after a fault.
        shuffle_by_warp1_alone_returns_real_values();
    }
};

QTEST_GUILESS_MAIN(TestEmulator)
#include "test_emulator.moc"
