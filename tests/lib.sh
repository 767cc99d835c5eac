# tests/lib.sh: helpers sourced by tests/integration/*.sh (see tests/run.sh for their environment).
set -u
ROOT=$PWD   # tests start in the repository root (tests/run.sh)

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "skipped: $*"; exit 77; }

# run_dn LOG ARGS...: ./darknet ARGS with a time limit; stdout+stderr to LOG; returns its status.
run_dn() {
    local log=$1; shift
    timeout 300 "$DARKNET" "$@" >"$log" 2>&1
}

# expect_error NAME PATTERN ARGS...: darknet must exit with status 1..125 (not a signal, not 0)
# and print PATTERN (an extended regex); prints what it saw otherwise.
expect_error() {
    local name=$1 pattern=$2; shift 2
    local log=$TMPDIR/err-$name.log rc
    run_dn "$log" "$@"; rc=$?
    if [ $rc = 0 ] || [ $rc -gt 125 ]; then
        tail -n 5 "$log" >&2; fail "$name: expected a clean error exit, got status $rc"
    fi
    grep -Eq -- "$pattern" "$log" || { tail -n 5 "$log" >&2; fail "$name: message does not match /$pattern/"; }
    echo "ok   $name: exit $rc, $(grep -Em1 -- "$pattern" "$log")"
}

# make_tiny_dataset DIR [make_dataset options]: the 3-class 16x16 set of tests/tools/make_dataset.c
make_tiny_dataset() {
    "$TOOLS/make_dataset" "$@" >/dev/null || fail "make_dataset $*"
}

# avg_loss LOG first|last: the running average loss Darknet printed on its first or last training
# line. grep -o, since stderr lines may be spliced into stdout's in a shared log.
avg_loss() {
    local pick; [ "$2" = first ] && pick='head -n 1' || pick='tail -n 1'
    grep -oE '[0-9]+, [0-9.]+: [0-9.naif-]+, [0-9.naif-]+ avg' "$1" | $pick | sed -E 's/.*, ([0-9.naif-]+) avg/\1/'
}

# top1 LOG: the final top-1 accuracy that `classifier valid` printed.
top1() { grep -E 'top 1: ' "$1" | tail -n 1 | sed -E 's/.*top 1: ([0-9.]+),.*/\1/'; }

# fcmp A OP B: floating-point comparison with awk, e.g. fcmp "$x" '<' 0.5
fcmp() { awk -v a="$1" -v b="$3" "BEGIN { exit !(a $2 b) }"; }

# A small valid [net] (8x8x3, batch 4) and a layer to put after it, for cfgs that tests write.
TINY_NET='[net]
batch=4
width=8
height=8
channels=3
'
TINY_CONV='[convolutional]
filters=4
size=3
pad=1
activation=leaky
'
