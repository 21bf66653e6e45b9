#include "model/model_info.h"

#include "gguf/gguf.h"
#include "model/model.h"

#include <algorithm>
#include <cctype>

namespace latent {

std::optional<std::string> file_type_name(uint32_t file_type) {
    // llama_ftype (gguf-py LlamaFileType); retired values are absent.
    switch (file_type) {
    case 0: return "F32";
    case 1: return "F16";
    case 2: return "Q4_0";
    case 3: return "Q4_1";
    case 7: return "Q8_0";
    case 8: return "Q5_0";
    case 9: return "Q5_1";
    case 10: return "Q2_K";
    case 11: return "Q3_K_S";
    case 12: return "Q3_K_M";
    case 13: return "Q3_K_L";
    case 14: return "Q4_K_S";
    case 15: return "Q4_K_M";
    case 16: return "Q5_K_S";
    case 17: return "Q5_K_M";
    case 18: return "Q6_K";
    case 19: return "IQ2_XXS";
    case 20: return "IQ2_XS";
    case 21: return "Q2_K_S";
    case 22: return "IQ3_XS";
    case 23: return "IQ3_XXS";
    case 24: return "IQ1_S";
    case 25: return "IQ4_NL";
    case 26: return "IQ3_S";
    case 27: return "IQ3_M";
    case 28: return "IQ2_S";
    case 29: return "IQ2_M";
    case 30: return "IQ4_XS";
    case 31: return "IQ1_M";
    case 32: return "BF16";
    case 36: return "TQ1_0";
    case 37: return "TQ2_0";
    default: return std::nullopt;
    }
}

std::string quantization_name(const Model& model, const ModelStats& stats) {
    const gguf::File& main = model.files().main();
    if (main.has("general.file_type")) {
        if (auto name = file_type_name(main.get_u32("general.file_type"))) return *name;
    }
    if (stats.by_type.empty()) return "unknown";
    const auto dominant = std::max_element(stats.by_type.begin(), stats.by_type.end(),
                                           [](const TypeTotals& a, const TypeTotals& b) { return a.bytes < b.bytes; });
    std::string name(tensor_type_name(dominant->type));
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return name + " (dominant type)";
}

ModelInfo inspect_model(const std::filesystem::path& path) {
    // Loading validates everything (config, tensor table, vocabulary, chat format) and reads
    // no tensor data, so the summary is built from a loaded model.
    const auto model = Model::load(path);
    const gguf::ModelFiles& files = model->files();
    const gguf::File& main = files.main();

    ModelInfo info;
    info.path = path;
    info.n_files = static_cast<uint32_t>(files.parts().size());
    info.file_bytes = files.total_file_bytes();
    info.gguf_version = main.version();
    info.config = model->config();
    info.stats = compute_model_stats(info.config, model->weights());
    info.kv_cache = kv_cache_footprint(info.config, 2);

    info.quantization = quantization_name(*model, info.stats);

    const tokenizer::Vocabulary& v = model->tokenizer().vocabulary();
    info.tokenizer.model = std::string(main.get_string("tokenizer.ggml.model"));
    info.tokenizer.pre = v.pre;
    info.tokenizer.n_tokens = static_cast<uint32_t>(v.tokens.size());
    info.tokenizer.n_merges = static_cast<uint32_t>(v.merges.size());
    info.tokenizer.bos = v.bos;
    info.tokenizer.eos = v.eos;
    info.tokenizer.add_bos = v.add_bos;
    info.chat_format = model->chat_format();
    return info;
}

} // namespace latent
