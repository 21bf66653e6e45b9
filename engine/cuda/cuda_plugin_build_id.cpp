// The identity both sides of the GPU plugin seam compare (cuda_plugin.h): the project version and
// the compiler that built it, since the plugin's table passes C++ types between the two.
#include "cuda/cuda_plugin.h"

#ifndef LATENT_VERSION
#error "LATENT_VERSION must be defined for this file (engine/CMakeLists.txt)"
#endif

namespace latent {

const char* cuda_plugin_build_id() {
    return LATENT_VERSION " (" __VERSION__ ")";
}

} // namespace latent
