#!/bin/bash
# gpu-check.sh: on a machine with an NVIDIA GPU, in one go: build with GPU=1 (and, where cuDNN's
# headers are installed, again with CUDNN=1), run tests/gpu/test_gpu_equiv (CPU vs GPU on the same
# network, batch and seed: outputs, labels, deltas, gradients, loss; kernels bit for bit) on its
# built-in networks and on the project's cfgs, and print the figures with the time per training
# step on CPU and GPU. Builds go to build/gpu-check*/; ./darknet stays the CPU build.
# Without a GPU the test program says "skipped: no CUDA device" (the builds still run).
#
# Settings (environment), defaults in brackets:
#   ARCH     nvcc's -gencode for the GPU [-gencode arch=compute_90,code=sm_90: H100/H200]
#   CUDNN    1: also the cuDNN build, 0: not [1 where cudnn_version.h is found]
#   CFGS     cfgs compared and timed besides the built-in networks
#            [cfg/fashion-baseline.cfg cfg/fashion-siamese.cfg cfg/fashion-mixup.cfg
#             cfg/fashion-manifold.cfg cfg/fashion-cutmix.cfg cfg/cifar-small-siamese.cfg]
#   CUDA_DIR [/usr/local/cuda]; DARKNET_SRC as for make
# The cuDNN run sets NVIDIA_TF32_OVERRIDE=0: cuDNN may otherwise convolve FP32 data in TF32 on
# Ampere and later GPUs, which is not what the CPU computes (10-bit mantissas).
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${ARCH:--gencode arch=compute_90,code=sm_90}
cuda=${CUDA_DIR:-/usr/local/cuda}
cfgs=${CFGS:-cfg/fashion-baseline.cfg cfg/fashion-siamese.cfg cfg/fashion-mixup.cfg cfg/fashion-manifold.cfg cfg/fashion-cutmix.cfg cfg/cifar-small-siamese.cfg}
if [ -z "${CUDNN:-}" ]; then
    CUDNN=0
    for h in "$cuda/include/cudnn_version.h" /usr/include/cudnn_version.h /usr/include/*/cudnn_version.h; do
        [ -e "$h" ] && CUDNN=1
    done
fi

echo "== machine"
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader
else
    echo "nvidia-smi: not found"
fi
"$cuda/bin/nvcc" --version | tail -n 2
echo "CPU: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"

mkdir -p build
status=0 skipped=0
run_config() {   # name, make options...
    local name=$1; shift
    local out=build/$name t0=$SECONDS
    echo; echo "== build: make GPU=1 $* ARCH='$arch'"
    make --no-print-directory -j"$(nproc)" GPU=1 "$@" ARCH="$arch" OUTDIR="$out" \
        GPU_TEST_BIN="$out/test_gpu_equiv" gpu-build > "build/$name.log" 2>&1 \
        || { tail -n 20 "build/$name.log"; echo "build failed (log: build/$name.log)"; status=1; return; }
    echo "built in $((SECONDS - t0)) s"
    echo; echo "== $out/test_gpu_equiv $cfgs"
    # shellcheck disable=SC2086  # CFGS is a list of paths
    "$out/test_gpu_equiv" $cfgs 2> "build/$name-stderr.log" | tee "build/$name-result.log" || status=1
    grep -q '^skipped:' "build/$name-result.log" && skipped=1
    return 0
}

run_config gpu-check
if [ "$CUDNN" = 1 ]; then
    export NVIDIA_TF32_OVERRIDE=0
    run_config gpu-check-cudnn CUDNN=1
fi
echo
if [ $status != 0 ]; then echo "gpu-check: FAILED (see above; Darknet's output: build/gpu-check*-stderr.log)"
elif [ $skipped = 1 ]; then echo "gpu-check: builds OK; the comparison was skipped (no CUDA device)"
else echo "gpu-check: all passed"; fi
exit $status
