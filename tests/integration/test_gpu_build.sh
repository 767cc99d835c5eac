# `make GPU=1` compiles and links with CUDA 13 (no GPU needed), into a folder of its own so that
# ./darknet stays the CPU build: Darknet's kernels, the plugin's (plugin/*.cu, by nvcc with
# -Wall -Wextra; test_plugin_warnings makes its warnings errors) and the GPU equivalence program
# tests/gpu/test_gpu_equiv.c,
# which must start and, without a GPU, say that it skipped (with one it runs its comparisons).
# Also CUDNN=1: where cuDNN's headers are installed (cuDNN 9 with CUDA 13) it compiles and links
# (patches/0022-cudnn9); where they are not, it stops before building, naming what is missing.
# Skipped where nvcc is missing.
source tests/lib.sh
cuda=${CUDA_DIR:-/usr/local/cuda}
[ -x "$cuda/bin/nvcc" ] || skip "no CUDA toolkit at $cuda (nvcc)"
out=$TMPDIR/gpu
t0=$SECONDS
make --no-print-directory GPU=1 ARCH="-gencode arch=compute_90,code=sm_90" OUTDIR="$out" \
    GPU_TEST_BIN="$out/test_gpu_equiv" gpu-build > "$TMPDIR/build.log" 2>&1 \
    || { grep -iE 'error' "$TMPDIR/build.log" | head; fail "GPU=1 build failed"; }
for f in darknet libdarknet.so libdarknet.a include/darknet.h test_gpu_equiv; do
    [ -s "$out/$f" ] || fail "GPU build made no $f"
done
syms=$(nm "$out/libdarknet.a" 2>/dev/null)
for s in forward_network_gpu mix_forward_gpu mix_backward_gpu mix_labels_gpu mix_cutmix_forward_gpu \
         mix_cutmix_backward_gpu forward_branch_layer_gpu forward_siamese_layer_gpu backward_siamese_layer_gpu; do
    grep -q " T $s\$" <<<"$syms" || fail "GPU build has no $s"
done
grep -q 'nvcc.*plugin/mix_kernels.cu' "$TMPDIR/build.log" || grep -q 'mix_kernels.o' <<<"$(ar t "$out/libdarknet.a")" \
    || fail "plugin/mix_kernels.cu is not in the GPU build"
echo "ok   GPU=1 build links in $((SECONDS - t0)) s: darknet $(stat -c %s "$out/darknet") bytes, plugin kernels in libdarknet.a"

"$out/test_gpu_equiv" > "$TMPDIR/equiv.log" 2>&1; rc=$?
cat "$TMPDIR/equiv.log"
if grep -q '^skipped: no CUDA device' "$TMPDIR/equiv.log"; then
    [ $rc = 0 ] || fail "test_gpu_equiv skipped but exited $rc"
    echo "ok   test_gpu_equiv starts without a GPU and says it skipped (make gpu-check on a GPU machine runs it)"
else
    [ $rc = 0 ] || fail "test_gpu_equiv failed on this machine's GPU (exit $rc)"
    grep -q '^passed' "$TMPDIR/equiv.log" || fail "test_gpu_equiv printed no result"
    echo "ok   test_gpu_equiv ran on a GPU and passed"
fi

# (Not again under SAN=1: the plain run checks it, and a sanitizer build of it takes two minutes.)
if [ "${SAN:-0}" = 1 ]; then
    echo "ok   (CUDNN=1 build: checked by the plain make test, not under SAN=1)"
elif [ -e "$cuda/include/cudnn_version.h" ] || [ -e /usr/include/cudnn_version.h ] || ls /usr/include/*/cudnn_version.h >/dev/null 2>&1; then
    t0=$SECONDS
    make --no-print-directory GPU=1 CUDNN=1 ARCH="-gencode arch=compute_90,code=sm_90" OUTDIR="$TMPDIR/cudnn" \
        host > "$TMPDIR/cudnn-build.log" 2>&1 || { grep -iE 'error' "$TMPDIR/cudnn-build.log" | head; fail "GPU=1 CUDNN=1 build failed"; }
    nm "$TMPDIR/cudnn/libdarknet.a" | grep -q ' U cudnnGetConvolutionForwardAlgorithm_v7$' \
        || fail "CUDNN=1 build does not choose algorithms with cuDNN's _v7 calls"
    echo "ok   GPU=1 CUDNN=1 build links in $((SECONDS - t0)) s (cuDNN $(sed -n 's/^#define CUDNN_MAJOR *//p' "$cuda/include/cudnn_version.h" 2>/dev/null))"
else
    echo "note: no cuDNN headers on this machine: the CUDNN=1 build was not compiled (only its refusal is checked)"
fi

# CUDNN=1 with headers nowhere: a clear message at once, not an error deep in the build.
empty=$TMPDIR/no-cuda; mkdir -p "$empty"
if [ ! -e /usr/include/cudnn_version.h ] && ! ls /usr/include/*/cudnn_version.h >/dev/null 2>&1; then
    make --no-print-directory GPU=1 CUDNN=1 CUDA_DIR="$empty" OUTDIR="$TMPDIR/x" host > "$TMPDIR/cudnn.log" 2>&1 \
        && fail "CUDNN=1 without cuDNN headers did not stop"
    grep -q 'CUDNN=1: no cuDNN headers' "$TMPDIR/cudnn.log" || { cat "$TMPDIR/cudnn.log"; fail "no clear cuDNN message"; }
    echo "ok   $(grep -o 'CUDNN=1: no cuDNN headers.*' "$TMPDIR/cudnn.log" | head -c 120)..."
fi
