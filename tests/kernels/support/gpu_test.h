// Helpers shared by the kernel test suites (tests/kernels/): device checks, poisoned outputs,
// comparisons with relative-error limits that name the worst element and the emulator seed.
#pragma once

#include "device.h"
#include "test_random.h"

#include <QTest>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace latent::test {

// True when LATENT_GPU_TEST_BIG=1: the device run's bigger shape grids.
bool gpu_big_grids();

// "emulator schedule seed N (rerun with LATENT_EMU_SEED=N)", or the device name on a GPU.
std::string gpu_run_note();

// A device buffer of `count` T filled with 0xFF bytes (NaN in every float format), so an output
// element a kernel forgets to write fails the comparison.
template <class T> gpu::Buffer poisoned_buffer(std::size_t count) {
    gpu::Buffer buffer(count * sizeof(T));
    gpu::device_memset(buffer.data(), 0xFF, buffer.bytes());
    return buffer;
}

std::vector<float> random_floats(Random& random, std::size_t count, float scale = 1.0f);

// Compares element-wise: |actual - expected| <= abs_limit + rel_limit * |expected|; where the
// expected value is NaN or infinite the actual one must be the same (a NaN elsewhere fails). Returns an empty string or a description of the worst element and the run note.
std::string compare_floats(const std::vector<float>& actual, const std::vector<float>& expected, double rel_limit,
                           double abs_limit = 0.0);

} // namespace latent::test

// For initTestCase: skips (counted as skipped by CTest) when there is no device — only a CUDA
// build without a GPU — and otherwise prints the device or the emulator's seed, so every failure
// in the output comes with the seed that repeats it.
#define LATENT_REQUIRE_GPU()                                                                     \
    do {                                                                                          \
        if (!::latent::gpu::device_available()) QSKIP("SKIP: no CUDA device");                   \
        qInfo("%s", ::latent::test::gpu_run_note().c_str());                                      \
    } while (false)

// QVERIFYs a comparison made by compare_floats.
#define LATENT_COMPARE_FLOATS(actual, expected, ...)                                             \
    do {                                                                                          \
        const std::string latent_mismatch = ::latent::test::compare_floats((actual), (expected), __VA_ARGS__); \
        QVERIFY2(latent_mismatch.empty(), latent_mismatch.c_str());                              \
    } while (false)
