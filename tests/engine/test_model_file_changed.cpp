// A model file that changes on disk while it is loaded: never a crash, always an error naming the
// file, and the process carries on. Covers the identity check before each request (shrunk,
// rewritten in place, replaced; a deleted file is not a change), SIGBUS during evaluation on every
// backend and thread count (the file truncated under a batch), faults taken by thread-pool workers
// rather than the caller, truncation in the middle of a streamed answer, and that a SIGBUS outside
// our mappings still kills the process.
#include "core/mapped_file.h"
#include "core/mapping_faults.h"
#include "cpu/thread_pool.h"
#include "engine.h"
#include "model/model_builder.h"
#include "test_support.h"

#include <QFile>
#include <QtTest>

#include <atomic>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace latent;

namespace {

GenerationParams greedy(int32_t max_new_tokens) {
    GenerationParams params;
    params.sampling.temperature = 0.0f;
    params.max_new_tokens = max_new_tokens;
    return params;
}

std::vector<chat::ChatMessage> question() { return {{chat::ChatMessage::User, "Tell me a long story about the sea."}}; }

off_t size_of(const std::filesystem::path& path) { return static_cast<off_t>(std::filesystem::file_size(path)); }

size_t page_size() { return static_cast<size_t>(::sysconf(_SC_PAGESIZE)); }

// A file of n_pages pages filled with `fill`.
bool write_pages(const std::filesystem::path& path, size_t n_pages, char fill) {
    QFile file(QString::fromStdString(path.string()));
    const auto bytes = static_cast<qsizetype>(page_size() * n_pages);
    return file.open(QIODevice::WriteOnly) && file.write(QByteArray(bytes, fill)) == bytes;
}

bool mentions_change(const std::string& message, const std::filesystem::path& path) {
    return message.find(kModelFileChangedMessage) != std::string::npos && message.find(path.string()) != std::string::npos;
}

// Everything a model needs to answer: the model, a backend over it and a session.
struct Loaded {
    std::unique_ptr<Model> model;
    std::unique_ptr<Backend> backend;
    std::unique_ptr<Session> session;

    Loaded(const std::filesystem::path& path, BackendKind kind, uint32_t threads) {
        model = Model::load(path);
        BackendOptions options;
        options.n_ctx = 512;
        options.n_threads = threads;
        backend = create_backend(*model, kind, options);
        session = std::make_unique<Session>(*backend);
    }
};

} // namespace

class TestModelFileChanged : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    std::filesystem::path pristine_;
    uint64_t data_offset_ = 0;     // where the tensor data of the pristine model starts
    std::string expected_answer_;  // greedy answer of the pristine model to question()
    int copies_ = 0;

    // A fresh copy of the pristine model, to damage.
    std::filesystem::path fresh_copy() {
        const QString path = dir_.filePath(QStringLiteral("copy-%1.gguf").arg(++copies_));
        if (!QFile::copy(QString::fromStdString(pristine_.string()), path)) qFatal("cannot copy the model");
        return test::to_path(path);
    }

    // After a failure: a new load of a fresh file answers exactly as the pristine model did.
    void check_fresh_load_works() {
        Loaded fresh(fresh_copy(), BackendKind::Cpu, 2);
        const GenerationResult r = fresh.session->generate(question(), greedy(24), {});
        QVERIFY2(r.reason != StopReason::Error, r.message.c_str());
        QCOMPARE(r.text, expected_answer_);
    }

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        pristine_ = test::to_path(dir_.filePath("tiny.gguf"));
        BuildOptions options;
        options.seed = 11;
        build_model_file(*model_shape_preset("tiny"), options, pristine_);
        auto files = gguf::ModelFiles::open(pristine_);
        data_offset_ = files->main().data_offset();
        Loaded reference(pristine_, BackendKind::Cpu, 2);
        const GenerationResult r = reference.session->generate(question(), greedy(24), {});
        QVERIFY2(r.reason != StopReason::Error && !r.text.empty(), r.message.c_str());
        expected_answer_ = r.text;
    }

    // Changes made while the model is idle are caught before the next request, which fails with
    // a message naming the file; every later request fails the same way.
    void change_between_requests_data() {
        QTest::addColumn<QString>("change");
        QTest::addColumn<bool>("is_change");
        QTest::newRow("shrunk") << "shrunk" << true;
        QTest::newRow("rewritten in place") << "rewritten" << true;
        QTest::newRow("replaced by another file") << "replaced" << true;
        QTest::newRow("deleted (the map keeps its bytes)") << "deleted" << false;
    }
    void change_between_requests() {
        QFETCH(QString, change);
        QFETCH(bool, is_change);
        const std::filesystem::path path = fresh_copy();
        Loaded loaded(path, BackendKind::Cpu, 2);
        const GenerationResult before = loaded.session->generate(question(), greedy(8), {});
        QVERIFY2(before.reason != StopReason::Error, before.message.c_str());

        if (change == "shrunk") {
            QCOMPARE(::truncate(path.c_str(), size_of(path) - 1), 0);
        } else if (change == "rewritten") {
            const int fd = ::open(path.c_str(), O_WRONLY);
            QVERIFY(fd >= 0);
            const char byte = 'x';
            QCOMPARE(::pwrite(fd, &byte, 1, static_cast<off_t>(data_offset_ + 7)), ssize_t{1});
            const struct timespec times[2] = {{0, UTIME_OMIT}, {1000000000, 0}}; // an mtime surely different
            QCOMPARE(::futimens(fd, times), 0);
            ::close(fd);
        } else if (change == "replaced") {
            const std::filesystem::path other = fresh_copy();
            std::filesystem::rename(other, path);
        } else {
            std::filesystem::remove(path);
        }

        const GenerationResult after = loaded.session->generate(question(), greedy(8), {});
        if (!is_change) {
            QVERIFY2(after.reason != StopReason::Error, after.message.c_str());
            QCOMPARE(after.text, before.text);
            return;
        }
        QCOMPARE(after.reason, StopReason::Error);
        QVERIFY(after.model_file_changed);
        QVERIFY2(mentions_change(after.message, path), after.message.c_str());
        QVERIFY(after.text.empty());
        QVERIFY(loaded.session->tokens().empty());
        const GenerationResult again = loaded.session->generate(question(), greedy(8), {});
        QVERIFY(again.model_file_changed);
        QVERIFY_THROWS_EXCEPTION(ModelFileChanged, loaded.session->evaluate_prompt({1, 2, 3}));
        QVERIFY_THROWS_EXCEPTION(ModelFileChanged, create_backend(*loaded.model, BackendKind::Cpu, BackendOptions{}));
        check_fresh_load_works();
    }

    // The file truncated under a batch: the evaluation touches pages that are gone (SIGBUS), on
    // the calling thread and on pool workers alike. The batch throws ModelFileChanged, the cache
    // keeps only what it held, and later batches fail at once.
    void truncated_under_a_batch_data() {
        QTest::addColumn<int>("kind");
        QTest::addColumn<uint32_t>("threads");
        QTest::newRow("ref") << static_cast<int>(BackendKind::Ref) << 1u;
        QTest::newRow("cpu, 1 thread") << static_cast<int>(BackendKind::Cpu) << 1u;
        QTest::newRow("cpu, 4 threads") << static_cast<int>(BackendKind::Cpu) << 4u;
    }
    void truncated_under_a_batch() {
        QFETCH(int, kind);
        QFETCH(uint32_t, threads);
        const std::filesystem::path path = fresh_copy();
        Loaded loaded(path, static_cast<BackendKind>(kind), threads);
        Backend& backend = *loaded.backend;
        const std::vector<int32_t> tokens = {1, 2, 3, 4, 5, 6, 7, 8};
        const uint32_t last = 7;
        std::vector<float> logits(loaded.model->config().n_vocab);
        backend.evaluate(tokens, std::span<const uint32_t>(&last, 1), logits.data());
        QCOMPARE(backend.n_cached(), 8u);

        const uint64_t faults_before = mapping_faults::fault_count();
        QCOMPARE(::truncate(path.c_str(), static_cast<off_t>(data_offset_ + 4096)), 0);
        try {
            backend.evaluate(tokens, std::span<const uint32_t>(&last, 1), logits.data());
            QFAIL("evaluating over a truncated file did not fail");
        } catch (const ModelFileChanged& e) {
            QVERIFY2(mentions_change(e.what(), path), e.what());
            QCOMPARE(e.path(), path);
        }
        QVERIFY(mapping_faults::fault_count() > faults_before);
        QCOMPARE(backend.n_cached(), 8u); // the failed batch left no rows
        QVERIFY_THROWS_EXCEPTION(ModelFileChanged, backend.evaluate(tokens, {}, nullptr));
        const GenerationResult r = loaded.session->generate(question(), greedy(4), {});
        QVERIFY(r.model_file_changed);
        QVERIFY2(mentions_change(r.message, path), r.message.c_str());
        check_fresh_load_works();
    }

    // Truncated while an answer streams (from the piece callback, i.e. between two tokens of the
    // same request): the answer ends with an error naming the file, keeps the text streamed
    // before, and the session forgets its cache.
    void truncated_while_streaming_data() {
        QTest::addColumn<uint32_t>("threads");
        QTest::newRow("1 thread") << 1u;
        QTest::newRow("3 threads") << 3u;
    }
    void truncated_while_streaming() {
        QFETCH(uint32_t, threads);
        const std::filesystem::path path = fresh_copy();
        Loaded loaded(path, BackendKind::Cpu, threads);
        std::string streamed;
        int pieces = 0;
        const GenerationResult r = loaded.session->generate(question(), greedy(400), [&](std::string_view piece) {
            streamed += piece;
            if (++pieces == 3 && ::truncate(path.c_str(), size_of(path) / 2) != 0) qFatal("truncate failed");
        });
        QCOMPARE(r.reason, StopReason::Error);
        QVERIFY(r.model_file_changed);
        QVERIFY2(mentions_change(r.message, path), r.message.c_str());
        QCOMPARE(r.text, streamed);
        QVERIFY(pieces >= 3);
        QVERIFY2(expected_answer_.starts_with(r.text.substr(0, std::min(r.text.size(), expected_answer_.size()))), r.text.c_str());
        QVERIFY(loaded.session->tokens().empty());
        check_fresh_load_works();
    }

    // Faults taken by the pool's worker threads (not the caller) are caught and visible to the
    // caller once the parallel call returns.
    void worker_thread_faults_are_caught() {
        const std::filesystem::path path = test::to_path(dir_.filePath("pages.bin"));
        const size_t page = page_size();
        const size_t n_pages = 32;
        QVERIFY(write_pages(path, n_pages, '\x5a'));
        const auto map = MappedFile::open(path);
        QVERIFY(!map->faulted());
        QCOMPARE(::truncate(path.c_str(), 0), 0);

        cpu::ThreadPool pool(3);
        const uint64_t faults_before = mapping_faults::fault_count();
        std::atomic<int> worker_reads{0};
        std::atomic<uint64_t> sum{0};
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        pool.parallel_for(n_pages, [&](size_t task, unsigned thread) {
            if (thread == 0) { // the caller waits for a worker to have read, and reads nothing itself
                while (worker_reads.load() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
                return;
            }
            const volatile uint8_t* bytes = map->data();
            sum.fetch_add(bytes[task * page]);
            worker_reads.fetch_add(1);
        });
        QVERIFY(worker_reads.load() > 0);
        QVERIFY(map->faulted());
        QCOMPARE(sum.load(), uint64_t{0}); // lost pages read as zeros, never as stale data
        // Everything past the end of file is replaced at the first fault: at most one signal per
        // worker that raced into it, not one per page.
        QVERIFY(mapping_faults::fault_count() - faults_before <= 2);
        QVERIFY_THROWS_EXCEPTION(ModelFileChanged, map->check_unchanged());
    }

    // A SIGBUS that is not about one of our mappings still kills the process (in a child): with
    // the default action behind our handler, and with another handler (Qt Test's one-shot crash
    // reporter) installed before ours. The second row makes Qt Test's reporter print "Received
    // signal 7 (SIGBUS)" and a stack trace for the child: that output is expected.
    void foreign_sigbus_still_crashes_data() {
        QTest::addColumn<bool>("default_before_ours");
        QTest::newRow("default action before ours") << true;
        QTest::newRow("crash reporter before ours") << false;
    }
    void foreign_sigbus_still_crashes() {
        QFETCH(bool, default_before_ours);
        const std::filesystem::path path = test::to_path(dir_.filePath("foreign.bin"));
        const size_t page = page_size();
        QVERIFY(write_pages(path, 4, '\x01'));
        const auto ours = MappedFile::open(pristine_); // makes sure the handler is installed
        QVERIFY(ours->data() != nullptr);
        const pid_t child = ::fork();
        QVERIFY(child >= 0);
        if (child == 0) {
            ::setenv("QTEST_DISABLE_STACKTRACE", "1", 1); // the reporter need not run a debugger on the child
            if (default_before_ours) {
                ::signal(SIGBUS, SIG_DFL);
                const auto reinstalled = MappedFile::open(pristine_); // ours again, the default behind it
                if (reinstalled->data() == nullptr) ::_exit(9);
            }
            const int fd = ::open(path.c_str(), O_RDWR);
            void* map = ::mmap(nullptr, page * 4, PROT_READ, MAP_SHARED, fd, 0);
            if (fd < 0 || map == MAP_FAILED || ::ftruncate(fd, 0) != 0) ::_exit(10);
            const volatile uint8_t* bytes = static_cast<const uint8_t*>(map);
            const uint8_t value = bytes[page * 2]; // SIGBUS, not ours
            ::_exit(value == 0 ? 11 : 12);
        }
        int status = 0;
        QCOMPARE(::waitpid(child, &status, 0), child);
        QVERIFY2(WIFSIGNALED(status), qPrintable(QStringLiteral("child exited with %1").arg(WEXITSTATUS(status))));
        QCOMPARE(WTERMSIG(status), SIGBUS);
    }

    // Refused before open(): a FIFO would block there until a writer came.
    void non_regular_files_refused() {
        const std::filesystem::path fifo = test::to_path(dir_.filePath("model.fifo"));
        QCOMPARE(::mkfifo(fifo.c_str(), 0600), 0);
        try {
            MappedFile::open(fifo);
            QFAIL("a FIFO was opened");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("is a FIFO, not a regular file") != std::string::npos, e.what());
        }
        QVERIFY_THROWS_EXCEPTION(Error, MappedFile::open(test::to_path(dir_.path())));
    }

    // huge_page_use (latent bench's "pages:" line) finds the model file's map by an address
    // inside it and counts it once however many addresses point into it; no address, nothing.
    // (How much of it the kernel maps in 2 MiB pages depends on the
    // file system and the page cache, so only the bounds are checked.)
    void huge_page_use_counts_the_map() {
#if defined(__linux__)
        const auto map = MappedFile::open(pristine_);
        const uint8_t* inside = map->data() + map->size() / 2;
        const HugePageUse use = huge_page_use({map->data(), inside, map->data() + map->size() - 1});
        const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
        QCOMPARE(use.mapped_bytes, (map->size() + page - 1) / page * page);
        QVERIFY(use.huge_bytes <= use.mapped_bytes);
        QCOMPARE(huge_page_use({}).mapped_bytes, uint64_t{0});
#else
        QSKIP("reads /proc/self/smaps (Linux)");
#endif
    }
};

QTEST_GUILESS_MAIN(TestModelFileChanged)
#include "test_model_file_changed.moc"
