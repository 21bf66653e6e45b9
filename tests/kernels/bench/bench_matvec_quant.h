// The quantised matvec / dequant benchmarks, for a benchmark driver (bench_kernels) to call.
#pragma once

namespace latent::bench {

// Device-to-device copy bandwidth in GB/s (bytes read + written per second).
double copy_bandwidth_gbs();

// Prints the Markdown table of the V2-Lite decode shapes; returns how many configurations
// failed their correctness check (0 = all right). quick: three shapes, few repeats (emulator).
int run_matvec_benchmarks(bool quick, double copy_gbs);

} // namespace latent::bench
