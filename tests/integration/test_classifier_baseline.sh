# An ordinary Darknet classifier cfg trains and validates with the patched build: the plugin hook
# leaves stock layers alone. Checks exit codes, that the loss falls, and accuracy above chance.
source tests/lib.sh
d=$TMPDIR/ds
make_tiny_dataset "$d"
cfg=$PWD/tests/data/tiny-baseline.cfg
cd "$d"
run_dn train.log classifier train tiny.data "$cfg" || { tail train.log; fail "classifier train exited $?"; }
first=$(avg_loss train.log first); last=$(avg_loss train.log last)
echo "avg loss: first $first, last $last"
[ -n "$first" ] && [ -n "$last" ] || fail "could not read the loss from train.log"
fcmp "$last" '<' "$first * 0.5" || fail "loss did not fall by half: $first -> $last"
[ -s backup/tiny-baseline.weights ] || fail "no final weights in backup/"
run_dn valid.log classifier valid tiny.data "$cfg" backup/tiny-baseline.weights || fail "classifier valid exited $?"
acc=$(top1 valid.log)
echo "top-1 on 150 validation images: $acc (chance 0.33)"
fcmp "$acc" '>' 0.6 || fail "top-1 $acc is not clearly above chance"
