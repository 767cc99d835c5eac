# Plugin code compiles warning-free with -Wall -Wextra (as errors here), also under GPU's defines,
# and the plugin's CUDA kernels (plugin/*.cu) with nvcc's host and device warnings as errors
# (where the CUDA toolkit is installed; the GPU build test links them).
source tests/lib.sh
cuda=${CUDA_DIR:-/usr/local/cuda}
flags="-std=gnu11 -O2 -Wall -Wextra -Werror -fno-fast-math -Ibuild/darknet/include -Ibuild/darknet/src -Iplugin"
for f in plugin/*.c; do
    gcc $flags -c "$f" -o "$TMPDIR/x.o" || fail "$f has warnings"
    if [ -e "$cuda/include/cuda_runtime.h" ]; then
        gcc $flags -DGPU -I"$cuda/include" -c "$f" -o "$TMPDIR/x.o" || fail "$f has warnings with -DGPU"
    fi
done
gpu_note="(no CUDA toolkit at $cuda: GPU variants not compiled)"
if [ -x "$cuda/bin/nvcc" ]; then
    for f in plugin/*.cu; do
        "$cuda/bin/nvcc" -gencode arch=compute_90,code=sm_90 -std=c++17 -O2 -Werror all-warnings \
            -Xcompiler -Wall,-Wextra,-Werror -Iplugin -c "$f" -o "$TMPDIR/x.o" || fail "$f has warnings"
    done
    gpu_note="also with -DGPU; $(ls plugin/*.cu | wc -l) CUDA file(s) by nvcc"
fi
echo "ok   $(ls plugin/*.c | wc -l) plugin files, no warnings, $gpu_note"
