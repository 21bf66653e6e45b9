// The built-in demo model: a tiny deepseek2 model the project trains itself on WordNet
// (tools/demo-model), shipped so that a first run without a downloaded model still answers
// something sensible, offline. It knows dictionary definitions and little else.
#pragma once

#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

namespace latent {

// The label every user-facing place shows next to it.
inline constexpr std::string_view kDemoModelLabel =
    "Demo model \u2014 a tiny dictionary model, not a general assistant; download a DeepSeek model for real work";

// The file name it is installed and shipped under (resources/models/ in the source tree).
inline constexpr std::string_view kDemoModelFile = "demo-model-q8_0.gguf";

// Where it is looked for, in order: $LATENT_DEMO_MODEL (a file path; when set, the only
// candidate), <dir of the running program>/../share/latent-chat/demo/ (not models/: that is
// the shared model folder the app lists), the same beside the
// engine library's install folder, and the source tree's resources/models/ (a build-tree run).
std::vector<std::filesystem::path> demo_model_candidates();

// The first candidate that exists, or nullopt.
std::optional<std::filesystem::path> find_demo_model();

} // namespace latent
