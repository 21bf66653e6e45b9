// Loading the engine's plugins (the GPU backend, the document library for `latent docs`): shared
// modules installed beside the engine library, so that the engine and the CLI link neither CUDA
// nor Qt, and each package brings only what it needs.
//
// Search order: $<env_var> (a file path) when set, else the directory holding the engine library
// (the build tree's lib/, an install's lib/latent-chat/), then its `latent-chat` subdirectory.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace latent {

struct PluginSearch {
    const char* file;    // "liblatent-docs.so"
    const char* env_var; // "LATENT_DOCS_PLUGIN"
    const char* symbol;  // "latent_docs_plugin_entry"
};

// Loads the first candidate whose `symbol` `accept` takes (a candidate without it is skipped;
// `accept` says why it refuses in `why`) and returns that symbol. Returns nullptr when none
// was usable: `errors` is then empty when no candidate file exists at all, else it lists each
// candidate that failed ("; PATH: why"). A loaded but refused candidate stays loaded (unloading
// code that may have registered handlers is unsafe).
void* load_plugin(const PluginSearch& search, const std::function<bool(void* symbol, std::string& why)>& accept, std::string& errors);

// The common case: `symbol` is `const Table* entry()` and the table's first member `abi` must equal
// `abi` (a plugin of another build is refused: "… is from another build (plugin interface
// mismatch)"). Returns the table, or nullptr with `errors` as load_plugin leaves it.
template <typename Table> const Table* load_plugin_table(const PluginSearch& search, uint32_t abi, std::string& errors) {
    const Table* table = nullptr;
    load_plugin(
        search,
        [&](void* symbol, std::string& why) {
            const Table* candidate = reinterpret_cast<const Table* (*)()>(symbol)();
            if (candidate != nullptr && candidate->abi == abi) {
                table = candidate;
                return true;
            }
            why = "is from another build (plugin interface mismatch)";
            return false;
        },
        errors);
    return table;
}

} // namespace latent
