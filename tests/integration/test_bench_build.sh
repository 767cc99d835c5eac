# make bench's two Darknet builds still build and agree: stock Darknet (patches 0001-0014, none of
# the speed patches, Darknet's own gemm; build/stock/) and this build, each driving bench_train on
# the demo's baseline and Siamese cfgs for 3 training steps from the same seeded weights. The
# losses of every step must agree to 1e-4 (relative; float sums in another order). `make bench`
# itself (minutes) is not run here; this catches a plugin or patch change that breaks its stock
# build (as the run seed once did: the plugin read a field stock Darknet does not have).
source tests/lib.sh
build=${BUILD:-$ROOT/build}
make --no-print-directory "$build/bench/bench_train" "$build/stock/out/bench_train" > "$TMPDIR/build.log" 2>&1 \
    || { grep -iE 'error' "$TMPDIR/build.log" | head; fail "make bench's drivers (stock and this build) do not build"; }
nm "$build/stock/out/libdarknet.a" | grep -q ' U cblas_sgemm' && fail "the stock build calls OpenBLAS"
nm "$build/stock/out/libdarknet.a" | grep -q ' T parallel_for' && fail "the stock build has the thread pool (patch 0017)"
echo "ok   stock build: Darknet's own gemm, no thread pool"
# (cfg/fashion-siamese.cfg's [siamese] has seed=1: both builds draw the same lambdas and partners)
for cfg in cfg/fashion-baseline.cfg cfg/fashion-siamese.cfg; do
    for b in stock ours; do
        drv=$build/bench/bench_train; [ $b = stock ] && drv=$build/stock/out/bench_train
        "$drv" "$cfg" --warmup 1 --steps 2 --seed 5 > "$TMPDIR/$b.out" 2> "$TMPDIR/$b.err" \
            || { tail -3 "$TMPDIR/$b.err"; fail "$b bench_train failed on $cfg"; }
        awk '$1 == "step" {print $4}' "$TMPDIR/$b.out" > "$TMPDIR/$b.loss"
        [ "$(wc -l < "$TMPDIR/$b.loss")" = 3 ] || fail "$b bench_train printed $(wc -l < "$TMPDIR/$b.loss") steps on $cfg, not 3"
    done
    paste "$TMPDIR/stock.loss" "$TMPDIR/ours.loss" | awk -v c="$cfg" '
        { d = $1 - $2; if (d < 0) d = -d; s = $1 < 0 ? -$1 : $1; r = d / (s > 1e-12 ? s : 1e-12)
          if (!($1 == $1 + 0) || r > 1e-4) { printf "step %d: stock %s ours %s (relative %.2g)\n", NR, $1, $2, r; bad = 1 }
          if (r > w) w = r }
        END { if (bad) exit 1; sub(/.*\//, "", c); printf "ok   %s: 3 steps, losses of stock and this build agree (largest relative difference %.2g)\n", c, w }' \
        || fail "stock and this build disagree on $cfg"
done
