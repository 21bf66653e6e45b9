# CPack: the Debian packages (one per component; installer/CMakeLists.txt). Debian policy points
# that CPack does not cover by itself are handled here: Section/Priority per package, the
# changelog and copyright (installed by the components), dependencies from dpkg-shlibdeps plus
# the QML modules the app imports at run time (no ELF dependency shows them), conffiles for
# /etc (CPACK_DEBIAN_<COMP>_PACKAGE_CONTROL_EXTRA), stripped executables, root-owned files.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME latent-chat)
set(CPACK_PACKAGE_VENDOR "The Latent Chat authors")
set(CPACK_PACKAGE_CONTACT "The Latent Chat authors <maintainers@latentchat.org>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DIRECTORY ${PROJECT_BINARY_DIR}/packages)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON) # our executables and the plugin (install(TARGETS)); NVIDIA's libraries come stripped
set(CPACK_THREADS 2)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SOURCE latent-chat)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://latentchat.org/")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)

set(CPACK_COMPONENTS_ALL cli)
if(LATENT_APP)
    list(APPEND CPACK_COMPONENTS_ALL app)
endif()
if(TARGET latent_cuda)
    list(APPEND CPACK_COMPONENTS_ALL cuda)
endif()
set(version "${PROJECT_VERSION}-${CPACK_DEBIAN_PACKAGE_RELEASE}")

# latent-chat
set(CPACK_DEBIAN_APP_PACKAGE_NAME latent-chat)
set(CPACK_DEBIAN_APP_PACKAGE_SECTION utils)
set(CPACK_COMPONENT_APP_DESCRIPTION "private offline chat with DeepSeek-architecture models
Latent Chat runs DeepSeek-architecture language models (DeepSeek-V2, V2-Lite,
V3, R1, Moonlight, Kimi-K2 and their fine-tunes, as GGUF files) on this
computer: on an NVIDIA GPU with the latent-chat-cuda package, on the CPU
otherwise. Conversations are kept in a local SQLite database; documents
are indexed and searched locally (also by latent docs). Administrators
can pre-set and lock settings in /etc/xdg/latent-chat/latent-chat.conf and
share models in /usr/share/latent-chat/models.")
set(CPACK_DEBIAN_APP_PACKAGE_DEPENDS
    "latent (= ${version}), qml6-module-qtquick, qml6-module-qtquick-controls, qml6-module-qtquick-layouts, qml6-module-qtquick-templates, qml6-module-qtquick-window, qml6-module-qtquick-dialogs, qml6-module-qtqml, qml6-module-qtqml-models, qml6-module-qtqml-workerscript, qml6-module-qtcore, qml6-module-qt-labs-folderlistmodel, qt6-qpa-plugins, libqt6svg6, fonts-dejavu-core")
set(CPACK_DEBIAN_APP_PACKAGE_RECOMMENDS "latent, qt6-wayland")
set(CPACK_DEBIAN_APP_PACKAGE_SUGGESTS "latent-chat-cuda")
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/app-control/conffiles "/etc/xdg/latent-chat/latent-chat.conf\n")
set(CPACK_DEBIAN_APP_PACKAGE_CONTROL_EXTRA ${CMAKE_CURRENT_BINARY_DIR}/app-control/conffiles)

# latent
set(CPACK_DEBIAN_CLI_PACKAGE_NAME latent)
set(CPACK_DEBIAN_CLI_PACKAGE_SECTION utils)
set(CPACK_COMPONENT_CLI_DESCRIPTION "run DeepSeek-architecture GGUF models from the command line
latent describes, tokenizes, evaluates, benchmarks and chats with
DeepSeek-architecture GGUF models in a terminal, on the CPU or (with the
latent-chat-cuda package) an NVIDIA GPU. It needs no Qt and no display.
Its document commands (latent docs, --docs) use the document library
that comes with the latent-chat package.")
set(CPACK_DEBIAN_CLI_PACKAGE_SUGGESTS "latent-chat, latent-chat-cuda")

# latent-chat-cuda
set(CPACK_DEBIAN_CUDA_PACKAGE_NAME latent-chat-cuda)
set(CPACK_DEBIAN_CUDA_PACKAGE_SECTION non-free/libs)
set(CPACK_COMPONENT_CUDA_DESCRIPTION "NVIDIA GPU support for Latent Chat and latent
The plugin latent-chat and latent load at run time to run models on an
NVIDIA GPU, with private copies of NVIDIA's cuBLAS and cuBLASLt in
/usr/lib/latent-chat/cuda (used by Latent Chat only). The NVIDIA driver
(libcuda.so.1) is not included; without it, or without a GPU, both programs
say so and run on the CPU.")
set(CPACK_DEBIAN_CUDA_PACKAGE_DEPENDS "latent-chat (= ${version}) | latent (= ${version})")
set(CPACK_DEBIAN_CUDA_PACKAGE_RECOMMENDS "libcuda1 | libnvidia-compute")
set(CPACK_DEBIAN_CUDA_PACKAGE_ENHANCES "latent-chat, latent")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS "${CMAKE_INSTALL_PREFIX}/lib/latent-chat/cuda")

include(CPack)
