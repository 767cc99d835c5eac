# `make demo`'s pipeline end to end with tiny settings: conversion of the real Fashion-MNIST files,
# both trainings, four evaluations with `darknet valid`, and the results table.
source tests/lib.sh
[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || skip "package dataset-fashion-mnist is not installed"
[ -x "$SCRIPTS_BIN/fmnist2darknet" ] || fail "fmnist2darknet was not built"
DEMO_PER_CLASS=3 DEMO_TEST_PER_CLASS=4 DEMO_ITERS=4 DEMO_OUT="$TMPDIR/run" DEMO_DATA="$TMPDIR/fm" \
    BUILD="$BUILD" scripts/demo.sh > "$TMPDIR/demo.log" 2>&1 || { tail -n 20 "$TMPDIR/demo.log"; fail "demo.sh exited $?"; }
r=$TMPDIR/run/results.md
[ -s "$r" ] || fail "no results.md"
cat "$r"
[ "$(grep -c '^| .*| [0-9.]*% | [0-9.]*% | 30 |' "$r")" = 4 ] || fail "results.md does not have 4 rows with top-1, top-2 and 30 training images"
grep -q "test: 40 images" "$r" || fail "results.md does not say 40 test images"
for w in fashion-baseline.weights fashion-siamese.weights; do [ -s "$TMPDIR/run/$w" ] || fail "no $w"; done
grep -q "SIAMESE_TEST_LAMBDA=1" "$TMPDIR/demo.log" || fail "branch A was not evaluated through the override"
# Progress lines are shown for long steps.
grep -Eq '^  4, ' "$TMPDIR/demo.log" || fail "no training progress line"
grep -Eq '^  40/40 ' "$TMPDIR/demo.log" || fail "no evaluation progress line"
# A second run reuses the converted data.
DEMO_PER_CLASS=3 DEMO_TEST_PER_CLASS=4 DEMO_ITERS=2 DEMO_OUT="$TMPDIR/run2" DEMO_DATA="$TMPDIR/fm" \
    BUILD="$BUILD" scripts/demo.sh > "$TMPDIR/demo2.log" 2>&1 || fail "second demo run exited $?"
grep -q "already converted" "$TMPDIR/demo2.log" || fail "second run converted again"
