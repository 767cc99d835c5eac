# BLAS=0 (Darknet's own gemm, the fallback of patch 0015) builds into a folder of its own, calls no
# OpenBLAS, and passes the same layer-by-layer equivalence test as the default OpenBLAS build
# (tests/unit/test_fast_layers.c: batched convolution, fused batch norm, pooling, [branch] sharing).
source tests/lib.sh
out=$TMPDIR/blas0
make --no-print-directory BLAS=0 OUTDIR="$out" host > "$TMPDIR/build.log" 2>&1 \
    || { grep -iE 'error' "$TMPDIR/build.log" | head; fail "BLAS=0 build failed"; }
nm "$out/libdarknet.a" | grep -q ' U cblas_sgemm' && fail "the BLAS=0 build calls cblas_sgemm"
nm "$ROOT/libdarknet.a" | grep -q ' U cblas_sgemm' || fail "the default build does not call cblas_sgemm"
echo "ok   BLAS=0 build: no cblas_sgemm; default build: cblas_sgemm"
gcc -std=gnu11 -O1 -g -Wall -Wextra -fno-fast-math -pthread -I"$out/include" -I"$BUILD/darknet/src" -Iplugin \
    -DOPENCV $([ "${SAN:-0}" = 1 ] && echo "-fsanitize=address -fsanitize=undefined -fno-sanitize-recover=all") \
    tests/unit/test_fast_layers.c -o "$TMPDIR/test_fast_layers" "$out/libdarknet.a" -lm -pthread \
    $(pkg-config --libs opencv4) -lstdc++ -lcmocka || fail "test_fast_layers does not build against the BLAS=0 library"
"$TMPDIR/test_fast_layers" > "$TMPDIR/t.log" 2>&1 || { grep -E 'FAIL|off|ERROR' "$TMPDIR/t.log"; fail "equivalence test fails with BLAS=0"; }
grep -E 'worst error' "$TMPDIR/t.log" | sed 's/^ */ok   BLAS=0 /'
