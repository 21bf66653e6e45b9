// `latent docs …` and `latent run/chat --docs DB`: the bridge to the document library. The library
// needs Qt (QtPdf reads PDFs), and `latent` must not, so it is a plugin, liblatent-docs.so
// (documents/cli/), built with the Qt-enabled build (LATENT_APP) and installed with the
// latent-chat package beside the engine library; `latent` loads it on first use (the search order
// of core/plugin_loader.h, $LATENT_DOCS_PLUGIN first) and says plainly when it is not there.
// Both sides are built from the same sources by the same compiler, so the table passes C++ types;
// `abi` guards against a plugin of another build, and no exception crosses the boundary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace latent::cli {

struct DocsQuestion {
    std::string content;                   // the user message: quoted passages, instruction, question
    std::vector<std::string> source_lines; // "[1] /path/file.pdf, page 3, characters 10-200"
};

// ---- In `latent` (docs_support.cpp) ----------------------------------------------------------

// Whether the document library plugin could be loaded (loads it on first call).
bool documents_available();

// The passages of the index at `db` for `question`, at most `token_budget` tokens of them.
// Throws latent::Error (no plugin, no index, not an index).
DocsQuestion ground_with_documents(const std::string& db, const std::string& question, const std::function<size_t(std::string_view)>& count_tokens,
                                   size_t token_budget);

// ---- The plugin's interface ------------------------------------------------------------------

inline constexpr uint32_t kDocsPluginAbi = 1;

// How a call into the plugin ended: an exit status (commands.h) and, when it failed, the error
// and whether it was the command line's fault (UsageError).
struct DocsOutcome {
    int exit_code = 0;
    std::string error;
    bool usage_error = false;
};

struct DocsPlugin {
    uint32_t abi = kDocsPluginAbi;
    DocsOutcome (*docs_command)(const std::vector<std::string>& argv) = nullptr; // `latent docs ARGS`
    DocsOutcome (*ground)(const std::string& db, const std::string& question, const std::function<size_t(std::string_view)>& count_tokens,
                          size_t token_budget, DocsQuestion& out) = nullptr;
};

// ---- In the plugin (documents/cli/) ----------------------------------------------------------

int docs_command(const std::vector<std::string>& argv); // cmd_docs.cpp; throws latent::Error
DocsQuestion ground_in_library(const std::string& db, const std::string& question, const std::function<size_t(std::string_view)>& count_tokens,
                               size_t token_budget); // docs_grounding.cpp; throws latent::Error

} // namespace latent::cli

extern "C" const latent::cli::DocsPlugin* latent_docs_plugin_entry();
