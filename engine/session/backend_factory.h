// Choosing a backend by kind, with a fallback instead of a failure: the app and the CLI ask for
// what the user picked ("auto", "cuda" …) and get the best backend this build and machine can
// give, plus a note saying what was chosen instead and why.
#pragma once

#include "backend/backend.h"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace latent {

enum class BackendKind {
    Auto, // the fastest available: cuda when built and a GPU is present, else cpu
    Ref,  // the float32 reference (slow; the oracle the others are checked against)
    Cpu,  // threaded CPU backend
    Cuda, // NVIDIA GPU backend (the GPU plugin, cuda/gpu_plugin.h): falls back to cpu with the reason
};

// "auto", "ref", "cpu", "cuda".
std::string_view backend_kind_name(BackendKind kind);
// The kind for a name (ASCII case-insensitive), nullopt for an unknown one.
std::optional<BackendKind> backend_kind_from_name(std::string_view name);
std::vector<std::string_view> backend_kind_names();

// Whether this build can create the kind (Auto, Ref and Cpu always can).
bool backend_kind_available(BackendKind kind);

// Creates a backend of the kind, or the cpu backend when the kind is not available here. When
// `note` is given it receives a one-line explanation of a fallback or of Auto's choice
// ("cuda: no usable NVIDIA GPU (no CUDA-capable device is detected (cudaErrorNoDevice)); using
// cpu", or the GPU memory the model would need against what is free), and is cleared otherwise. Throws
// latent::Error when the backend itself cannot be created (e.g. the cache does not fit).
std::unique_ptr<Backend> create_backend(const Model& model, BackendKind kind, const BackendOptions& options,
                                        std::string* note = nullptr);

} // namespace latent
