# `make experiments QUICK=1` end to end on tiny settings (5 batches, 3 test images per class): the
# subsets, every method of the grid through scripts/sweep.py and scripts/exp-run.sh, the mixing-point
# step, the report (results.csv, results.md, gnuplot PNGs), the decision-boundary figure; then a
# second invocation that redoes only the run whose result was taken away (an interrupted run).
source tests/lib.sh
[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || skip "package dataset-fashion-mnist is not installed"
command -v gnuplot >/dev/null || skip "gnuplot is not installed (scripts/deps.sh ensure gnuplot-nox)"
command -v python3 >/dev/null || skip "python3 is not installed"
for t in fmnist2darknet se-convert boundary; do [ -x "$SCRIPTS_BIN/$t" ] || fail "$t was not built"; done
[ -f scripts/sweep.py ] || fail "scripts/sweep.py is missing"

out=$TMPDIR/q
run_quick() {  # LOG
    QUICK=1 EXP_ITERS=5 EXP_TEST_PER_CLASS=3 EXP_JOBS=2 EXP_BOUNDARY_STEPS=200 EXP_OUT="$out" BUILD="$BUILD" \
        timeout 240 scripts/experiments.sh > "$1" 2>&1 || { tail -n 30 "$1"; fail "experiments.sh exited $?"; }
}
run_quick "$TMPDIR/first.log"
csv=$out/sweep/results.csv
[ -s "$csv" ] || fail "no $csv"

# One row per run: the quick grid's runs, plus the mixing-point runs (stages 1 and 2, each seed).
n_grid=$(python3 scripts/sweep.py list cfg/experiments-quick.grid | wc -l)
n_seeds=$(sed -n 's/^seed *= *//p' cfg/experiments-quick.grid | head -n 1 | wc -w)
expected=$((n_grid + 2 * n_seeds))
[ "$n_grid" -ge 30 ] || fail "sweep.py lists only $n_grid runs for cfg/experiments-quick.grid"
rows=$(($(wc -l < "$csv") - 1))
[ "$rows" = "$expected" ] || fail "results.csv has $rows rows, expected $expected ($n_grid grid runs + $((2 * n_seeds)) mixing-point runs)"
echo "ok   results.csv: $rows rows"

# Every row: accuracies in [0,1] on 30 test images; branch accuracies exactly for the two-branch runs.
python3 - "$csv" <<'PY' || fail "results.csv rows are not as expected"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
bad = []
for r in rows:
    two = r['method'] in ('siamese', 'control')
    for k in ('top1', 'top2') + (('top1_branch_a', 'top1_branch_b') if two else ()):
        if not 0 <= float(r[k]) <= 1:
            bad.append('%s: %s=%s' % (r['run_id'], k, r[k]))
    if not two and (r['top1_branch_a'] or r['top1_branch_b']):
        bad.append('%s: branch columns for a single network' % r['run_id'])
    if r['test_images'] != '30':
        bad.append('%s: test_images=%s, expected 30' % (r['run_id'], r['test_images']))
    if float(r['train_seconds']) <= 0 or float(r['final_loss']) <= 0:
        bad.append('%s: train_seconds/final_loss not positive' % r['run_id'])
methods = {r['method'] for r in rows}
if methods != {'baseline', 'mixup', 'cutmix', 'manifold', 'siamese', 'control'}:
    bad.append('methods: %s' % sorted(methods))
ats = sorted(r['at'] for r in rows if r['at'])
if ats != ['1', '1', '2', '2']:
    bad.append('mixing-point runs: at=%s' % ats)
print('\n'.join(bad) or 'rows ok')
sys.exit(1 if bad else 0)
PY

# Each run keeps its cfg, logs, final weights and result; the per-epoch checkpoints are gone.
runs=$out/sweep/runs
for d in "$runs"/*/; do
    for f in run.cfg train.log log.txt run.weights result.csv; do [ -s "$d$f" ] || fail "run $d has no $f"; done
    ls "$d" | grep -q '^run_[0-9]*\.weights$' && fail "run $d kept per-epoch weights"
done
# The cfgs are what the parameters say: the mixing point, the control, alpha and the seed.
convs_before_branch() { awk '/^\[branch\]/ { print n; exit } /^\[convolutional\]/ { ++n }' "$1"; }
at1=$(ls -d "$runs"/method-siamese_*_seed-1_at-1) at2=$(ls -d "$runs"/method-siamese_*_seed-1_at-2)
[ "$(convs_before_branch "$at1/run.cfg")" = 1 ] || fail "at=1: branch A should hold 1 conv stage"
[ "$(convs_before_branch "$at2/run.cfg")" = 2 ] || fail "at=2: branch A should hold 2 conv stages"
[ "$(convs_before_branch "$runs/method-siamese_alpha-0.4_per_class-10_seed-1/run.cfg")" = 3 ] || fail "default: 3 conv stages per branch"
grep -q '^alpha=0.4$' "$runs/method-siamese_alpha-0.4_per_class-10_seed-1/run.cfg" || fail "siamese alpha not set"
grep -q '^max_batches=5$' "$runs/method-siamese_alpha-0.4_per_class-10_seed-1/run.cfg" || fail "EXP_ITERS not applied"
c=$runs/method-control_per_class-10_seed-1/run.cfg
grep -q '^prob=0$' "$c" && grep -q '^pairing=self$' "$c" || fail "the control is not pairing=self prob=0"
m=$runs/method-manifold_alpha-2_per_class-50_seed-2/run.cfg
[ "$(grep -c '^alpha=2$' "$m")" = 3 ] || fail "manifold mixup: alpha=2 in all three [mixup] layers"
[ "$(grep '^seed=' "$m" | sort -u | wc -l)" = 3 ] || fail "manifold mixup: the three layers need distinct seeds"
grep -q '^alpha=0.4$' "$runs/method-cutmix_alpha-0.4_per_class-50_seed-1/run.cfg" || fail "cutmix alpha not set"
echo "ok   run folders and cfgs"

# The report: tables and valid PNGs.
md=$out/results.md
[ -s "$md" ] || fail "no results.md"
for row in '| baseline |' '| input mixup α=1 |' '| CutMix α=0.4 |' '| manifold mixup α=2 |' \
           '| Siamese Ensemble α=0.4 |' '| Siamese Ensemble α=1 |' '| two branches, no mixing (control) |' \
           '## Ensemble vs branches' '## Mixing point' '| stage 1 (' '| stage 2 (' '| stage 3 (' '## Every run'; do
    grep -qF -- "$row" "$md" || fail "results.md lacks '$row'"
done
grep -qE '^\| baseline \| (\*\*)?[0-9.]+ ± [0-9.]+(\*\*)? \| (\*\*)?[0-9.]+ ± [0-9.]+(\*\*)? \|$' "$md" || fail "baseline row is not mean ± std for 2 sizes"
for p in plots/accuracy_vs_alpha.png plots/accuracy_vs_size.png plots/loss_curves.png boundary.png; do
    info=$("$TOOLS/png_info" "$out/$p") || fail "$p is not a valid PNG"
    read -r _ w h _ <<< "$info"
    [ "$w" -ge 300 ] && [ "$h" -ge 200 ] || fail "$p is only ${w}x$h"
    grep -qF "]($p)" "$md" || fail "results.md does not show $p"
done
[ "$(grep -c '^[0-9]* [0-9.]*$' "$out/plots/loss_1.dat")" -ge 4 ] || fail "loss curve data has too few points"
[ "$(grep -cE 'train [0-9.]+%  test [0-9.]+%' "$out/boundary.txt")" = 4 ] || fail "boundary.txt lacks the 4 panels' accuracies"
echo "ok   report and PNGs"

# Resume: take one run's result away (as if it had been interrupted); the next invocation redoes
# that run only, and the finished ones keep their files untouched.
victim=$runs/method-mixup_alpha-1_per_class-10_seed-2
rm -f "$victim/result.csv" "$victim/done"
before=$(cd "$runs" && stat -c '%n %y' */result.csv | grep -v "^${victim##*/}/")
run_quick "$TMPDIR/second.log"
after=$(cd "$runs" && stat -c '%n %y' */result.csv | grep -v "^${victim##*/}/")
[ "$before" = "$after" ] || fail "finished runs were redone: $(diff <(echo "$before") <(echo "$after") | head -n 4)"
[ -s "$victim/result.csv" ] || fail "the interrupted run was not redone"
grep -qE '1 to run|1 pending' "$TMPDIR/second.log" || { grep -E 'to run|pending' "$TMPDIR/second.log"; fail "the second invocation did not run exactly 1 run"; }
grep -q 'already converted' "$TMPDIR/second.log" || fail "the second invocation converted the subsets again"
[ $(($(wc -l < "$csv") - 1)) = "$expected" ] || fail "results.csv changed its row count on resume"
echo "ok   resume redid 1 run and kept $((expected - 1))"

# The decision-boundary program: same seed, same figure; bad options stop it with a message.
"$SCRIPTS_BIN/boundary" --out "$TMPDIR/b1.png" --steps 100 --size 64 > "$TMPDIR/b1.txt" 2>/dev/null || fail "boundary exited $?"
"$SCRIPTS_BIN/boundary" --out "$TMPDIR/b2.png" --steps 100 --size 64 > "$TMPDIR/b2.txt" 2>/dev/null || fail "boundary exited $?"
cmp -s "$TMPDIR/b1.png" "$TMPDIR/b2.png" || fail "boundary: two runs with the same seed drew different figures"
for bad in "--set circles" "--points 3" "--alpha -1" "--out x.jpg" "--steps"; do
    out=$("$SCRIPTS_BIN/boundary" $bad 2>&1 >/dev/null); rc=$?
    { [ $rc = 1 ] || [ $rc = 2 ]; } && [ -n "$out" ] || fail "boundary $bad: expected a message and exit 1/2, got $rc"
    echo "ok   boundary $bad: exit $rc, $(echo "$out" | head -n 1)"
done
