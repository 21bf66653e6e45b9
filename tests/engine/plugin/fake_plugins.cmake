# The GPU plugin loader's test (tests/engine/test_cuda_plugin_loader.cpp): three fake plugins,
# and the loader compiled into the test in every build (packaging builds already have it in the
# engine). Needs no CUDA.
if(TARGET test_cuda_plugin_loader)
    set(latent_fake_plugin_defines)
    foreach(variant GOOD OTHER_BUILD NO_ENTRY)
        string(TOLOWER ${variant} lower)
        add_library(fake_cuda_plugin_${lower} MODULE ${CMAKE_CURRENT_LIST_DIR}/fake_cuda_plugin.cpp
                    ${PROJECT_SOURCE_DIR}/engine/cuda/cuda_plugin_build_id.cpp)
        target_include_directories(fake_cuda_plugin_${lower} PRIVATE ${PROJECT_SOURCE_DIR}/engine)
        target_compile_definitions(fake_cuda_plugin_${lower} PRIVATE FAKE_PLUGIN_${variant}=1
                                   "LATENT_VERSION=\"${PROJECT_VERSION}\"")
        set_target_properties(fake_cuda_plugin_${lower} PROPERTIES CXX_VISIBILITY_PRESET hidden
                              LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lib/test-plugins)
        target_link_libraries(fake_cuda_plugin_${lower} PRIVATE latent_warnings)
        add_dependencies(test_cuda_plugin_loader fake_cuda_plugin_${lower})
        list(APPEND latent_fake_plugin_defines "FAKE_PLUGIN_${variant}_PATH=\"$<TARGET_FILE:fake_cuda_plugin_${lower}>\"")
    endforeach()
    target_compile_definitions(test_cuda_plugin_loader PRIVATE ${latent_fake_plugin_defines}
                               "LATENT_VERSION=\"${PROJECT_VERSION}\"")
    if(NOT TARGET latent_cuda_plugin)
        target_sources(test_cuda_plugin_loader PRIVATE ${PROJECT_SOURCE_DIR}/engine/cuda/via_plugin/cuda_device.cpp
                       ${PROJECT_SOURCE_DIR}/engine/cuda/cuda_plugin_build_id.cpp)
        target_link_libraries(test_cuda_plugin_loader PRIVATE ${CMAKE_DL_LIBS})
    endif()
    # The cached loader reads LATENT_CUDA_PLUGIN once per process: the test's own environment.
    set_property(TEST engine.cuda_plugin_loader APPEND PROPERTY ENVIRONMENT
                 "LATENT_CUDA_PLUGIN=$<TARGET_FILE:fake_cuda_plugin_good>")
endif()
