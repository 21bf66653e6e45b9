#include "gpu_test.h"

#include <cmath>
#include <cstdlib>
#include <sstream>

namespace latent::test {

bool gpu_big_grids() {
    const char* value = std::getenv("LATENT_GPU_TEST_BIG");
    return value && std::string(value) == "1";
}

std::string gpu_run_note() {
    if (!gpu::is_emulated()) return "device: " + gpu::device_name();
    const std::string seed = std::to_string(gpu::emulator_seed());
    return "emulator schedule seed " + seed + " (rerun with LATENT_EMU_SEED=" + seed + ")";
}

std::vector<float> random_floats(Random& random, std::size_t count, float scale) {
    std::vector<float> values(count);
    for (float& v : values) v = static_cast<float>(random.normal()) * scale;
    return values;
}

std::string compare_floats(const std::vector<float>& actual, const std::vector<float>& expected, double rel_limit,
                           double abs_limit) {
    std::ostringstream out;
    if (actual.size() != expected.size()) {
        out << "size " << actual.size() << " != expected " << expected.size();
        return out.str();
    }
    std::size_t worst = 0, failures = 0;
    double worst_excess = -1.0;
    for (std::size_t i = 0; i < actual.size(); ++i) {
        const double a = actual[i], e = expected[i];
        const double limit = abs_limit + rel_limit * std::fabs(e);
        const double error = std::fabs(a - e);
        const bool ok = std::isnan(e) ? std::isnan(a) : (std::isinf(e) ? a == e : error <= limit);
        if (ok) continue;
        ++failures;
        const double excess = std::isnan(error) ? 1e300 : error - limit;
        if (excess > worst_excess) worst_excess = excess, worst = i;
    }
    if (failures == 0) return {};
    out.precision(9);
    out << failures << " of " << actual.size() << " elements out of tolerance (rel " << rel_limit << ", abs "
        << abs_limit << "); worst at " << worst << ": got " << actual[worst] << ", expected " << expected[worst]
        << "; " << gpu_run_note();
    return out.str();
}

} // namespace latent::test
