# A Siamese Ensemble cfg (tests/data/tiny-siamese.cfg: two conv branches with batch norm and
# dropout, subdivisions=2) trains with the ordinary `classifier train`: the loss falls, `valid`
# is above chance, training resumes from a checkpoint, and `predict` runs.
source tests/lib.sh
d=$TMPDIR/ds
make_tiny_dataset "$d"
cfg=$PWD/tests/data/tiny-siamese.cfg
cd "$d"
run_dn train.log classifier train tiny.data "$cfg" || { tail train.log; fail "classifier train exited $?"; }
grep -q "siamese   layers 3,9" train.log || fail "summary does not show [siamese] mixing layers 3 and 9"
first=$(avg_loss train.log first); last=$(avg_loss train.log last)
echo "avg loss (mixed labels): first $first, last $last"
[ -n "$first" ] && [ -n "$last" ] || fail "could not read the loss from train.log"
fcmp "$last" '<' "$first * 0.75" || fail "loss did not fall: $first -> $last"
[ -s backup/tiny-siamese.weights ] || fail "no final weights"
run_dn valid.log classifier valid tiny.data "$cfg" backup/tiny-siamese.weights || fail "classifier valid exited $?"
acc=$(top1 valid.log)
echo "top-1 on 150 validation images: $acc (chance 0.33)"
fcmp "$acc" '>' 0.6 || fail "top-1 $acc is not clearly above chance"

# Resume: continue from the final checkpoint with a higher max_batches; the count goes on from 150.
sed 's/^max_batches=150/max_batches=170/' "$cfg" > more.cfg
run_dn resume.log classifier train tiny.data more.cfg backup/tiny-siamese.weights || fail "resume exited $?"
grep -Eq '^151, ' resume.log || { grep -E '^[0-9]+, ' resume.log | head -2; fail "resume did not continue at batch 151"; }
grep -Eq '^170, ' resume.log || fail "resume did not reach batch 170"
echo "ok   resumed from batch 150 to 170"

img=$(head -n 1 valid.list)
run_dn predict.log classifier predict tiny.data "$cfg" backup/tiny-siamese.weights "$img" || fail "predict exited $?"
grep -Eq '^ *[0-9.]+%: (hstripes|vstripes|blob)' predict.log || { tail -4 predict.log; fail "predict printed no class"; }
echo "ok   predict: $(grep -Em1 '%: ' predict.log)"

# partial: keep branch A's layers (0-3) as a pretrained start, then fine-tune the Siamese cfg from it.
run_dn partial.log partial "$cfg" backup/tiny-siamese.weights branchA.weights 4 || { tail -3 partial.log; fail "partial exited $?"; }
[ -s branchA.weights ] || fail "partial wrote nothing"
[ "$(stat -c %s branchA.weights)" -lt "$(stat -c %s backup/tiny-siamese.weights)" ] || fail "partial file is not smaller"
sed 's/^max_batches=150/max_batches=10/' "$cfg" > short.cfg
run_dn finetune.log classifier train tiny.data short.cfg branchA.weights || fail "training from partial weights exited $?"
grep -Eq '^10, ' finetune.log || fail "fine-tuning from partial weights did not run 10 batches"
echo "ok   partial -> fine-tune: $(stat -c %s branchA.weights) of $(stat -c %s backup/tiny-siamese.weights) bytes kept"

# Each branch alone, without editing the cfg: SIAMESE_TEST_LAMBDA=1 is branch A, 0 is branch B.
for t in 1 0; do
    SIAMESE_TEST_LAMBDA=$t run_dn "valid$t.log" valid tiny.data "$cfg" backup/tiny-siamese.weights || fail "valid with SIAMESE_TEST_LAMBDA=$t exited $?"
    grep -q "test $t.00 (SIAMESE_TEST_LAMBDA)" "valid$t.log" || fail "summary does not show the override $t"
    echo "ok   branch $([ $t = 1 ] && echo A || echo B) alone: top-1 $(top1 "valid$t.log")"
done
cmp -s <(grep -v 'SIAMESE\|seed' valid1.log | tail -n 150) <(grep -v 'SIAMESE\|seed' valid0.log | tail -n 150) \
    && fail "branch A and branch B gave identical predictions: the override had no effect"
SIAMESE_TEST_LAMBDA=2 expect_error lambda-env 'SIAMESE_TEST_LAMBDA=2: must be a number in \[0,1\]' ops "$cfg"
