# Fuzzing (issue 7): libFuzzer harnesses for the cfg parser with our sections (tests/fuzz/fuzz_cfg.c)
# and for the weights loader (tests/fuzz/fuzz_weights.c), built with clang, ASan and UBSan.
# 1. every committed regression input (a crash found by fuzzing, fixed in patches/0010) is replayed
#    through the harness and through ./darknet, which must refuse it with a message and status 1;
# 2. each harness fuzzes for a bounded time from the committed seeds (tests/fuzz/cfg, weights):
#    FUZZ_SECONDS in all (default 75: 45 for cfgs, 30 for weights files). A finding fails the test;
#    its input is kept in build/test-logs/fuzz-findings/ (add it to tests/fuzz/regressions/ once fixed).
source tests/lib.sh
command -v clang-14 >/dev/null || skip "clang-14 is missing (make deps installs clang-14 and libclang-rt-14-dev)"
ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 \
    || skip "libFuzzer's runtime is missing (libclang-rt-14-dev)"
make --no-print-directory fuzz > "$TMPDIR/build.log" 2>&1 || { grep -E 'error' "$TMPDIR/build.log" | head; fail "make fuzz failed"; }
F=$BUILD/fuzz
# Leaks on Darknet's error paths are the harness's to release (harness.h); `make test SAN=1` checks leaks.
export ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1
findings=$BUILD/test-logs/fuzz-findings

# ---- 1. regressions --------------------------------------------------------------------------
n=0
for f in tests/fuzz/regressions/cfg/*; do
    [ -e "$f" ] || continue
    n=$((n+1))
    "$F/fuzz_cfg" -close_fd_mask=3 "$f" > "$TMPDIR/replay.log" 2>&1 \
        || { tail -n 20 "$TMPDIR/replay.log"; fail "fuzz_cfg fails again on $f"; }
    run_dn "$TMPDIR/ops.log" ops "$f"; rc=$?
    { [ $rc -ge 1 ] && [ $rc -le 125 ] && grep -Fq "$f" "$TMPDIR/ops.log"; } \
        || { tail -n 3 "$TMPDIR/ops.log"; fail "darknet ops $f: status $rc, or no message naming the file"; }
    echo "ok   regression $(basename "$f"): $(grep -F "$f" "$TMPDIR/ops.log" | head -n 1)"
done
[ $n -gt 0 ] || fail "no regression inputs in tests/fuzz/regressions/cfg"

# ---- 2. bounded fuzzing ----------------------------------------------------------------------
total=${FUZZ_SECONDS:-75}
fuzz() {  # NAME SECONDS SEEDS [libFuzzer options]: fuzz, report the executions, fail on a finding
    local name=$1 secs=$2 seeds=$3; shift 3
    local corpus=$TMPDIR/corpus-$name art=$TMPDIR/art-$name/ log=$TMPDIR/fuzz-$name.log
    mkdir -p "$corpus" "$art"
    "$F/$name" -max_total_time="$secs" -timeout=10 -close_fd_mask=3 -print_final_stats=1 \
        -artifact_prefix="$art" "$@" "$corpus" "$seeds" > "$log" 2>&1; local rc=$?
    local execs; execs=$(grep -Eo 'stat::number_of_executed_units: [0-9]+' "$log" | grep -Eo '[0-9]+$')
    if [ $rc != 0 ] || ls "$art" | grep -q .; then
        mkdir -p "$findings"; cp "$art"* "$findings/" 2>/dev/null
        grep -E -A 12 'ERROR:|runtime error' "$log" | grep -v 'fuzzer::' | head -n 30
        fail "$name found a problem (status $rc); inputs in $findings: $(ls "$art" | tr '\n' ' ')"
    fi
    [ -n "$execs" ] && [ "$execs" -gt 100 ] || { tail -n 5 "$log"; fail "$name ran only ${execs:-0} inputs"; }
    echo "ok   $name: $execs inputs in $secs s, no crash, no sanitizer report ($(grep -Eo 'cov: [0-9]+' "$log" | tail -n 1))"
}
fuzz fuzz_cfg $((total * 3 / 5)) tests/fuzz/cfg -dict=tests/fuzz/cfg.dict
fuzz fuzz_weights $((total - total * 3 / 5)) tests/fuzz/weights
