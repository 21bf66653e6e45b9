# `latent serve` end to end (included from tests/CMakeLists.txt):
#   serve.http         the real binary driven with raw HTTP (tests/serve/test_serve.cpp)
#   serve.openai_npm   installs the official openai npm package (openai@6.49.0, Node 20) into
#                      the build folder; skipped when npm or the registry is unavailable
#   serve.openai_node  the openai client against the real binary (skipped without the package)
add_executable(test_serve ${CMAKE_CURRENT_LIST_DIR}/test_serve.cpp ${CMAKE_CURRENT_LIST_DIR}/serve_client.cpp)
target_include_directories(test_serve PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(test_serve PRIVATE latent_test_support latent_server latent_warnings)
add_dependencies(test_serve latent)
add_test(NAME serve.http COMMAND test_serve)
set_tests_properties(serve.http PROPERTIES ENVIRONMENT "LATENT_CLI=$<TARGET_FILE:latent>" TIMEOUT 300)

set(LATENT_OPENAI_NODE_DIR "${CMAKE_BINARY_DIR}/openai-node")
add_test(NAME serve.openai_npm COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/../support/install_npm_package.sh ${LATENT_OPENAI_NODE_DIR}
    openai 6.49.0 "the openai client test")
set_tests_properties(serve.openai_npm PROPERTIES FIXTURES_SETUP openai_npm SKIP_RETURN_CODE 77 TIMEOUT 300)
add_test(NAME serve.openai_node COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/run_openai_client.sh ${LATENT_OPENAI_NODE_DIR} ${CMAKE_CURRENT_LIST_DIR}/openai_client.mjs)
set_tests_properties(serve.openai_node PROPERTIES FIXTURES_REQUIRED openai_npm SKIP_RETURN_CODE 77 TIMEOUT 300
    ENVIRONMENT "LATENT_CLI=$<TARGET_FILE:latent>")
