#!/bin/bash
# tests/run.sh UNIT_BIN...: run the unit test programs given, then every tests/integration/*.sh,
# and print one closing line "N passed, N failed, N skipped". Exit 1 if anything failed.
#
# An integration test is a bash script run from the repository root with these variables set:
#   DARKNET  absolute path of the built ./darknet      TOOLS  folder of built tests/tools programs
#   SCRIPTS_BIN  folder of the built scripts/*.c programs (converters, cfg tools)
#   BUILD    the build folder                          TMPDIR a fresh folder of its own
# It exits 0 (pass), 77 after printing "skipped: <reason>" (what the machine lacks), or else fails.
# CI sets CI=true: there a skip counts as a failure, since CI has root, CUDA and clang.
# TESTS=pattern runs only the tests whose name contains the pattern.
# SAN=1 (make test SAN=1): the programs are built with ASan + UBSan. Their reports go to files named
# after the test (log_path), and a test with a report fails even when its own checks passed: a
# report from a process whose output a test ignores, or whose failure it expects, still counts.
# LeakSanitizer reads tests/lsan.supp (known leaks of Darknet's own, each explained there).
# verify_asan_link_order=0: scripts/demo.sh runs darknet under `stdbuf -oL`, whose LD_PRELOAD
# library would otherwise make ASan refuse to start.
set -u
cd "$(dirname "$0")/.."
export BUILD=${BUILD:-$PWD/build} DARKNET=$PWD/darknet TOOLS=${BUILD:-$PWD/build}/tests SCRIPTS_BIN=${BUILD:-$PWD/build}/tools
pass=0 fail=0 skip=0 failed=()
logdir=$BUILD/test-logs
rm -rf "$logdir"; mkdir -p "$logdir"

run_one() {  # name, command...
    local name=$1; shift
    case "$name" in *"${TESTS:-}"*) ;; *) return ;; esac
    local log=$logdir/$(echo "$name" | tr '/ ' '__').log t0=$SECONDS rc
    local tmp; tmp=$(mktemp -d "${TMPDIR:-/tmp}/dnt.XXXXXX")
    local san=$logdir/sanitizer-$(basename "$log" .log)
    if [ "${SAN:-0}" = 1 ]; then
        ASAN_OPTIONS=log_path=$san:detect_leaks=1:detect_stack_use_after_return=1:verify_asan_link_order=0 \
        UBSAN_OPTIONS=log_path=$san:print_stacktrace=1:halt_on_error=1 \
        LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0 \
        TMPDIR=$tmp "$@" >"$log" 2>&1; rc=$?
        if ls "$san".* >/dev/null 2>&1; then
            { echo "sanitizer reports:"; cat "$san".*; } >> "$log"
            [ $rc = 0 ] && rc=1
        fi
    else
        TMPDIR=$tmp "$@" >"$log" 2>&1; rc=$?
    fi
    rm -rf "$tmp"
    if [ $rc = 0 ]; then
        pass=$((pass+1)); printf 'PASS  %-50s %4ds\n' "$name" $((SECONDS-t0))
    elif [ $rc = 77 ] && [ "${CI:-}" != true ]; then
        skip=$((skip+1)); printf 'SKIP  %-50s %s\n' "$name" "$(grep -m1 '^skipped:' "$log" || echo 'skipped: (no reason given)')"
    else
        fail=$((fail+1)); failed+=("$name")
        [ $rc = 77 ] && echo "CI=true: skipping is not allowed here" >> "$log"
        printf 'FAIL  %-50s exit %d, log %s\n' "$name" $rc "$log"
        tail -n 25 "$log" | sed 's/^/      | /'
    fi
}

for bin in "$@"; do run_one "unit/$(basename "$bin")" "$bin"; done
for t in tests/integration/*.sh; do [ -e "$t" ] && run_one "integration/$(basename "$t" .sh)" bash "$t"; done

echo
[ ${#failed[@]} -gt 0 ] && printf 'failed: %s\n' "${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail = 0 ]
