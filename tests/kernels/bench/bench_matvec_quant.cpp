// Decode matvec / small-batch / dequant benchmarks on the V2-Lite shapes: per kernel µs (CUDA
// events around 20 back-to-back launches, median of 7), GB/s of the bytes it must move, and % of the device's measured
// copy bandwidth. Before timing, every configuration is checked once against the engine's oracle
// (dequantize_row, double-precision product on the activations as quantised) with the kernel
// tests' rounding limit, so a number is never printed for a wrong kernel.
//
//   bench_matvec_quant [--quick]      (--quick: a few shapes, for the emulator)
#include "bench_matvec_quant.h"

#include "dequant.h"
#include "device.h"
#include "matvec_quant.h"

#include "quant_test_data.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace latent::bench {
namespace {

using kernels::QuantType;

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// µs per call of f: the median over `repeats` samples of `batch` back-to-back calls between two
// events (as in a CUDA graph, one launch's latency hides behind the next), after a warm-up.
template <class F>
double time_us(F&& f, int repeats, int batch = 20) {
    f();
    gpu::device_synchronize();
    const gpu::Event start = gpu::event_create(), stop = gpu::event_create();
    std::vector<double> samples;
    for (int i = 0; i < repeats; ++i) {
        gpu::event_record(start);
        for (int k = 0; k < batch; ++k) f();
        gpu::event_record(stop);
        gpu::event_synchronize(stop);
        samples.push_back(1000.0 * gpu::event_elapsed_ms(start, stop) / batch);
    }
    gpu::event_destroy(start);
    gpu::event_destroy(stop);
    return median(samples);
}

// Largest error of y against the engine's exact product on the activations as quantised, as a
// fraction of the kernel tests' rounding limit (> 1 = wrong); every 97th row.
double check_against_engine(QuantType t, const std::vector<uint8_t>& w, int64_t rows, int64_t cols,
                            const std::vector<float>& x, int64_t tokens, const std::vector<float>& y) {
    std::vector<int64_t> picked;
    for (int64_t o = 0; o < rows; o += 97) picked.push_back(o);
    const size_t row_bytes = w.size() / static_cast<size_t>(rows);
    std::vector<uint8_t> sample;
    for (int64_t o : picked) {
        sample.insert(sample.end(), w.begin() + static_cast<std::ptrdiff_t>(row_bytes * static_cast<size_t>(o)),
                      w.begin() + static_cast<std::ptrdiff_t>(row_bytes * static_cast<size_t>(o + 1)));
    }
    const auto n = static_cast<int64_t>(picked.size());
    const std::vector<float> decoded = test::dequantize_matrix(t, sample, n, cols);
    const bool float_type = !kernels::uses_q8_activations(t);
    const test::ReferenceProduct ref =
        test::reference_product(decoded, n, cols, float_type ? x : test::quantized_activation_values(x), tokens);
    const double eps = 8.0 * (static_cast<double>(cols) / 32 + 32) * 0x1.0p-24;
    double worst = 0.0;
    for (int64_t k = 0; k < tokens; ++k) {
        for (int64_t i = 0; i < n; ++i) {
            const size_t r = static_cast<size_t>(k * n + i);
            const double err = std::fabs(y[static_cast<size_t>(k * rows + picked[static_cast<size_t>(i)])] - ref.y[r]);
            worst = std::max(worst, std::isnan(err) ? 1e9 : err / (eps * ref.magnitude[r] + 1e-30));
        }
    }
    return worst;
}

struct Shape {
    const char* tensor;
    int64_t rows, cols;
    QuantType type;
};

} // namespace

double copy_bandwidth_gbs() {
    const size_t bytes = gpu::is_emulated() ? (size_t{16} << 20) : (size_t{1} << 30);
    gpu::Buffer a(bytes), b(bytes);
    gpu::device_memset(a.data(), 1, bytes);
    const double us = time_us([&] { gpu::copy_on_device(b.data(), a.data(), bytes); }, 5, 4);
    return 2.0 * static_cast<double>(bytes) / (us * 1e3); // read + write
}

int run_matvec_benchmarks(bool quick, double copy_gbs) {
    // V2-Lite decode matrices (deepseek2-gguf.md §3.2, §7.5) and every other type on the
    // attn_output shape.
    std::vector<Shape> shapes = {
        {"attn_q", 3072, 2048, QuantType::Q4_K},         {"attn_kv_a_mqa", 576, 2048, QuantType::Q4_K},
        {"attn_output", 2048, 2048, QuantType::Q4_K},    {"ffn_up_shexp", 2816, 2048, QuantType::Q4_K},
        {"ffn_down_shexp", 2048, 2816, QuantType::Q6_K}, {"ffn_down_exps", 2048, 1408, QuantType::Q8_0},
        {"ffn_down_exps", 2048, 1408, QuantType::Q5_0},  {"attn_k_b (16 heads)", 8192, 128, QuantType::Q5_0},
        {"output", 102400, 2048, QuantType::Q6_K},
    };
    for (QuantType t : kernels::kAllQuantTypes) {
        if (t != QuantType::Q4_K) shapes.push_back({"2048x2048", 2048, 2048, t});
    }
    if (quick) shapes.resize(3);
    test::Random random(12345);
    int failures = 0;
    std::printf("| kernel | tensor | type | rows x cols | tokens | µs | GB/s | %% of copy | check |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|\n");
    for (const Shape& s : shapes) {
        const std::vector<uint8_t> w = test::random_quant_matrix(s.type, s.rows, s.cols, random);
        const gpu::Buffer wd = gpu::upload(w);
        const kernels::QuantMatrix m{s.type, wd.data(), s.rows, s.cols};
        for (int64_t tokens : {int64_t{1}, int64_t{4}, int64_t{16}}) {
            if (quick && tokens == 4) continue;
            std::vector<float> x(static_cast<size_t>(tokens * s.cols));
            for (float& v : x) v = static_cast<float>(random.normal());
            const gpu::Buffer xd = gpu::upload(x);
            gpu::Buffer q8(kernels::q8_activation_bytes(s.cols, tokens));
            gpu::Buffer y(static_cast<size_t>(tokens * s.rows) * sizeof(float));
            gpu::device_memset(y.data(), 0xFF, y.bytes());
            const auto run = [&] {
                if (kernels::uses_q8_activations(s.type)) kernels::quantize_q8(xd.as<float>(), s.cols, tokens, q8.data());
                kernels::matmul_quant(m, xd.as<float>(), q8.data(), tokens, y.as<float>());
            };
            run();
            const double worst = check_against_engine(s.type, w, s.rows, s.cols, x, tokens, gpu::download<float>(y));
            const bool ok = worst <= 1.0;
            failures += ok ? 0 : 1;
            // Time the matvec alone (the activation quantisation is fused into RMSNorm in the model).
            const double us = time_us([&] { kernels::matmul_quant(m, xd.as<float>(), q8.data(), tokens, y.as<float>()); },
                                      quick ? 1 : 7, quick ? 1 : 20);
            const double gbs = static_cast<double>(kernels::matmul_quant_bytes(m, tokens)) / (us * 1e3);
            std::printf("| %s | %s | %s | %lld x %lld | %lld | %.1f | %.0f | %.0f%% | %s (%.3f) |\n",
                        kernels::uses_q8_activations(s.type) ? "matvec_q8" : "matvec_f", s.tensor,
                        kernels::quant_type_name(s.type), static_cast<long long>(s.rows),
                        static_cast<long long>(s.cols), static_cast<long long>(tokens), us, gbs, 100.0 * gbs / copy_gbs,
                        ok ? "ok" : "WRONG", worst);
        }
        if (!quick) {
            gpu::Buffer tile(static_cast<size_t>(s.rows * s.cols) * 2);
            const double us = time_us(
                [&] { kernels::dequantize_rows(m, 0, s.rows, kernels::HalfFormat::F16, tile.data()); }, 5, 10);
            const double gbs = static_cast<double>(kernels::dequantize_rows_bytes(m, 0, s.rows)) / (us * 1e3);
            std::printf("| dequant_tile f16 | %s | %s | %lld x %lld | - | %.1f | %.0f | %.0f%% | - |\n", s.tensor,
                        kernels::quant_type_name(s.type), static_cast<long long>(s.rows),
                        static_cast<long long>(s.cols), us, gbs, 100.0 * gbs / copy_gbs);
        }
    }
    return failures;
}

} // namespace latent::bench
