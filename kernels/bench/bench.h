// The kernel benchmark's registry (build/bin/bench_kernels). Each op family adds a
// bench_<family>.cpp here that registers its cases for the V2-Lite shapes:
//
//     LATENT_BENCHMARKS(norm_rope) {
//         auto x = std::make_shared<gpu::Buffer>(...);               // buffers live in the case
//         cases.push_back({"rms_norm d=2048", 3 * 2048 * 4.0,
//                          [x](gpu::Stream s) { kernels::rms_norm(..., s); }});
//     }
//
// bench_main.cpp measures the device-to-device copy bandwidth first, then times every case
// (CUDA events around many launches) and prints µs per launch, GB/s and % of the copy bandwidth.
#pragma once

#include "device.h"

#include <functional>
#include <string>
#include <vector>

namespace latent::bench {

// The DeepSeek-V2-Lite shapes the benchmarks use.
struct V2Lite {
    static constexpr int64_t n_embd = 2048;
    static constexpr int64_t n_vocab = 102400;
    static constexpr int64_t n_head = 16;
    static constexpr int64_t kv_lora_rank = 512;
    static constexpr int64_t qk_nope_dim = 128;
    static constexpr int64_t qk_rope_dim = 64;
    static constexpr int64_t v_head_dim = 128;
    static constexpr int64_t n_expert = 64;
    static constexpr int64_t n_expert_used = 6;
    static constexpr int64_t n_ff_expert = 1408;
    static constexpr int64_t n_ff = 10944;
    static constexpr int64_t n_layer = 27;
};

struct Case {
    std::string name;                      // kernel and shape, e.g. "rms_norm d=2048"
    double bytes = 0;                      // DRAM bytes one launch reads + writes (for GB/s)
    std::function<void(gpu::Stream)> run;  // one launch (asynchronous on the stream)
};

using Register = void (*)(std::vector<Case>& cases);

// Adds a family's cases; called by LATENT_BENCHMARKS at static initialisation.
int register_family(const char* family, Register add);

} // namespace latent::bench

#define LATENT_BENCHMARKS(family)                                                                \
    static void latent_bench_##family(std::vector<::latent::bench::Case>& cases);                \
    [[maybe_unused]] static const int latent_bench_registered_##family =                         \
        ::latent::bench::register_family(#family, &latent_bench_##family);                      \
    static void latent_bench_##family(std::vector<::latent::bench::Case>& cases)
