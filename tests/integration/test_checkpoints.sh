# Issue 7: training never loses a checkpoint (patch 0012), on the Siamese cfg of the other tests.
# - killed (SIGKILL) in the middle of saving: the previous checkpoint is byte for byte intact and
#   loads (a fault hook, DARKNET_TEST_KILL_IN_SAVE, kills at the worst moment every time; then
#   kill -9 at random moments, repeatedly, on a run that saves every two batches);
# - a full disk (a file size limit) during a save: a clear error, the previous file unchanged;
# - SIGINT / SIGTERM: a final checkpoint, status 128+signal, and a resume continues the count.
source tests/lib.sh
d=$TMPDIR/ds
make_tiny_dataset "$d" --train 60 --valid 30
cd "$d"
# The checkpoint's name comes from the cfg's: variants of the cfg live in folders of their own.
mkcfg() {  # DIR MAX_BATCHES: DIR/sia.cfg
    mkdir -p "$1"
    sed "s/^max_batches=150/max_batches=$2/" "$ROOT/tests/data/tiny-siamese.cfg" > "$1/sia.cfg"
}
mkcfg c6 6
run_dn train.log classifier train tiny.data c6/sia.cfg || { tail -5 train.log; fail "training exited $?"; }
ck=backup/sia.weights
[ -s "$ck" ] || fail "no $ck"
cp "$ck" good.weights
run_dn valid-good.log valid tiny.data c6/sia.cfg "$ck" || fail "valid of the first checkpoint exited $?"
acc=$(top1 valid-good.log)
echo "ok   a checkpoint after 6 batches: $(stat -c %s "$ck") bytes, top-1 $acc"

# ---- SIGKILL halfway through writing backup/sia.weights ---------------------------------------
mkcfg c12 12
DARKNET_TEST_KILL_IN_SAVE=/sia.weights run_dn kill.log classifier train tiny.data c12/sia.cfg "$ck"; rc=$?
[ $rc = 137 ] || { tail -3 kill.log; fail "the fault hook did not kill the run (status $rc, want 137)"; }
grep -q "DARKNET_TEST_KILL_IN_SAVE: killing this process while it saves" kill.log || fail "the run was not killed inside the save"
grep -Eq '^12, ' kill.log || fail "the run was killed before its final save"
cmp -s "$ck" good.weights || fail "$ck changed although the save was killed"
tmp=$(ls backup/sia.weights.tmp.* 2>/dev/null | head -n 1)
[ -n "$tmp" ] && [ "$(stat -c %s "$tmp")" -lt "$(stat -c %s "$ck")" ] || fail "no half-written temporary file: the kill did not hit the save"
run_dn valid-after.log valid tiny.data c6/sia.cfg "$ck" || fail "the checkpoint does not load after a kill during a save"
[ "$(top1 valid-after.log)" = "$acc" ] || fail "the checkpoint gives top-1 $(top1 valid-after.log), not $acc"
echo "ok   killed halfway through a save ($(stat -c %s "$tmp") of $(stat -c %s "$ck") bytes written to $(basename "$tmp")): $ck unchanged, loads, top-1 $acc"
rm -f backup/sia.weights.tmp.*

# ---- kill -9 at random moments, repeatedly --------------------------------------------------------
# 60 training images and 32 per batch: an epoch checkpoint every two batches, so saves are frequent.
# darknet runs without `timeout` here, so that kill -9 reaches it; the trap stops what is left.
mkcfg cl 100000
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null' EXIT
kills=0 inside=0
checked=0
for round in 1 2 3 4 5 6; do
    touch round.start
    "$DARKNET" classifier train tiny.data cl/sia.cfg "$ck" > "kill9-$round.log" 2>&1 &
    pid=$!
    sleep "0.$((RANDOM % 9 + 3))"
    kill -9 $pid 2>/dev/null
    wait $pid; rc=$?
    pid=
    [ $rc = 137 ] && kills=$((kills+1))
    ls backup/*.tmp.* >/dev/null 2>&1 && inside=$((inside+1))
    rm -f backup/*.tmp.*
    # Every checkpoint this round wrote is whole (a half-written one would be shorter: they all
    # have the same size); the newest one and the one it resumed from load.
    for f in $(find backup -name '*.weights' -newer round.start); do
        [ "$(stat -c %s "$f")" = "$(stat -c %s good.weights)" ] || fail "round $round: $f has $(stat -c %s "$f") bytes"
        checked=$((checked+1))
    done
    for f in $(ls -t backup/*.weights | head -n 1) "$ck"; do
        run_dn load.log valid tiny.data cl/sia.cfg "$f" \
            || { tail -2 load.log; fail "round $round: $f does not load after kill -9"; }
    done
done
[ $kills -ge 4 ] || fail "only $kills of 6 runs were killed (the others ended first?)"
echo "ok   kill -9 at random moments, $kills times ($inside during a save): all $checked checkpoints written are whole, the newest load"

# ---- a full disk during a save ------------------------------------------------------------------
# A file size limit makes writes past it fail (EFBIG) as a full disk does (ENOSPC); SIGXFSZ is
# ignored so that the write fails instead of killing the process. The log goes through a pipe,
# which the limit does not apply to.
cp good.weights "$ck"
limit=$(( $(stat -c %s good.weights) / 1024 / 2 ))
( trap '' XFSZ; ulimit -f $limit; exec timeout 300 "$DARKNET" classifier train tiny.data c12/sia.cfg "$ck" ) 2>&1 | cat > full.log
rc=${PIPESTATUS[0]}
[ $rc = 1 ] || { tail -3 full.log; fail "a save onto a full disk: status $rc, want 1"; }
grep -Eq "Cannot save weights to [^ ]*backup/sia_[0-9]+\.weights: File too large; the previous [^ ]*backup/sia_[0-9]+\.weights, if any, is unchanged" full.log \
    || { tail -3 full.log; fail "a save onto a full disk: no clear message"; }
cmp -s "$ck" good.weights || fail "$ck changed"
ls backup/*.tmp.* >/dev/null 2>&1 && fail "a failed save left its temporary file"
echo "ok   full disk (limit $limit KiB): $(grep -om1 'Cannot save weights to [^:]*: File too large' full.log), status 1, nothing left behind"

# ---- SIGINT and SIGTERM: a final checkpoint, then a resume with the same count ----------------
mkdir -p sigbackup
sed "s|^backup=.*|backup=$d/sigbackup|" tiny.data > sig.data
for sig in INT TERM; do
    rm -f sigbackup/*
    "$DARKNET" classifier train sig.data cl/sia.cfg > "sig$sig.log" 2>&1 &
    pid=$!
    for i in $(seq 1 600); do [ -e sigbackup/sia_3.weights ] && break; sleep 0.1; done
    [ -e sigbackup/sia_3.weights ] || { kill -9 $pid; fail "SIG$sig: the run made no progress"; }
    kill -$sig $pid
    wait $pid; rc=$?
    pid=
    want=$([ $sig = INT ] && echo 130 || echo 143)
    [ $rc = $want ] || { tail -3 "sig$sig.log"; fail "SIG$sig: status $rc, want $want"; }
    grep -Eq "^SIG$sig at batch [0-9]+ of 100000: saving a final checkpoint" "sig$sig.log" || fail "SIG$sig: no message"
    at=$(grep -Eo "Stopped\. To resume from batch [0-9]+" "sig$sig.log" | grep -Eo '[0-9]+$')
    [ -n "$at" ] || { tail -5 "sig$sig.log"; fail "SIG$sig: no resume line"; }
    grep -Eq "^$at, " "sig$sig.log" || fail "SIG$sig: batch $at was not finished before the save"
    mkcfg "r$sig" $((at + 2))
    run_dn "resume$sig.log" classifier train sig.data "r$sig/sia.cfg" sigbackup/sia.weights || fail "SIG$sig: resume exited $?"
    first=$(grep -Eo '^[0-9]+, ' "resume$sig.log" | head -n 1 | tr -d ', ')
    [ "$first" = $((at + 1)) ] || fail "SIG$sig: stopped at batch $at, but the resume began at batch $first"
    echo "ok   SIG$sig at batch $at: status $rc, sigbackup/sia.weights saved; the resume continued at batch $first"
done
