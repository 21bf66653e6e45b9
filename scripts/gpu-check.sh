#!/usr/bin/env bash
# The device run, for a machine with an NVIDIA GPU (an H100/H200 in under 8 minutes):
#   1. configures build-gpu/ for CUDA only (-DLATENT_APP=OFF -DLATENT_CUDA=ON, arch 90, no
#      emulator, no fuzzing) and builds the CUDA kernel tests and bench_kernels;
#   2. runs every GPU test natively (ctest -L gpu_native) with LATENT_GPU_TEST_BIG=1 (the bigger
#      shape grids);
#   3. prints per-kernel time, GB/s and % of the measured device-to-device copy bandwidth for
#      the V2-Lite shapes (build/bin/bench_kernels);
#   4. the whole model on the cuda backend: `latent make-model` V2-Lite-shaped Q4_K_M and Q8_0
#      files (in $MODEL_DIR, default /tmp; ~10 and ~17 GB, reused when present), then
#      `latent bench --backend cuda` at depths 0, 4096 and 16384 (prompt 2048 tokens, generation
#      128) with the per-kernel breakdown of one decode step (--kernels). GPU_CHECK_QUICK=1 stops
#      after the Q4_K_M depth-0 run.
# Without a GPU (or without nvcc) it says so and exits non-zero (2, 3); nothing is built. On a
# machine without the packages the tests need it builds and runs only bench_kernels and exits 4.
#
#   scripts/gpu-check.sh                       # everything
#   LATENT_GPU_ARCHS=80 scripts/gpu-check.sh   # another architecture (A100: 80, L40S: 89)
#   JOBS=8 BUILD_DIR=/tmp/b scripts/gpu-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."

start=$(date +%s)
stage() { echo; echo "== gpu-check [$(( $(date +%s) - start ))s] $*"; }

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "gpu-check: NO GPU on this machine (nvidia-smi is missing or lists no device)." >&2
    echo "gpu-check: nothing was built or run; the kernels are checked here by the emulator: ctest -L gpu" >&2
    exit 2
fi
nvcc="${CUDACXX:-$(command -v nvcc || true)}"
if [ -z "$nvcc" ] && [ -x /usr/local/cuda/bin/nvcc ]; then nvcc=/usr/local/cuda/bin/nvcc; fi
if [ -z "$nvcc" ]; then
    echo "gpu-check: a GPU is present but no CUDA compiler (nvcc) was found (set CUDACXX)." >&2
    exit 3
fi
export CUDACXX="$nvcc"

build="${BUILD_DIR:-build-gpu}"
jobs="${JOBS:-$(nproc)}"
archs="${LATENT_GPU_ARCHS:-90}"
generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
launcher=()
if command -v ccache >/dev/null 2>&1; then
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi

stage "device"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.memory --format=csv
"$nvcc" --version | tail -1

stage "configure ($build, sm_$archs)"
common=("${generator[@]}" "${launcher[@]}" -DCMAKE_BUILD_TYPE=Release -DLATENT_CUDA=ON -DLATENT_CUDA_ARCHS="$archs" -DLATENT_EMULATOR=OFF)
if ! cmake -S . -B "$build" "${common[@]}" -DLATENT_APP=OFF -DLATENT_FUZZ=OFF >"$build.configure.log" 2>&1; then
    # A bare GPU image may lack the packages the engine and the Qt Test suites need: still
    # measure the kernels, and say loudly that nothing was tested.
    tail -15 "$build.configure.log"
    echo "gpu-check: the full configure failed (log: $build.configure.log); the tests need the Debian packages of" >&2
    echo "gpu-check: scripts/setup-debian.sh (Qt 6 Test, PCRE2, spdlog). Falling back to the kernels alone:" >&2
    echo "gpu-check: TESTS NOT RUN; only bench_kernels." >&2
    stage "configure kernels only ($build-kernels)"
    cmake -S . -B "$build-kernels" "${common[@]}" -DLATENT_KERNELS_ONLY=ON >"$build.configure.log" 2>&1 ||
        { cat "$build.configure.log"; exit 1; }
    stage "build bench_kernels (-j$jobs)"
    cmake --build "$build-kernels" -j "$jobs" --target bench_kernels
    stage "benchmarks (V2-Lite shapes)"
    "$build-kernels/bin/bench_kernels" || true
    stage "done: TESTS NOT RUN (missing packages), benchmarks above"
    exit 4
fi

stage "build the CUDA tests and bench_kernels (-j$jobs)"
targets=$(cmake --build "$build" --target help | sed -n 's/^\(test_[A-Za-z0-9_]*_cuda\|bench_kernels\|test_cuda_backend\|latent_cuda\|latent\)[: ].*/\1/p' | sort -u | tr '\n' ' ')
# shellcheck disable=SC2086
cmake --build "$build" -j "$jobs" --target $targets

stage "tests (ctest -L gpu_native, LATENT_GPU_TEST_BIG=1)"
test_status=0
LATENT_GPU_TEST_BIG=1 ctest --test-dir "$build" -L gpu_native --output-on-failure -j 4 || test_status=$?

stage "benchmarks (V2-Lite shapes)"
bench_status=0
"$build/bin/bench_kernels" || bench_status=$?

stage "whole model on the cuda backend"
model_status=0
models="${MODEL_DIR:-/tmp}"
latent="$build/bin/latent"
for type in q4_k_m q8_0; do
    file="$models/v2-lite-$type.gguf"
    if [ ! -s "$file" ]; then
        stage "make-model v2-lite $type -> $file"
        "$latent" make-model --shape v2-lite --type "$type" --out "$file" >/dev/null || { model_status=1; continue; }
    fi
    for depth in 0 4096 16384; do
        stage "bench $type, depth $depth"
        kernels=()
        [ "$depth" = 0 ] || [ "$depth" = 16384 ] && kernels=(--kernels)
        "$latent" bench -m "$file" --backend cuda -p 2048 -n 128 -d "$depth" -r 2 "${kernels[@]}" || model_status=1
        if [ "${GPU_CHECK_QUICK:-0}" = 1 ]; then break 2; fi
    done
    if [ "$type" = q4_k_m ]; then
        # The split placements at depth 0: every MoE layer's experts on the CPU, then the last
        # resort with the first 4 layers whole on the CPU as well.
        stage "bench $type, experts on the CPU"
        "$latent" bench -m "$file" --backend cuda -p 512 -n 32 -r 1 --experts-on-cpu all || model_status=1
        stage "bench $type, experts and the first 4 layers on the CPU"
        "$latent" bench -m "$file" --backend cuda -p 512 -n 32 -r 1 --experts-on-cpu all --layers-on-cpu 4 || model_status=1
    fi
done

stage "done: tests $([ $test_status = 0 ] && echo passed || echo FAILED), kernel benchmarks $([ $bench_status = 0 ] && echo ran || echo FAILED), whole-model benchmarks $([ $model_status = 0 ] && echo ran || echo FAILED)"
[ $test_status = 0 ] && [ $bench_status = 0 ] && [ $model_status = 0 ]
