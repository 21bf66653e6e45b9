// liblatent-docs.so's entry point (engine/cli/docs_support.h): `latent docs` and the grounding of
// `latent run/chat --docs`, with every exception turned into a DocsOutcome at the boundary.
#include "cli_args.h"
#include "commands.h"
#include "docs_support.h"

#include "core/error.h"

#include <exception>
#include <new>

namespace latent::cli {
namespace {

template <typename Work> DocsOutcome guarded(Work&& work) {
    DocsOutcome outcome;
    try {
        outcome.exit_code = work();
    } catch (const UsageError& e) {
        outcome = {kExitUsage, e.what(), true};
    } catch (const Error& e) {
        outcome = {kExitFailed, e.what(), false};
    } catch (const std::bad_alloc&) {
        outcome = {kExitFailed, "out of memory", false};
    } catch (const std::exception& e) {
        outcome = {kExitInternal, e.what(), false};
    }
    return outcome;
}

DocsOutcome docs_command_entry(const std::vector<std::string>& argv) {
    return guarded([&] { return docs_command(argv); });
}

DocsOutcome ground_entry(const std::string& db, const std::string& question, const std::function<size_t(std::string_view)>& count_tokens,
                         size_t token_budget, DocsQuestion& out) {
    return guarded([&] {
        out = ground_in_library(db, question, count_tokens, token_budget);
        return kExitOk;
    });
}

const DocsPlugin kPlugin{kDocsPluginAbi, docs_command_entry, ground_entry};

} // namespace
} // namespace latent::cli

extern "C" __attribute__((visibility("default"))) const latent::cli::DocsPlugin* latent_docs_plugin_entry() { return &latent::cli::kPlugin; }
