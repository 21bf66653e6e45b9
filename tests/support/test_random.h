// Deterministic random data for tests (fixed seeds: every run sees the same "fresh" data),
// independent of the standard library's distributions so values match on every platform.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>

namespace latent::test {

class Random {
public:
    explicit Random(uint32_t seed) : engine_(seed) {}
    uint32_t bits() { return static_cast<uint32_t>(engine_()); }
    uint8_t byte() { return static_cast<uint8_t>(engine_() >> 24); }
    // Uniform in [0, 1).
    double uniform() { return static_cast<double>(engine_() >> 8) * 0x1.0p-24; }
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
    // Standard normal (Box-Muller).
    double normal() {
        const double u1 = 1.0 - uniform();
        const double u2 = uniform();
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
    }

private:
    std::mt19937 engine_;
};

} // namespace latent::test
