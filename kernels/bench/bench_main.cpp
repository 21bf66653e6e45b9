// bench_kernels: per-kernel time, GB/s and % of the measured device copy bandwidth for the
// V2-Lite shapes. Options: --filter TEXT (cases whose name contains it), --iterations N.
// On the emulator (a build without CUDA) it runs each case once as a smoke test; the times are
// CPU times and say nothing about a GPU.
#include "bench.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace latent::bench {

namespace {

std::vector<std::pair<const char*, Register>>& families() {
    static std::vector<std::pair<const char*, Register>> list;
    return list;
}

// Milliseconds per launch of `launch`, averaged over `iterations` after `warmup` launches.
double time_ms(const std::function<void(gpu::Stream)>& launch, gpu::Stream stream, int warmup, int iterations) {
    for (int i = 0; i < warmup; ++i) launch(stream);
    gpu::Event start = gpu::event_create(), end = gpu::event_create();
    gpu::event_record(start, stream);
    for (int i = 0; i < iterations; ++i) launch(stream);
    gpu::event_record(end, stream);
    gpu::event_synchronize(end);
    const double ms = static_cast<double>(gpu::event_elapsed_ms(start, end)) / iterations;
    gpu::event_destroy(start);
    gpu::event_destroy(end);
    return ms;
}

// Device-to-device copy bandwidth in GB/s (1e9 bytes/s), counting the bytes read and written.
double copy_bandwidth_gbs(gpu::Stream stream, int iterations) {
    const std::size_t bytes = gpu::is_emulated() ? (64u << 20) : (1024u << 20);
    gpu::Buffer a(bytes), b(bytes);
    const double ms = time_ms([&](gpu::Stream s) { gpu::copy_on_device(b.data(), a.data(), bytes, s); }, stream,
                              gpu::is_emulated() ? 0 : 3, iterations);
    return 2.0 * static_cast<double>(bytes) / (ms * 1e6);
}

} // namespace

int register_family(const char* family, Register add) {
    families().emplace_back(family, add);
    return static_cast<int>(families().size());
}

} // namespace latent::bench

int main(int argc, char** argv) {
    using namespace latent;
    std::string filter;
    int iterations = gpu::is_emulated() ? 1 : 200;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--filter") && i + 1 < argc) {
            filter = argv[++i];
        } else if (!std::strcmp(argv[i], "--iterations") && i + 1 < argc) {
            iterations = std::max(1, std::atoi(argv[++i]));
        } else {
            std::fprintf(stderr, "usage: %s [--filter TEXT] [--iterations N]\n", argv[0]);
            return 2;
        }
    }
    try {
        if (!gpu::device_available()) {
            std::fprintf(stderr, "bench_kernels: no CUDA device\n");
            return 1;
        }
        gpu::Stream stream = gpu::stream_create();
        const double copy_gbs = bench::copy_bandwidth_gbs(stream, gpu::is_emulated() ? 1 : 20);
        std::printf("device: %s\n", gpu::device_name().c_str());
        std::printf("device-to-device copy: %.1f GB/s (read + write)%s\n\n", copy_gbs,
                    gpu::is_emulated() ? "  [emulator: CPU times, a smoke test only]" : "");
        std::printf("%-48s %12s %10s %8s\n", "kernel (V2-Lite shape)", "us/launch", "GB/s", "% copy");
        int failures = 0;
        for (const auto& [family, add] : bench::families()) {
            std::vector<bench::Case> cases;
            add(cases);
            for (const auto& c : cases) {
                if (!filter.empty() && c.name.find(filter) == std::string::npos) continue;
                try {
                    const double ms = bench::time_ms(c.run, stream, gpu::is_emulated() ? 0 : 5, iterations);
                    const double gbs = c.bytes / (ms * 1e6);
                    std::printf("%-48s %12.2f %10.1f %7.1f%%\n", c.name.c_str(), ms * 1000.0, gbs, 100.0 * gbs / copy_gbs);
                } catch (const std::exception& e) {
                    ++failures;
                    std::printf("%-48s FAILED: %s\n", c.name.c_str(), e.what());
                }
            }
        }
        gpu::stream_destroy(stream);
        return failures ? 1 : 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_kernels: %s\n", e.what());
        return 1;
    }
}
