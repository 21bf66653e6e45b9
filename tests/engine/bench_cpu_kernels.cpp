// Benchmark of the CPU matmul kernels, one thread (or --threads N), per weight type and SIMD
// level (not a test: build/bin/bench_cpu_kernels, for BENCHMARKS.md and kernel work).
//
// For each type it times the product of a few tokens with
//   hot:    a matrix small enough to stay in L2 (the kernel's own speed: instructions, not memory)
//   stream: 1 GiB of distinct matrices of the routed-expert shape, each read once per pass (what a
//           generated token does: every weight comes from memory)
// and prints GB/s of weights read and nanoseconds per 256 weights per token, so that a kernel's
// speed can be compared with the machine's read bandwidth (`latent bench` measures it).
//
// With --file MODEL.gguf it also times the model's own routed experts (the *_exps tensors of the
// listed types, up to --stream-mib of them) where they lie, in the file's read-only map
// (BENCH_PREFAULT=1 in the environment: populated first; with BENCH_TOUCH=1 too: and read one
// byte per page, as the CPU backend does at load).
//
// --threads N runs every product on a pool of N threads, 8 matrices per pool round trip (as a
// generated token's fused expert step: matmul_many), and prints beside each kernel's stream and
// file rates the rate at which the same N threads merely read the same bytes (cpu::sum_words,
// the same tasks): how far each kernel is from what the memory gives at that place.
//
//   bench_cpu_kernels [--types q4_k,q6_k,...] [--tokens 1,2,4] [--seconds S] [--stream-mib N] [--threads N] [--file MODEL]
#include "core/error.h"
#include "core/mapped_file.h"
#include "cpu/quant_dot.h"
#include "cpu/thread_pool.h"
#include "cpu/vector_math.h"
#include "gguf/gguf.h"
#include "tensor/tensor_types.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

using namespace latent;
using namespace latent::cpu;

namespace {

struct Options {
    std::vector<TensorType> types{TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K, TensorType::Q5_0, TensorType::Q8_0};
    std::vector<int> tokens{1, 2, 4};
    double seconds = 0.5;
    int64_t stream_mib = 1024;
    unsigned threads = 1;
    std::string file; // a GGUF model: also time its routed experts where they lie in the file's map
};

std::vector<std::string> split(std::string_view list) {
    std::vector<std::string> parts;
    size_t start = 0;
    while (start <= list.size()) {
        const size_t comma = std::min(list.find(',', start), list.size());
        if (comma > start) parts.emplace_back(list.substr(start, comma - start));
        start = comma + 1;
    }
    return parts;
}

[[noreturn]] void usage(const char* message) {
    std::fprintf(stderr, "bench_cpu_kernels: %s\nusage: bench_cpu_kernels [--types q4_k,q6_k,...] [--tokens 1,2,4] "
                         "[--seconds S] [--stream-mib N] [--threads N] [--file MODEL]\n", message);
    std::exit(2);
}

Options parse(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (i + 1 >= argc) usage("an option lacks its value");
        const std::string_view value = argv[++i];
        if (arg == "--types") {
            options.types.clear();
            for (const std::string& name : split(value)) {
                const auto type = tensor_type_from_name(name);
                if (!type) usage(("unknown type " + name).c_str());
                options.types.push_back(*type);
            }
        } else if (arg == "--tokens") {
            options.tokens.clear();
            for (const std::string& n : split(value)) options.tokens.push_back(std::clamp(std::atoi(n.c_str()), 1, 64));
        } else if (arg == "--seconds") {
            options.seconds = std::clamp(std::atof(std::string(value).c_str()), 0.05, 60.0);
        } else if (arg == "--file") {
            options.file = std::string(value);
        } else if (arg == "--threads") {
            options.threads = static_cast<unsigned>(std::clamp(std::atoi(std::string(value).c_str()), 1, 256));
        } else if (arg == "--stream-mib") {
            options.stream_mib = std::clamp<int64_t>(std::atoll(std::string(value).c_str()), 16, 1 << 16);
        } else {
            usage(("unknown option " + std::string(arg)).c_str());
        }
    }
    return options;
}

// `count` matrices of rows x cols in `type`, sharing 64 distinct quantized rows (the values do
// not matter for speed; every byte is still read).
struct Matrices {
    std::vector<uint8_t> data;
    std::vector<WeightMatrix> list;
};

Matrices make_matrices(TensorType type, int64_t rows, int64_t cols, int64_t count, std::mt19937& random) {
    const size_t row_bytes = tensor_row_bytes(type, cols);
    std::vector<uint8_t> distinct(64 * row_bytes);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    std::vector<float> values(static_cast<size_t>(cols));
    std::uniform_int_distribution<int> byte(0, 0x3B); // any two such bytes are a finite f16
    for (int r = 0; r < 64; ++r) {
        for (float& v : values) v = normal(random);
        try {
            quantize_row(type, values.data(), distinct.data() + r * row_bytes, cols);
        } catch (const std::exception&) { // a type the engine does not encode: random blocks
            for (size_t k = 0; k < row_bytes; ++k) distinct[r * row_bytes + k] = static_cast<uint8_t>(byte(random));
        }
    }
    Matrices m;
    const size_t matrix_bytes = static_cast<size_t>(rows) * row_bytes;
    m.data.resize(matrix_bytes * static_cast<size_t>(count));
    for (size_t offset = 0; offset < m.data.size(); offset += row_bytes) {
        std::memcpy(m.data.data() + offset, distinct.data() + (offset / row_bytes % 64) * row_bytes, row_bytes);
    }
    for (int64_t k = 0; k < count; ++k) {
        m.list.push_back(WeightMatrix{type, m.data.data() + static_cast<size_t>(k) * matrix_bytes, cols, rows, row_bytes});
    }
    return m;
}

// Matrices per pool round trip with --threads (a decode step's fused expert step: matmul_many).
constexpr size_t kMatricesPerCall = 8;

// The best time of passes run for about `seconds` (at least 3); the first pass's in *first.
template <class Pass>
double best_pass_seconds(double seconds, Pass&& pass, double* first = nullptr) {
    using Clock = std::chrono::steady_clock;
    double best = 1e30;
    const auto start = Clock::now();
    int passes = 0;
    while (passes < 3 || std::chrono::duration<double>(Clock::now() - start).count() < seconds) {
        const auto t0 = Clock::now();
        pass();
        const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
        if (passes == 0 && first) *first = elapsed;
        best = std::min(best, elapsed);
        ++passes;
    }
    return best;
}

// Seconds per pass over all matrices; the first pass's time in *first. With a pool:
// kMatricesPerCall matrices per matmul_many call, y holding that many outputs.
double time_passes(const Matrices& m, const ActivationBuffer& x, std::vector<float>& y, double seconds, double* first = nullptr,
                   ThreadPool* pool = nullptr) {
    int64_t max_rows = 0;
    for (const WeightMatrix& w : m.list) max_rows = std::max(max_rows, w.rows);
    const size_t stride = static_cast<size_t>(max_rows * x.n_tokens);
    if (pool && y.size() < kMatricesPerCall * stride) y.resize(kMatricesPerCall * stride);
    std::vector<MatmulJob> jobs;
    return best_pass_seconds(seconds, [&] {
        if (!pool) {
            for (const WeightMatrix& w : m.list) matmul(w, x, y.data());
            return;
        }
        for (size_t g = 0; g < m.list.size(); g += kMatricesPerCall) {
            jobs.clear();
            for (size_t k = g; k < std::min(m.list.size(), g + kMatricesPerCall); ++k) jobs.push_back(MatmulJob{&m.list[k], &x, y.data() + (k - g) * stride});
            matmul_many(jobs, pool);
        }
    }, first);
}

// Seconds per pass in which the pool only reads the matrices' bytes (kMatricesPerCall matrices
// per round trip in 256 KiB tasks, as time_passes' products): the memory's rate for the same
// bytes and threads.
double time_reads(const Matrices& m, ThreadPool& pool, double seconds) {
    constexpr size_t kTask = 256 * 1024;
    struct Piece {
        const uint8_t* data;
        size_t bytes;
    };
    std::vector<std::vector<Piece>> groups;
    for (size_t g = 0; g < m.list.size(); g += kMatricesPerCall) {
        auto& pieces = groups.emplace_back();
        for (size_t k = g; k < std::min(m.list.size(), g + kMatricesPerCall); ++k) {
            const size_t bytes = matmul_weight_bytes(m.list[k]);
            for (size_t o = 0; o < bytes; o += kTask) pieces.push_back(Piece{m.list[k].data + o, std::min(kTask, bytes - o)});
        }
    }
    std::vector<uint64_t> sums(pool.size());
    const double best = best_pass_seconds(seconds, [&] {
        for (const auto& pieces : groups) {
            pool.parallel_for_shares(pieces.size(), [&](size_t task, unsigned thread) { sums[thread] += sum_words(pieces[task].data, pieces[task].bytes); });
        }
    });
    if (std::accumulate(sums.begin(), sums.end(), uint64_t{0}) == 1) std::puts(""); // keep the sums live
    return best;
}

// The routed experts of a model file, type by type, from its map (1 token).
void bench_file(const Options& options, ThreadPool* pool) {
    const auto file = gguf::File::open(options.file);
    std::printf("\n%s: routed experts in the file's map, 1 token, %u thread(s)\n", options.file.c_str(), options.threads);
    std::printf("%-7s %-9s %8s %12s %12s %16s %12s\n", "type", "simd", "MiB", "GB/s", "ns", "first pass GB/s", "read GB/s");
    for (const TensorType type : options.types) {
        Matrices m; // no data of its own: the list points into the map
        size_t bytes = 0;
        for (const gguf::TensorInfo& tensor : file->tensors()) {
            if (tensor.type != type || tensor.name.find("_exps") == std::string::npos) continue;
            for (int64_t e = 0; e < static_cast<int64_t>(tensor.ne[2]) && bytes < static_cast<size_t>(options.stream_mib) << 20; ++e) {
                m.list.push_back(cpu::weight_matrix(tensor, e));
                bytes += matmul_weight_bytes(m.list.back());
            }
        }
        if (m.list.empty()) continue;
        if (std::getenv("BENCH_PREFAULT")) {
            const auto t0 = std::chrono::steady_clock::now();
            for (const WeightMatrix& w : m.list) prefault_mapped(w.data, matmul_weight_bytes(w));
            std::printf("prefault: %.3f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            if (std::getenv("BENCH_TOUCH")) { // and one read per page, as the CPU backend does at load
                const auto t1 = std::chrono::steady_clock::now();
                for (const WeightMatrix& w : m.list) touch_mapped(w.data, matmul_weight_bytes(w));
                std::printf("touch: %.3f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count());
            }
        }
        const int64_t cols = m.list.front().cols;
        std::vector<float> x(static_cast<size_t>(cols));
        std::mt19937 random(7);
        std::normal_distribution<float> normal(0.0f, 1.0f);
        for (float& v : x) v = normal(random);
        int64_t max_rows = 0, weights = 0;
        for (const WeightMatrix& w : m.list) {
            max_rows = std::max(max_rows, w.rows);
            weights += w.rows * w.cols;
        }
        std::vector<float> y(static_cast<size_t>(max_rows));
        for (const SimdLevel level : {SimdLevel::Avx2, SimdLevel::Avx512, SimdLevel::Avx512Vbmi}) {
            set_simd_level(level);
            if (simd_level() != level) continue;
            ActivationBuffer buffer;
            quantize_activations(type, x.data(), cols, 1, buffer);
            double first = 0;
            const double s = time_passes(m, buffer, y, options.seconds, &first, pool);
            const double read_s = pool ? time_reads(m, *pool, options.seconds) : 0.0;
            std::printf("%-7s %-9s %8.0f %12.2f %12.2f %16.2f %12.2f\n", std::string(tensor_type_name(type)).c_str(),
                        std::string(simd_level_name(level)).c_str(), static_cast<double>(bytes) / (1 << 20),
                        static_cast<double>(bytes) / s * 1e-9, s * 1e9 / (static_cast<double>(weights) / 256.0),
                        static_cast<double>(bytes) / first * 1e-9, pool ? static_cast<double>(bytes) / read_s * 1e-9 : 0.0);
        }
    }
}

} // namespace

int main(int argc, char** argv) {
    const Options options = parse(argc, argv);
    std::mt19937 random(12345);
    std::vector<SimdLevel> levels;
    for (const SimdLevel level : {SimdLevel::Portable, SimdLevel::Avx2, SimdLevel::Avx512, SimdLevel::Avx512Vbmi}) {
        set_simd_level(level);
        if (simd_level() == level) levels.push_back(level);
    }
    std::optional<ThreadPool> pool_storage;
    if (options.threads > 1) pool_storage.emplace(options.threads);
    ThreadPool* pool = pool_storage ? &*pool_storage : nullptr;
    std::printf("%u thread(s); GB/s of weights read; ns per 256 weights per token%s\n", options.threads,
                pool ? "; read: the threads only reading the stream's bytes" : "");
    std::printf("%-7s %-9s %6s %10s %10s %12s %12s %12s\n", "type", "simd", "tokens", "hot GB/s", "hot ns", "stream GB/s", "stream ns", "read GB/s");
    for (const TensorType type : options.types) {
        // The routed-expert shape of DeepSeek-V2-Lite (up/gate: 1408 x 2048; types of 32-value
        // blocks take the down projection's 1408 columns), and a hot matrix of 1/8 of its rows.
        const int64_t block = tensor_type_info(type).block_size;
        const int64_t cols = block == 256 ? 2048 : 1408;
        const int64_t rows = block == 256 ? 1408 : 2048;
        const size_t matrix_bytes = static_cast<size_t>(rows) * tensor_row_bytes(type, cols);
        const int64_t stream_count = std::max<int64_t>(1, options.stream_mib * (int64_t{1} << 20) / static_cast<int64_t>(matrix_bytes));
        const Matrices hot = make_matrices(type, rows / 8, cols, 1, random);
        const Matrices stream = make_matrices(type, rows, cols, stream_count, random);
        for (const int n_tokens : options.tokens) {
            std::vector<float> x(static_cast<size_t>(n_tokens * cols));
            std::normal_distribution<float> normal(0.0f, 1.0f);
            for (float& v : x) v = normal(random);
            std::vector<float> y(static_cast<size_t>(n_tokens * rows));
            for (const SimdLevel level : levels) {
                if (level == SimdLevel::Portable && n_tokens > 1) continue;
                set_simd_level(level);
                ActivationBuffer buffer;
                quantize_activations(type, x.data(), cols, n_tokens, buffer);
                const double hot_s = time_passes(hot, buffer, y, options.seconds, nullptr, pool);
                const double stream_s = time_passes(stream, buffer, y, options.seconds, nullptr, pool);
                const double read_s = pool ? time_reads(stream, *pool, options.seconds) : 0.0;
                const double hot_bytes = static_cast<double>(hot.data.size());
                const double stream_bytes = static_cast<double>(stream.data.size());
                const double hot_units = static_cast<double>(rows / 8 * cols) / 256.0 * n_tokens;
                const double stream_units = static_cast<double>(rows * cols * stream_count) / 256.0 * n_tokens;
                std::printf("%-7s %-9s %6d %10.2f %10.2f %12.2f %12.2f %12.2f\n", std::string(tensor_type_name(type)).c_str(),
                            std::string(simd_level_name(level)).c_str(), n_tokens, hot_bytes / hot_s * 1e-9,
                            hot_s * 1e9 / hot_units, stream_bytes / stream_s * 1e-9, stream_s * 1e9 / stream_units,
                            pool ? stream_bytes / read_s * 1e-9 : 0.0);
                std::fflush(stdout);
            }
        }
    }
    if (!options.file.empty()) {
        try {
            bench_file(options, pool);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "bench_cpu_kernels: %s\n", e.what());
            return 1;
        }
    }
    return 0;
}
