// A loaded model: the mapped file(s), the validated configuration and tensor table, the
// tokenizer and the chat format. Weights stay in the read-only map (no copy); backends read
// them from there (the CPU backends) or upload them (the CUDA backend).
#pragma once

#include "chat/chat_format.h"
#include "gguf/gguf.h"
#include "model/model_config.h"
#include "model/model_weights.h"
#include "tokenizer/tokenizer.h"

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>

namespace latent {

struct ModelLoadOptions {
    // Progress in [0, 1] while validating and touching the file; return false to cancel (the
    // load then throws latent::Cancelled).
    std::function<bool(float progress)> progress;
    // Read every page of the weights once at load so the first token is not slowed by page
    // faults (default off: pages come in on first use).
    bool prefetch = false;
    // Chat format to use instead of the one detected from the template ("deepseek3", ...).
    std::string chat_format;
};

class Model {
public:
    static std::unique_ptr<Model> load(const std::filesystem::path& path, const ModelLoadOptions& options = {});

    const gguf::ModelFiles& files() const { return *files_; }
    const ModelConfig& config() const { return config_; }
    const ModelWeights& weights() const { return weights_; }
    const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }
    const chat::ChatFormatChoice& chat_format() const { return chat_format_; }

    // Throws ModelFileChanged when a file of the model changed on disk since it was loaded
    // (truncated, rewritten, replaced; see MappedFile::check_unchanged). Before each request.
    void check_files_unchanged() const { files_->check_unchanged(); }
    // Throws ModelFileChanged when reading the weights hit a page the file no longer has (SIGBUS
    // caught, the page now reads zeros): whatever was computed from them is garbage. After each
    // evaluated batch; one atomic load per file.
    void check_files_intact() const { files_->check_not_faulted(); }

private:
    Model() = default;
    std::unique_ptr<gguf::ModelFiles> files_;
    ModelConfig config_;
    ModelWeights weights_;
    std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
    chat::ChatFormatChoice chat_format_;
};

} // namespace latent
