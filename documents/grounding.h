// The question a model answers from documents: the retrieved passages quoted as data with
// numbered sources, an instruction to cite them as [n], then the question. The passages go
// into the user message's content, which the chat format tokenizes with special-token parsing
// off (Tokenizer::encode_with_literal_ranges): a chat marker inside a document stays text.
#pragma once

#include "retriever.h"

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace latent::documents {

struct GroundedQuestion {
    std::string content;          // the user message to send
    std::vector<Passage> sources; // the passages it quotes, source n = sources[n - 1]
};

// Fits passages (best first) into `token_budget` tokens as counted by `count_tokens`; a
// passage that does not fit is left out (later, shorter ones may still fit). With no passage
// the question is sent with a note that nothing was found.
GroundedQuestion ground_question(std::string_view question, const std::vector<Passage>& passages,
                                 const std::function<size_t(std::string_view)>& count_tokens, size_t token_budget);

// "[2] /home/me/manual.pdf, page 3" — a source as the terminal and the app list it.
std::string describe_source(size_t number, const Passage& passage);

} // namespace latent::documents
