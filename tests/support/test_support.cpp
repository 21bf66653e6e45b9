#include "test_support.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace latent::test {

std::optional<std::filesystem::path> conformance_dir() {
    const char* env = std::getenv("LATENT_CONFORMANCE_DIR");
    std::filesystem::path dir = env && *env ? std::filesystem::path(env) : std::filesystem::path("../shared/conformance");
    std::error_code ec;
    if (std::filesystem::is_regular_file(dir / "README.md", ec)) return std::filesystem::canonical(dir, ec);
    return std::nullopt;
}

std::filesystem::path cli_path() {
    const char* env = std::getenv("LATENT_CLI");
    return env && *env ? std::filesystem::path(env) : std::filesystem::path("latent");
}

std::string read_text_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path.string());
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

} // namespace latent::test
