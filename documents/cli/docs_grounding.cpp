// `latent run/chat --docs DB`: the passages for a question, fitted into the context.
#include "docs_support.h"

#include "core/error.h"

#include "documents/grounding.h"
#include "documents/retriever.h"

namespace latent::cli {

DocsQuestion ground_in_library(const std::string& db, const std::string& question, const std::function<size_t(std::string_view)>& count_tokens,
                               size_t token_budget) {
    try {
        documents::Library library(db, false);
        documents::SearchOptions options;
        options.top_k = 8;
        const std::vector<documents::Passage> passages = documents::search(library, question, options);
        const documents::GroundedQuestion grounded = documents::ground_question(question, passages, count_tokens, token_budget);
        DocsQuestion out;
        out.content = grounded.content;
        for (size_t i = 0; i < grounded.sources.size(); ++i) out.source_lines.push_back(documents::describe_source(i + 1, grounded.sources[i]));
        return out;
    } catch (const documents::LibraryError& e) {
        throw Error(e.what());
    }
}

} // namespace latent::cli
