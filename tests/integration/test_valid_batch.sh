# `valid -batch N` (patch 0018) evaluates N images per forward pass and gives what one image at a
# time gives: the same top-1 and top-k, and per image the same class and the same two printed
# probabilities (within 2e-6: a batched gemm may round differently). Checked for an ordinary cfg
# and a Siamese cfg, for N = the cfg's batch (the last batch partial: 150 images) and N = 7, through
# `darknet valid` and `darknet classifier valid`; a larger N is lowered to the cfg's batch, saying so.
source tests/lib.sh
d=$TMPDIR/ds
make_tiny_dataset "$d"
cd "$d"
sed -i "s/^top=.*/top=2/" tiny.data
# per_image LOG: "path class p0 p1" lines; final LOG: the last top-1/top-k line
per_image() { grep -E '^[^ ]+\.png, ' "$1" | tr -d ','; }
final() { grep 'top 1: ' "$1" | tail -n 1 | sed -E 's/^[0-9]+: //'; }
same_predictions() {  # LOG_A LOG_B
    [ "$(per_image "$1" | wc -l)" = 150 ] || fail "$1: $(per_image "$1" | wc -l) images, want 150"
    [ "$(final "$1")" = "$(final "$2")" ] || fail "top-1/top-k differ: '$(final "$1")' vs '$(final "$2")'"
    paste -d' ' <(per_image "$1") <(per_image "$2") | awk '
        $1 != $5 || $2 != $6 { print "image " NR ": " $1 " class " $2 " vs " $5 " class " $6; bad = 1 }
        { d = $3 - $7; e = $4 - $8; if (d < 0) d = -d; if (e < 0) e = -e; if (d > 2e-6 || e > 2e-6) { print "image " NR ": " $3 " " $4 " vs " $7 " " $8; bad = 1 } }
        END { exit bad }' || fail "per-image predictions differ between $1 and $2"
}
for name in tiny-baseline tiny-siamese; do
    sed 's/^max_batches=150/max_batches=60/' "$ROOT/tests/data/$name.cfg" > "$name.cfg"
    run_dn "train-$name.log" classifier train tiny.data "$name.cfg" || { tail -n 3 "train-$name.log"; fail "training $name exited $?"; }
    w=backup/$name.weights
    [ -s "$w" ] || fail "no weights for $name"
    batch=$(( $(sed -n 's/^batch=//p' "$name.cfg") / $(sed -n 's/^subdivisions=//p' "$name.cfg") ))
    run_dn "v1-$name.log" valid tiny.data "$name.cfg" "$w" || fail "valid $name exited $?"
    for n in "$batch" 7; do
        run_dn "v$n-$name.log" valid tiny.data "$name.cfg" "$w" -batch "$n" || fail "valid -batch $n $name exited $?"
        same_predictions "v1-$name.log" "v$n-$name.log"
        echo "ok   $name -batch $n: $(final "v$n-$name.log"), every image as one at a time"
    done
    run_dn "c$batch-$name.log" classifier valid tiny.data "$name.cfg" "$w" -batch "$batch" || fail "classifier valid -batch $batch exited $?"
    same_predictions "v1-$name.log" "c$batch-$name.log"
    run_dn "big-$name.log" valid tiny.data "$name.cfg" "$w" -batch 1000 || fail "valid -batch 1000 $name exited $?"
    grep -q "using $batch" "big-$name.log" || fail "-batch 1000 was not lowered to $batch with a message"
    same_predictions "v1-$name.log" "big-$name.log"
    echo "ok   $name classifier valid -batch $batch, and -batch 1000 lowered to $batch"
done
