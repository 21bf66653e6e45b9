#!/usr/bin/env bash
# One command to set up a fresh Debian 12 machine: installs the Debian packages the project
# needs, configures and builds into build/ (executables in build/bin/).
#   scripts/setup-debian.sh                 # everything: engine, CLI, desktop app, tests
#   LATENT_CMAKE_ARGS="-DLATENT_APP=OFF" scripts/setup-debian.sh   # engine + CLI only
# The CUDA backend is built when nvcc is on PATH or in /usr/local/cuda (NVIDIA's CUDA toolkit
# is not a Debian 12 main package; install it from NVIDIA if you want the GPU backend).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
packages=(
    build-essential cmake ninja-build pkg-config git
    ccache                              # rebuilds (and CI on a kept machine) reuse compiled objects
    clang libclang-rt-14-dev            # libFuzzer target for the GGUF reader
    libpcre2-dev                        # tokenizer pre-tokenizer regexes (UTF + UCP)
    libboost-context-dev                # fibers of the CUDA emulator (kernels/emu/)
    libboost-dev                        # Boost.Beast / Asio (header-only) for latent serve
    qtkeychain-qt6-dev                  # the app keeps remote endpoints' API keys in the system keychain
    libspdlog-dev                       # logging
    libsqlite3-dev                      # chat history
    qt6-pdf-dev libzip-dev libuchardet-dev libicu-dev   # document library: PDF text and pages, DOCX/ODT/EPUB, encodings, word segmentation
    qt6-base-dev qt6-declarative-dev    # Qt 6: Core, Test, Gui, Quick, QuickTest
    # QML modules the desktop app and its Qt Quick tests load at run time
    qml6-module-qtquick qml6-module-qtquick-controls qml6-module-qtquick-layouts
    qml6-module-qtquick-templates qml6-module-qtquick-window qml6-module-qtquick-dialogs
    qml6-module-qtqml qml6-module-qtqml-models qml6-module-qtqml-workerscript qml6-module-qtcore
    qml6-module-qttest qml6-module-qt-labs-folderlistmodel   # (the file dialog needs FolderListModel)
    qt6-qpa-plugins                     # xcb/offscreen platform plugins
    libqt6svg6                          # SVG images (the app icon)
    fonts-dejavu-core                   # a default UI and monospace font
    xvfb xauth                          # a virtual display for the end-to-end check and screenshots
    # packaging (scripts/build-packages.sh, scripts/package-test.sh)
    dpkg-dev fakeroot lintian appstream desktop-file-utils patchelf xz-utils debootstrap librsvg2-bin python3
)
# serve.openai_node runs the official openai npm client against latent serve: Node.js and npm
# from Debian unless some Node.js (e.g. NodeSource's, which brings its own npm) is already here.
if ! command -v npm >/dev/null; then packages+=(nodejs npm); fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    $SUDO apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

if [ -z "${CUDACXX:-}" ] && ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
    export CUDACXX=/usr/local/cuda/bin/nvcc
fi

launcher=""
if command -v ccache >/dev/null && [ -z "${LATENT_NO_CCACHE:-}" ]; then
    launcher="-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache"
fi
# shellcheck disable=SC2086
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release $launcher ${LATENT_CMAKE_ARGS:-}
cmake --build build --parallel "$(nproc)"
echo "Built: $(ls build/bin | tr '\n' ' ')"
