#include "model/model.h"

#include "core/error.h"

#include <spdlog/spdlog.h>

namespace latent {

std::unique_ptr<Model> Model::load(const std::filesystem::path& path, const ModelLoadOptions& options) {
    auto report = [&](float p) {
        if (options.progress && !options.progress(p)) throw Cancelled();
    };
    std::unique_ptr<Model> model(new Model());
    report(0.0f);
    model->files_ = gguf::ModelFiles::open(path);
    const gguf::File& main = model->files_->main();
    model->config_ = load_model_config(main, model->files_->tensors());
    model->weights_ = bind_model_weights(model->config_, model->files_->tensors());
    for (const std::string& name : model->weights_.unused_tensors) spdlog::warn("{}: tensor '{}' is not used by the model", path.string(), name);
    report(0.05f);

    tokenizer::Vocabulary vocabulary = tokenizer::load_vocabulary(main);
    if (vocabulary.tokens.size() != model->config_.n_vocab) {
        throw Error(main.display_name() + ": the vocabulary has " + std::to_string(vocabulary.tokens.size()) +
                    " tokens but the model's vocab_size is " + std::to_string(model->config_.n_vocab));
    }
    model->tokenizer_ = std::make_unique<tokenizer::Tokenizer>(std::move(vocabulary));
    report(0.1f);

    if (!options.chat_format.empty()) {
        auto forced = chat::force_chat_format(options.chat_format);
        if (!forced) throw Error("unknown chat format '" + options.chat_format + "'");
        model->chat_format_ = *forced;
    } else {
        const auto& tok = *model->tokenizer_;
        const bool v3_roles = tok.find_token(chat::kUserText).has_value() && tok.find_token(chat::kAssistantText).has_value();
        model->chat_format_ = chat::detect_chat_format(main.get_string_opt("tokenizer.chat_template"), v3_roles);
    }

    if (options.prefetch) {
        // Touch one byte per page of every tensor so the kernel reads the file now.
        const auto tensors = model->weights_.tensors();
        uint64_t total = 0, done = 0;
        for (const auto* t : tensors) total += t->size_bytes;
        volatile uint8_t sink = 0;
        for (const auto* t : tensors) {
            for (uint64_t off = 0; off < t->size_bytes; off += 4096) sink = static_cast<uint8_t>(sink + t->data[off]);
            done += t->size_bytes;
            report(0.1f + 0.9f * static_cast<float>(static_cast<double>(done) / static_cast<double>(total ? total : 1)));
        }
    }
    // A file truncated or rewritten while it was read: what was read cannot be trusted.
    model->files_->check_unchanged();
    report(1.0f);
    return model;
}

} // namespace latent
