# Included by engine/CMakeLists.txt when LATENT_CUDA_PLUGIN=ON (packaged builds, see
# engine/cuda/cuda_plugin.h). The engine gets the loader in place of the CUDA code; everything
# CUDA goes into the module liblatent-cuda.so:
#   - the device probe (cuda/*.cpp), the CUDA backend (backend/cuda_backend*.cpp, taken out of
#     the engine's sources when they exist), the kernels, the static CUDA runtime;
#   - its own private copy of the engine (statically linked, all symbols hidden: only
#     latent_cuda_plugin_v1 is exported);
#   - cuBLAS/cuBLASLt as shared libraries found through RUNPATH $ORIGIN/cuda, where the
#     latent-chat-cuda package puts private copies (installer/CMakeLists.txt). libcuda.so.1 is
#     the driver's and is never linked: the static runtime loads it when first called.
target_sources(latent_engine PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../via_plugin/cuda_device.cpp
                                     ${CMAKE_CURRENT_LIST_DIR}/../cuda_plugin_build_id.cpp)
target_link_libraries(latent_engine PRIVATE ${CMAKE_DL_LIBS})

get_target_property(latent_engine_sources latent_engine SOURCES)
set(latent_cuda_backend_sources ${latent_engine_sources})
list(FILTER latent_cuda_backend_sources INCLUDE REGEX "/backend/cuda_backend[^/]*\\.cpp$")
list(FILTER latent_engine_sources EXCLUDE REGEX "/backend/cuda_backend[^/]*\\.cpp$")
set_property(TARGET latent_engine PROPERTY SOURCES ${latent_engine_sources})

file(GLOB latent_cuda_plugin_sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/../*.cpp)
add_library(latent_cuda_plugin MODULE ${latent_cuda_plugin_sources} ${latent_cuda_backend_sources}
            ${CMAKE_CURRENT_LIST_DIR}/cuda_plugin_entry.cpp)
set_target_properties(latent_cuda_plugin PROPERTIES
    OUTPUT_NAME latent-cuda
    PREFIX lib
    LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lib/latent-chat # beside build/bin as installed
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    INSTALL_RPATH "$ORIGIN/cuda")
target_include_directories(latent_cuda_plugin PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../..)
target_compile_definitions(latent_cuda_plugin PRIVATE LATENT_HAVE_CUDA=1)
if(latent_cuda_backend_sources)
    target_compile_definitions(latent_cuda_plugin PRIVATE LATENT_CUDA_BACKEND_BUILT=1)
endif()
target_compile_options(latent_cuda_plugin PRIVATE -ffp-contract=off)
target_link_libraries(latent_cuda_plugin PRIVATE latent_engine latent_kernels_cuda CUDA::cudart_static
                      PkgConfig::PCRE2 spdlog::spdlog latent_warnings)
target_link_options(latent_cuda_plugin PRIVATE
    -Wl,--version-script=${CMAKE_CURRENT_LIST_DIR}/exports.map -Wl,--exclude-libs,ALL -Wl,--no-undefined)
