// Everything a person wants to know about a model file before running it: identity, shapes,
// parameter counts, storage types, tokenizer, chat format and KV-cache cost. Used by
// `latent info` and the app's model panel. Building it validates the whole file (config,
// tensor table, vocabulary) and reads no tensor data.
#pragma once

#include "chat/chat_format.h"
#include "model/model_config.h"
#include "model/model.h"
#include "model/model_stats.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace latent {

struct TokenizerSummary {
    std::string model;        // tokenizer.ggml.model ("gpt2")
    std::string pre;          // pre-tokenizer name
    uint32_t n_tokens = 0;    // vocabulary size
    uint32_t n_merges = 0;    // BPE merges
    std::optional<int32_t> bos, eos;
    bool add_bos = false;
};

struct ModelInfo {
    std::filesystem::path path;     // as given
    uint32_t n_files = 1;           // parts of a split model
    uint64_t file_bytes = 0;        // all parts together
    uint32_t gguf_version = 0;
    std::string quantization;       // from general.file_type ("Q4_K_M"), else the dominant tensor type
    ModelConfig config;
    ModelStats stats;
    KvCacheFootprint kv_cache;      // f16 cache
    TokenizerSummary tokenizer;
    chat::ChatFormatChoice chat_format;
};

// Opens, validates and summarises a model. Throws latent::Error naming what is wrong.
ModelInfo inspect_model(const std::filesystem::path& path);

// The quantisation a person would name the file by: general.file_type's name ("Q4_K_M"), else
// the tensor type holding the most bytes ("Q8_0 (dominant type)").
std::string quantization_name(const Model& model, const ModelStats& stats);

// llama_ftype names for general.file_type ("Q4_K_M" for 15); nullopt for unknown values.
std::optional<std::string> file_type_name(uint32_t file_type);

} // namespace latent
