// `latent run/chat --docs DB`: the bridge to the document library (documents/cli), which is
// built with the Qt-enabled build (LATENT_APP). Without it, --docs says so.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace latent::cli {

struct DocsQuestion {
    std::string content;                   // the user message: quoted passages, instruction, question
    std::vector<std::string> source_lines; // "[1] /path/file.pdf, page 3, characters 10-200"
};

bool documents_available();

// The passages of the index at `db` for `question`, at most `token_budget` tokens of them.
// Throws latent::Error (no index, not an index).
DocsQuestion ground_with_documents(const std::string& db, const std::string& question, const std::function<size_t(std::string_view)>& count_tokens,
                                   size_t token_budget);

} // namespace latent::cli
