#!/usr/bin/env bash
# Builds the Debian packages and the self-contained installer from a clean packaging build:
#   scripts/build-packages.sh [BUILD_DIR]        (default build-pkg)
# Packaging builds differ from developer builds in three options: CUDA in the run-time plugin
# (the GPU plugin; without nvcc there is simply no latent-chat-cuda package), the /usr
# prefix, and no tests/emulator/fuzzing. Extra CMake arguments: LATENT_PACKAGE_CMAKE_ARGS.
# Output: BUILD_DIR/packages/*.deb and BUILD_DIR/packages/latent-chat-<version>-x86_64.run.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-pkg}
jobs=${LATENT_JOBS:-$(nproc)}

if [ -z "${CUDACXX:-}" ] && ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
    export CUDACXX=/usr/local/cuda/bin/nvcc
fi
launcher=""
if command -v ccache >/dev/null && [ -z "${LATENT_NO_CCACHE:-}" ]; then
    launcher="-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache"
fi
# shellcheck disable=SC2086
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
    -DLATENT_TESTS=OFF -DLATENT_EMULATOR=OFF -DLATENT_FUZZ=OFF \
    -DLATENT_CUDA_ARCHS="${LATENT_CUDA_ARCHS:-80-real;86-real;89-real;90}" \
    $launcher ${LATENT_PACKAGE_CMAKE_ARGS:-}
cmake --build "$build" --parallel "$jobs"
cmake --build "$build" --target package
installer/make-run.sh "$build"
ls -l "$build"/packages/*.deb "$build"/packages/*.run
