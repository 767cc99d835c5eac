# Every cfg/fashion-*.cfg (baseline, Siamese, mixup, manifold mixup, CutMix) trains a few batches
# on a tiny real Fashion-MNIST subset and validates, with the mixing layers' summaries shown.
source tests/lib.sh
[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || skip "package dataset-fashion-mnist is not installed"
"$SCRIPTS_BIN/fmnist2darknet" --out "$TMPDIR/fm" --per-class 4 --test-per-class 2 > /dev/null || fail "conversion failed"
sed -i "s|^backup=.*|backup=$TMPDIR|" "$TMPDIR/fm/fashion-mnist.data"
for cfg in cfg/fashion-*.cfg; do
    name=$(basename "$cfg" .cfg)
    sed 's/^max_batches=.*/max_batches=3/' "$cfg" > "$TMPDIR/$name.cfg"
    run_dn "$TMPDIR/$name-train.log" classifier train "$TMPDIR/fm/fashion-mnist.data" "$TMPDIR/$name.cfg" \
        || { tail -n 5 "$TMPDIR/$name-train.log"; fail "$name: training exited $?"; }
    grep -Eq '^3, ' "$TMPDIR/$name-train.log" || fail "$name: did not train 3 batches"
    run_dn "$TMPDIR/$name-valid.log" valid "$TMPDIR/fm/fashion-mnist.data" "$TMPDIR/$name.cfg" "$TMPDIR/$name.weights" \
        || fail "$name: valid exited $?"
    grep -q '^19: top 1: ' "$TMPDIR/$name-valid.log" || fail "$name: valid did not evaluate 20 images"
    echo "ok   $name: trains and validates ($(grep -Eo '^ +[0-9]+ (mixup|cutmix|siamese|branch)' "$TMPDIR/$name-train.log" | awk '{print $2}' | tr '\n' ' '))"
done
grep -q "group manifold member 3" "$TMPDIR/fashion-manifold-train.log" || fail "manifold cfg lacks its third group member"
