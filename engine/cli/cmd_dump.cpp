// `latent dump -m MODEL --tensor NAME`: the tensor decoded to little-endian float32 on stdout,
// row by row (ne0 fastest), so tools can compare any tensor with a reference.
#include "cli_args.h"
#include "commands.h"

#include "core/error.h"
#include "gguf/gguf.h"
#include "tensor/tensor_types.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <vector>

namespace latent::cli {
namespace {

const std::vector<OptionSpec> kOptions = {
    {"--model", "-m", true, "GGUF model file (first part of a split model, or any part)"},
    {"--tensor", "-t", true, "name of the tensor to decode, e.g. blk.0.attn_norm.weight"},
    {"--help", "-h", false, "show this help"},
};

} // namespace

int run_dump(const std::vector<std::string>& argv) {
    const Args args = Args::parse("dump", kOptions, argv);
    if (args.flag("--help")) {
        std::fputs(usage_text("dump", "-m MODEL --tensor NAME > out.f32", kOptions).c_str(), stdout);
        return 0;
    }
    if (!args.positional().empty()) throw Error("unexpected argument '" + args.positional().front() + "'");
    const auto model = gguf::ModelFiles::open(args.require("--model"));
    const std::string name = args.require("--tensor");
    const gguf::TensorInfo* t = model->find_tensor(name);
    if (!t) throw Error("no tensor named '" + name + "' in " + model->main().display_name());
    const TensorTypeInfo& info = tensor_type_info(t->type);
    if (!info.can_decode) throw Error("tensor '" + name + "' has type " + std::string(info.name) + ", which this engine cannot decode");
    spdlog::debug("dumping {} {} {} ({} bytes)", name, info.name, t->shape_string(), t->size_bytes);

    const int64_t row_elements = static_cast<int64_t>(t->ne[0]);
    const size_t row_bytes = tensor_row_bytes(t->type, row_elements);
    std::vector<float> row(static_cast<size_t>(row_elements));
    for (uint64_t r = 0; r < t->row_count(); ++r) {
        dequantize_row(t->type, t->data + r * row_bytes, row.data(), row_elements);
        if (std::fwrite(row.data(), sizeof(float), row.size(), stdout) != row.size()) throw Error("write to stdout failed");
    }
    if (std::fflush(stdout) != 0) throw Error("write to stdout failed");
    model->check_unchanged(); // cut short while dumping: what was written is not the tensor
    return 0;
}

} // namespace latent::cli
