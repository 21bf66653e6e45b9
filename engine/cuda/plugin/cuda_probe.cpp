// probe_cuda_devices over the CUDA runtime API (compiled by the C++ compiler, linked with the
// static cudart). Every call's status is checked; the first failure that leaves no device becomes
// the probe's error. A device that fails individually (e.g. its context cannot be created because
// it is in exclusive use or out of memory) is left out, and named in the error if none remains.
#include "cuda/plugin/cuda_plugin_parts.h"

#include <cuda_runtime_api.h>

#include <exception>
#include <new>
#include <string>
#include <utility>

namespace latent {

namespace {

// "no CUDA-capable device is detected (cudaErrorNoDevice)"
std::string describe(cudaError_t status) {
    const char* message = cudaGetErrorString(status);
    const char* name = cudaGetErrorName(status);
    std::string text = message != nullptr ? message : "unknown CUDA error";
    if (name != nullptr) text += std::string(" (") + name + ")";
    else text += " (error " + std::to_string(static_cast<int>(status)) + ")";
    return text;
}

// "13.0" from the runtime's 1000·major + 10·minor encoding.
std::string cuda_version_text(int version) {
    return std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10);
}

// cudaErrorInsufficientDriver means either no driver at all (the runtime found no libcuda) or one
// too old for this runtime; the driver version (0 without a driver) tells which.
std::string describe_driver_problem(cudaError_t status) {
    int driver = 0;
    int runtime = 0;
    if (cudaDriverGetVersion(&driver) != cudaSuccess) driver = 0;
    if (cudaRuntimeGetVersion(&runtime) != cudaSuccess) runtime = 0;
    (void)cudaGetLastError();
    const char* name = cudaGetErrorName(status);
    const std::string code = name != nullptr ? name : "cudaErrorInsufficientDriver";
    if (driver == 0) return "no NVIDIA driver is installed (" + code + ")";
    if (runtime > 0)
        return "the NVIDIA driver supports CUDA " + cuda_version_text(driver) + " but this build needs CUDA " + cuda_version_text(runtime) +
               " or newer; update the driver (" + code + ")";
    return describe(status);
}

// Reads one device; returns cudaSuccess or the status of the first call that failed.
cudaError_t read_device(int index, CudaDeviceInfo& info) {
    cudaDeviceProp prop{};
    cudaError_t status = cudaGetDeviceProperties(&prop, index);
    if (status != cudaSuccess) return status;
    info.index = index;
    prop.name[sizeof prop.name - 1] = '\0';
    info.name = prop.name;
    info.compute_major = prop.major;
    info.compute_minor = prop.minor;
    info.multiprocessors = prop.multiProcessorCount;
    info.total_bytes = prop.totalGlobalMem;

    // Peak bandwidth: double data rate × memory clock × bus width. CUDA 13 dropped the clock
    // from cudaDeviceProp; the attribute may be 0 (unknown) on some devices and drivers.
    int clock_khz = 0;
    int bus_bits = 0;
    if (cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, index) == cudaSuccess &&
        cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, index) == cudaSuccess && clock_khz > 0 && bus_bits > 0) {
        info.peak_bandwidth_gbs = 2.0 * static_cast<double>(clock_khz) * 1e3 * (static_cast<double>(bus_bits) / 8.0) / 1e9;
    } else {
        (void)cudaGetLastError(); // an unsupported attribute is not an error of the device
        info.peak_bandwidth_gbs = 0.0;
    }

    status = cudaSetDevice(index);
    if (status != cudaSuccess) return status;
    size_t free_bytes = 0;
    size_t total_bytes = 0;
    status = cudaMemGetInfo(&free_bytes, &total_bytes);
    if (status != cudaSuccess) return status;
    info.free_bytes = free_bytes;
    if (total_bytes > 0) info.total_bytes = total_bytes;
    return cudaSuccess;
}

CudaProbe probe() {
    CudaProbe result;
    int count = 0;
    const cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess) {
        (void)cudaGetLastError();
        result.error = status == cudaErrorInsufficientDriver ? describe_driver_problem(status) : describe(status);
        return result;
    }
    if (count <= 0) {
        result.error = describe(cudaErrorNoDevice);
        return result;
    }

    int previous = -1;
    const bool had_current = cudaGetDevice(&previous) == cudaSuccess;
    std::string failures;
    for (int index = 0; index < count; ++index) {
        CudaDeviceInfo info;
        const cudaError_t device_status = read_device(index, info);
        if (device_status == cudaSuccess) {
            result.devices.push_back(std::move(info));
        } else {
            (void)cudaGetLastError();
            if (!failures.empty()) failures += "; ";
            failures += "device " + std::to_string(index) + ": " + describe(device_status);
        }
    }
    if (had_current && previous >= 0) (void)cudaSetDevice(previous);
    (void)cudaGetLastError();
    if (result.devices.empty()) result.error = failures;
    return result;
}

} // namespace

CudaProbe probe_native_cuda_devices() {
    try {
        return probe();
    } catch (const std::bad_alloc&) {
        CudaProbe result;
        result.error = "out of memory while probing CUDA devices";
        return result;
    } catch (const std::exception& e) {
        // Nothing above throws except through std::string; keep the promise anyway.
        CudaProbe result;
        result.error = std::string("CUDA probe failed: ") + e.what();
        return result;
    }
}

} // namespace latent
