// Loading and validating tokenizer.* metadata (spec §5.1).
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocabulary_rules.h"

#include "core/error.h"
#include "gguf/gguf.h"

#include <limits>
#include <unordered_set>

namespace latent::tokenizer {

namespace {

constexpr std::string_view kModelKey = "tokenizer.ggml.model";
constexpr std::string_view kPreKey = "tokenizer.ggml.pre";
constexpr std::string_view kTokensKey = "tokenizer.ggml.tokens";
constexpr std::string_view kTypesKey = "tokenizer.ggml.token_type";
constexpr std::string_view kMergesKey = "tokenizer.ggml.merges";

std::string in_quotes(std::string_view text) { return "\"" + std::string(text) + "\""; }

std::optional<int32_t> read_token_id(const gguf::File& file, std::string_view key) {
    if (!file.has(key)) return std::nullopt;
    const int64_t value = file.get_int(key);
    if (value < 0 || value > std::numeric_limits<int32_t>::max()) {
        throw Error(file.display_name() + ": " + std::string(key) + " = " + std::to_string(value) + " is not a valid token id");
    }
    return static_cast<int32_t>(value);
}

void check_token_id(const std::optional<int32_t>& id, std::string_view key, size_t n_vocab) {
    if (id && (*id < 0 || static_cast<size_t>(*id) >= n_vocab)) {
        throw Error(std::string(key) + " = " + std::to_string(*id) + " is out of range (the vocabulary has " +
                    std::to_string(n_vocab) + " tokens)");
    }
}

} // namespace

std::optional<MergeSides> split_merge(std::string_view merge) {
    if (merge.size() < 2) return std::nullopt;
    const size_t space = merge.find(' ', 1);
    if (space == std::string_view::npos) return std::nullopt;
    return MergeSides{merge.substr(0, space), merge.substr(space + 1)};
}

std::string merge_error(size_t index, std::string_view merge, std::string_view problem) {
    return std::string(kMergesKey) + "[" + std::to_string(index) + "] = " + in_quotes(merge) + ": " + std::string(problem);
}

void validate_vocabulary(const Vocabulary& vocabulary) {
    const size_t n_vocab = vocabulary.tokens.size();
    if (n_vocab == 0) throw Error(std::string(kTokensKey) + " is empty");
    if (n_vocab > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
        throw Error(std::string(kTokensKey) + " has " + std::to_string(n_vocab) + " tokens, more than a 32-bit id can address");
    }
    if (vocabulary.types.size() != n_vocab) {
        throw Error(std::string(kTypesKey) + " has " + std::to_string(vocabulary.types.size()) + " entries but " +
                    std::string(kTokensKey) + " has " + std::to_string(n_vocab));
    }
    for (size_t i = 0; i < n_vocab; ++i) {
        const auto type = static_cast<int32_t>(vocabulary.types[i]);
        if (type < static_cast<int32_t>(TokenType::Normal) || type > static_cast<int32_t>(TokenType::Byte)) {
            throw Error(std::string(kTypesKey) + "[" + std::to_string(i) + "] = " + std::to_string(type) +
                        " is not a token type (1..6)");
        }
    }
    if (!PreTokenizer::is_supported(vocabulary.pre)) {
        std::string list;
        for (const auto name : PreTokenizer::supported_names()) list += (list.empty() ? "" : ", ") + std::string(name);
        throw Error(std::string(kPreKey) + " = " + in_quotes(vocabulary.pre) + " is not a supported pre-tokenizer (supported: " + list + ")");
    }
    check_token_id(vocabulary.bos, "tokenizer.ggml.bos_token_id", n_vocab);
    check_token_id(vocabulary.eos, "tokenizer.ggml.eos_token_id", n_vocab);
    check_token_id(vocabulary.eot, "tokenizer.ggml.eot_token_id", n_vocab);
    check_token_id(vocabulary.eom, "tokenizer.ggml.eom_token_id", n_vocab);
    check_token_id(vocabulary.pad, "tokenizer.ggml.padding_token_id", n_vocab);
    check_token_id(vocabulary.unk, "tokenizer.ggml.unknown_token_id", n_vocab);
    std::unordered_set<std::string_view> texts;
    texts.reserve(n_vocab);
    for (const auto& token : vocabulary.tokens) texts.insert(token);
    for (size_t i = 0; i < vocabulary.merges.size(); ++i) {
        const std::string& merge = vocabulary.merges[i];
        const auto sides = split_merge(merge);
        if (!sides) throw Error(merge_error(i, merge, "expected \"left right\" separated by a space"));
        if (!texts.contains(sides->left)) throw Error(merge_error(i, merge, "left side " + in_quotes(sides->left) + " is not a token"));
        if (!texts.contains(sides->right)) throw Error(merge_error(i, merge, "right side " + in_quotes(sides->right) + " is not a token"));
    }
}

Vocabulary load_vocabulary(const gguf::File& file) {
    const std::string where = file.display_name() + ": ";
    try {
        const auto model = file.get_string_opt(kModelKey);
        if (!model) throw Error(std::string(kModelKey) + " is missing (not a tokenizer-bearing GGUF file?)");
        if (*model != "gpt2") {
            throw Error(std::string(kModelKey) + " = " + in_quotes(*model) + " is not supported (only \"gpt2\", byte-level BPE)");
        }
        const auto pre = file.get_string_opt(kPreKey);
        if (!pre) throw Error(std::string(kPreKey) + " is missing (the file predates pre-tokenizer metadata; re-convert it)");

        Vocabulary vocabulary;
        vocabulary.pre = std::string(*pre);
        if (!file.has(kTokensKey)) throw Error(std::string(kTokensKey) + " is missing");
        const auto tokens = file.get_string_array(kTokensKey);
        vocabulary.tokens.assign(tokens.begin(), tokens.end());

        if (file.has(kTypesKey)) {
            const auto types = file.get_int_array(kTypesKey);
            vocabulary.types.reserve(types.size());
            for (size_t i = 0; i < types.size(); ++i) {
                if (types[i] < static_cast<int64_t>(TokenType::Normal) || types[i] > static_cast<int64_t>(TokenType::Byte)) {
                    throw Error(std::string(kTypesKey) + "[" + std::to_string(i) + "] = " + std::to_string(types[i]) +
                                " is not a token type (1..6)");
                }
                vocabulary.types.push_back(static_cast<TokenType>(types[i]));
            }
        } else {
            vocabulary.types.assign(vocabulary.tokens.size(), TokenType::Normal);
        }

        if (!file.has(kMergesKey)) throw Error(std::string(kMergesKey) + " is missing (required for a gpt2 vocabulary)");
        const auto merges = file.get_string_array(kMergesKey);
        vocabulary.merges.assign(merges.begin(), merges.end());

        vocabulary.bos = read_token_id(file, "tokenizer.ggml.bos_token_id");
        vocabulary.eos = read_token_id(file, "tokenizer.ggml.eos_token_id");
        vocabulary.eot = read_token_id(file, "tokenizer.ggml.eot_token_id");
        vocabulary.eom = read_token_id(file, "tokenizer.ggml.eom_token_id");
        vocabulary.pad = read_token_id(file, "tokenizer.ggml.padding_token_id");
        vocabulary.unk = read_token_id(file, "tokenizer.ggml.unknown_token_id");
        vocabulary.add_bos = file.get_bool_or("tokenizer.ggml.add_bos_token", false);
        vocabulary.add_eos = file.get_bool_or("tokenizer.ggml.add_eos_token", false);

        validate_vocabulary(vocabulary);
        return vocabulary;
    } catch (const Error& e) {
        const std::string message = e.what();
        // The GGUF accessors already name the file; our own messages get it prefixed.
        if (message.rfind(file.display_name(), 0) == 0) throw;
        throw Error(where + message);
    }
}

} // namespace latent::tokenizer
