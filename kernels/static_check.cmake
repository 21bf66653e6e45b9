# Static performance evidence without a GPU (issue 9, item 3): scripts/kernel-resources.py
# compiles every kernels/*.cu for sm_80/86/89/90 and checks ptxas resource usage (no spills in
# decode kernels, occupancy) and 128-bit global loads in the weight-streaming kernels, per
# kernels/kernel_classes.txt. CTest `static.kernel_resources` (label static); skipped, saying
# so, where nvcc is missing. It compiles outside the build (about a minute on two cores).
find_package(Python3 COMPONENTS Interpreter)
find_program(LATENT_NVCC_FOR_STATIC nvcc HINTS /usr/local/cuda/bin ENV CUDACXX)
if(Python3_Interpreter_FOUND)
    set(latent_static_nvcc_arg)
    if(LATENT_NVCC_FOR_STATIC)
        set(latent_static_nvcc_arg --nvcc ${LATENT_NVCC_FOR_STATIC})
    endif()
    add_test(NAME static.kernel_resources
             COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/scripts/kernel-resources.py --check ${latent_static_nvcc_arg})
    set_tests_properties(static.kernel_resources PROPERTIES LABELS static TIMEOUT 900 SKIP_RETURN_CODE 77)
endif()
