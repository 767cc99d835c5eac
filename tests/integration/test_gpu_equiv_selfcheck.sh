# The GPU equivalence program (tests/gpu/test_gpu_equiv.c) checks itself where no GPU can: built
# for the CPU, it runs its whole network comparison with both networks on the CPU (weights
# copied from one to the other, mixing layers reseeded, [dropout] off), which must agree exactly,
# then says that it skipped the GPU. So a bug in the comparison itself shows up in every
# `make test`, not first on a GPU machine. (The GPU build of it: test_gpu_build.sh.)
source tests/lib.sh
"$TOOLS/test_gpu_equiv_cpu" cfg/fashion-siamese.cfg > "$TMPDIR/out.log" 2> "$TMPDIR/err.log"; rc=$?
grep -E '^(ok|FAIL|self-check|skipped)' "$TMPDIR/out.log"
[ $rc = 0 ] || { tail -n 5 "$TMPDIR/err.log"; fail "self-check failed (exit $rc)"; }
n=$(grep -c '^ok' "$TMPDIR/out.log")
[ "$n" -ge 30 ] || fail "only $n checks passed (5 networks x 7 checks expected)"
grep -q '^self-check passed: 0 check(s) failed' "$TMPDIR/out.log" || fail "no self-check result"
grep -q '^skipped: no CUDA device (built without GPU=1)' "$TMPDIR/out.log" || fail "no skip message"
echo "ok   self-check: $n checks on 5 networks (4 built-in, cfg/fashion-siamese.cfg), exit 0"
