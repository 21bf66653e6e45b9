// Options shared by the commands that load a model and generate: model, backend, context,
// threads and sampling.
#pragma once

#include "cli_args.h"

#include "session/backend_factory.h"
#include "session/session.h"

#include <memory>
#include <vector>

namespace latent::cli {

// Appends the shared option specs (model, backend, context, threads, cache type, sampling).
void add_run_options(std::vector<OptionSpec>& specs);

// A backend by --backend name ("auto", "ref", "cpu", "cuda"); a fallback (e.g. cuda not built)
// is logged as a warning.
std::unique_ptr<Backend> make_backend(const Model& model, const std::string& name, const BackendOptions& options);

BackendOptions backend_options_from(const Args& args, uint32_t default_ctx);
GenerationParams generation_params_from(const Args& args);

} // namespace latent::cli
