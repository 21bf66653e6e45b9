// Helpers shared by the engine test suites: locating the conformance kit, scratch folders.
#pragma once

#include <QString>
#include <QTemporaryDir>

#include <filesystem>
#include <optional>
#include <string>

namespace latent::test {

// The conformance kit folder, or nullopt when it is absent (tests then QSKIP saying so).
std::optional<std::filesystem::path> conformance_dir();

// QSKIPs the current test with a clear message when the kit is missing; use as
//   LATENT_REQUIRE_CONFORMANCE(kit);  then kit is a std::filesystem::path.
#define LATENT_REQUIRE_CONFORMANCE(var)                                                          \
    const auto var##_opt = ::latent::test::conformance_dir();                                   \
    if (!var##_opt) QSKIP("conformance kit not found (set LATENT_CONFORMANCE_DIR or place it at ../shared/conformance)"); \
    const std::filesystem::path var = *var##_opt

// Path of the `latent` CLI binary under test (LATENT_CLI, set by CTest).
std::filesystem::path cli_path();

// Reads a whole file as bytes / text; throws std::runtime_error when it cannot.
std::string read_text_file(const std::filesystem::path& path);

inline std::filesystem::path to_path(const QString& s) { return std::filesystem::path(s.toStdString()); }

} // namespace latent::test
