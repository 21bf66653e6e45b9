#include "docs_support.h"

#include "cli_args.h"
#include "commands.h"

#include "core/error.h"
#include "core/plugin_loader.h"

#include <mutex>
#include <stdexcept>

namespace latent::cli {

namespace {

constexpr const char* kPluginFile = "liblatent-docs.so";

struct Loaded {
    const DocsPlugin* plugin = nullptr;
    std::string error;
};

const Loaded& loaded() {
    static std::once_flag once;
    static Loaded result;
    std::call_once(once, [] {
        std::string errors;
        result.plugin = load_plugin_table<DocsPlugin>({kPluginFile, "LATENT_DOCS_PLUGIN", "latent_docs_plugin_entry"}, kDocsPluginAbi, errors);
        if (result.plugin != nullptr) return;
        if (errors.empty()) {
            result.error = std::string("the document library is not installed (") + kPluginFile +
                           " not found next to the engine library): it comes with the latent-chat package "
                           "(sudo apt install latent-chat), or with a build of latent that has the app (LATENT_APP=ON)";
        } else {
            result.error = "the document library could not be loaded" + errors;
        }
    });
    return result;
}

const DocsPlugin& plugin() {
    const Loaded& l = loaded();
    if (l.plugin == nullptr) throw Error(l.error);
    return *l.plugin;
}

void rethrow(const DocsOutcome& outcome) {
    if (outcome.error.empty()) return;
    if (outcome.usage_error) throw UsageError(outcome.error);
    if (outcome.exit_code == kExitInternal) throw std::runtime_error(outcome.error);
    throw Error(outcome.error);
}

} // namespace

bool documents_available() { return loaded().plugin != nullptr; }

DocsQuestion ground_with_documents(const std::string& db, const std::string& question, const std::function<size_t(std::string_view)>& count_tokens,
                                   size_t token_budget) {
    DocsQuestion out;
    rethrow(plugin().ground(db, question, count_tokens, token_budget, out));
    return out;
}

int run_docs(const std::vector<std::string>& argv) {
    const DocsOutcome outcome = plugin().docs_command(argv);
    rethrow(outcome);
    return outcome.exit_code;
}

} // namespace latent::cli
