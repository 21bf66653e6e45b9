// bench_matvec_quant: the quantised matvec / dequant benchmark on its own (the device run calls
// it through scripts/gpu-check.sh). Exit status 1 when a kernel failed its correctness check,
// 2 without a device.
#include "bench_matvec_quant.h"

#include "device.h"

#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
    const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
    if (!latent::gpu::device_available()) {
        std::printf("SKIP: no CUDA device\n");
        return 2;
    }
    const double copy = latent::bench::copy_bandwidth_gbs();
    std::printf("device: %s; device-to-device copy %.0f GB/s\n\n", latent::gpu::device_name().c_str(), copy);
    const int failures = latent::bench::run_matvec_benchmarks(quick, copy);
    std::printf("\n%d configuration(s) failed the correctness check\n", failures);
    return failures ? 1 : 0;
}
