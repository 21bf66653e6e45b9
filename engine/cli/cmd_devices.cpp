// `latent devices [--json]`: the NVIDIA GPUs this binary can use, or why there are none. Either
// way the answer goes to stdout and the exit status is 0 (no GPU is a fact, not an error).
#include "cli_args.h"
#include "commands.h"

#include "backend/vram_plan.h"
#include "core/error.h"
#include "core/json_writer.h"
#include "cuda/cuda_device.h"

#include <cstdio>

namespace latent::cli {
namespace {

const std::vector<OptionSpec> kOptions = {
    {"--json", "", false, "print one JSON object instead of text"},
    {"--help", "-h", false, "show this help"},
};

std::string bandwidth_text(double gbs) {
    if (gbs <= 0.0) return "unknown";
    char text[32];
    std::snprintf(text, sizeof text, "%.0f GB/s", gbs);
    return text;
}

void print_text(const CudaProbe& probe) {
    if (probe.devices.empty()) {
        std::printf("no usable NVIDIA GPU: %s\n", probe.error.c_str());
        return;
    }
    for (const CudaDeviceInfo& d : probe.devices) {
        std::printf("device %d: %s\n", d.index, d.name.c_str());
        std::printf("  %-20s %d.%d\n", "compute capability:", d.compute_major, d.compute_minor);
        std::printf("  %-20s %d\n", "multiprocessors:", d.multiprocessors);
        std::printf("  %-20s %s total, %s free\n", "memory:", format_memory_size(d.total_bytes).c_str(), format_memory_size(d.free_bytes).c_str());
        std::printf("  %-20s %s\n", "peak bandwidth:", bandwidth_text(d.peak_bandwidth_gbs).c_str());
    }
}

void print_json(const CudaProbe& probe) {
    JsonWriter j;
    j.begin_object();
    j.key("devices").begin_array();
    for (const CudaDeviceInfo& d : probe.devices) {
        j.begin_object()
            .key("index").value(d.index)
            .key("name").value(d.name)
            .key("compute_capability").value(std::to_string(d.compute_major) + "." + std::to_string(d.compute_minor))
            .key("multiprocessors").value(d.multiprocessors)
            .key("total_bytes").value(d.total_bytes)
            .key("free_bytes").value(d.free_bytes);
        j.key("peak_bandwidth_gbs");
        if (d.peak_bandwidth_gbs > 0.0) j.value(d.peak_bandwidth_gbs, 6);
        else j.null();
        j.end_object();
    }
    j.end_array();
    j.key("error");
    if (probe.devices.empty()) j.value(probe.error);
    else j.null();
    j.end_object();
    std::printf("%s\n", j.str().c_str());
}

} // namespace

int run_devices(const std::vector<std::string>& argv) {
    const Args args = Args::parse("devices", kOptions, argv);
    if (args.flag("--help")) {
        std::fputs(usage_text("devices", "[--json]", kOptions).c_str(), stdout);
        return 0;
    }
    if (!args.positional().empty()) throw Error("unexpected argument '" + args.positional().front() + "'");
    const CudaProbe probe = probe_cuda_devices();
    if (args.flag("--json")) print_json(probe);
    else print_text(probe);
    return 0;
}

} // namespace latent::cli
