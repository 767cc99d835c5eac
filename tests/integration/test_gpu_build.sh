# `make GPU=1` compiles and links with CUDA 13 (no GPU needed), into a folder of its own so that
# ./darknet stays the CPU build. Skipped where nvcc is missing.
source tests/lib.sh
nvcc=${CUDA_DIR:-/usr/local/cuda}/bin/nvcc
[ -x "$nvcc" ] || skip "no CUDA toolkit at ${CUDA_DIR:-/usr/local/cuda} (nvcc)"
out=$TMPDIR/gpu
make --no-print-directory GPU=1 ARCH="-gencode arch=compute_90,code=sm_90" OUTDIR="$out" host \
    > "$TMPDIR/build.log" 2>&1 || { grep -iE 'error' "$TMPDIR/build.log" | head; fail "GPU=1 build failed"; }
for f in darknet libdarknet.so libdarknet.a include/darknet.h; do [ -s "$out/$f" ] || fail "GPU build made no $f"; done
nm "$out/libdarknet.a" 2>/dev/null | grep -q ' T forward_network_gpu' || fail "GPU build has no forward_network_gpu"
echo "ok   GPU=1 build links: $(ls -la "$out/darknet" | awk '{print $5}') bytes"
