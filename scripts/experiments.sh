#!/bin/bash
# experiments.sh: the paper's evidence on Fashion-MNIST (`make experiments`; `make experiments QUICK=1`).
#
#  1. converts the balanced, seeded training subsets the grid names (per_class = ...) once, with
#     the test images, into OUT/data/pc<N>/ (shared by every run; scripts/lib.sh fmnist_subset);
#  2. runs the grid (cfg/experiments.grid; QUICK=1: cfg/experiments-quick.grid) with
#     scripts/sweep.py into OUT/sweep/: one folder per run with its cfg, logs, weights and
#     result.csv (scripts/exp-run.sh), up to EXP_JOBS runs at a time; a finished run is never redone,
#     so after an interruption the same command carries on where it stopped;
#  3. picks the best Siamese alpha on the mixing-point subset (mixpoint_size in the grid: the
#     highest mean top-1 over seeds) and adds runs whose branches meet after backbone stage 1 and 2
#     (stage 3, after the last stage, is the alpha sweep's own run), same seeds;
#  4. collects OUT/sweep/results.csv and writes the report (scripts/exp-report.py): OUT/results.md
#     (tables: mean +- std per method and subset size, ensemble vs branches, mixing point, every
#     run) and OUT/plots/*.png drawn by gnuplot (accuracy vs alpha, accuracy vs subset size, loss
#     curves from the training logs);
#  5. draws the decision boundaries of a baseline and a Siamese Ensemble on two spirals
#     (build/tools/boundary) into OUT/boundary.png.
#
# Settings (environment), defaults in brackets:
#   QUICK=1             the small grid (cfg/experiments-quick.grid), 1,000 test images  [0]
#   EXP_OUT             run folder       [results/experiments; QUICK: results/experiments-quick]
#   EXP_GRID            grid file        [cfg/experiments.grid; QUICK: cfg/experiments-quick.grid]
#   EXP_JOBS            runs at a time (sweep.py --jobs)                            [CPUs]
#   EXP_EXECUTOR        local | slurm (sweep.py --executor)                         [local]
#   EXP_ITERS           training batches of every run, overriding the grid's iters  [the grid's]
#   EXP_TEST_PER_CLASS  test images per class, 0 = all 1,000                        [0; QUICK: 100]
#   EXP_DATA_SEED       seeds the choice of the training subsets                    [1]
#   EXP_BOUNDARY_STEPS  training steps of the decision-boundary networks            [3000]
#   FMNIST_SRC          the idx .gz files           [/usr/share/datasets/fashion-mnist]
#   EXP_COMMAND         how results.md names the command that made it  [make experiments (QUICK=1)]
# Run through `make experiments`, which builds ./darknet and the tools and installs gnuplot and
# dataset-fashion-mnist first.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
die() { echo "experiments: $*" >&2; exit 1; }
say() { printf '\n== %s\n' "$*"; }

quick=${QUICK:-0}
if [ "$quick" = 1 ]; then
    out=${EXP_OUT:-results/experiments-quick} grid_src=${EXP_GRID:-cfg/experiments-quick.grid}
    test_per_class=${EXP_TEST_PER_CLASS:-100}
else
    out=${EXP_OUT:-results/experiments} grid_src=${EXP_GRID:-cfg/experiments.grid}
    test_per_class=${EXP_TEST_PER_CLASS:-0}
fi
jobs=${EXP_JOBS:-$(nproc)}
boundary_steps=${EXP_BOUNDARY_STEPS:-3000}
executor=${EXP_EXECUTOR:-local}
data_seed=${EXP_DATA_SEED:-1}
src=${FMNIST_SRC:-/usr/share/datasets/fashion-mnist}
tools=${BUILD:-$PWD/build}/tools
export BUILD=${BUILD:-$PWD/build}
t_start=$SECONDS

[ -x ./darknet ] || die "no ./darknet: run \`make experiments\` (it builds everything first)"
for t in fmnist2darknet se-convert boundary; do
    [ -x "$tools/$t" ] || die "no $tools/$t: run \`make experiments\` (it builds the tools first)"
done
command -v gnuplot >/dev/null || die "gnuplot is missing: scripts/deps.sh ensure gnuplot-nox (make experiments does)"
[ -r "$grid_src" ] || die "cannot read the grid file '$grid_src'"
[[ $jobs =~ ^[1-9][0-9]*$ ]] || die "EXP_JOBS=$jobs: must be a positive integer"
[ -z "${EXP_ITERS:-}" ] || [[ $EXP_ITERS =~ ^[1-9][0-9]*$ ]] || die "EXP_ITERS=$EXP_ITERS: must be a positive integer"

mkdir -p "$out"
# The grid as run: the shipped one with EXP_ITERS applied. sweep.py refuses a folder whose settings
# changed (finished runs would mix both), so another EXP_ITERS needs another EXP_OUT.
grid=$out/grid.txt
if [ -n "${EXP_ITERS:-}" ]; then
    grep -q '^iters *=' "$grid_src" || die "$grid_src has no top-level 'iters = N' for EXP_ITERS to replace"
    sed -E "s/^iters *=.*/iters = $EXP_ITERS/" "$grid_src" > "$grid.new"
else
    cp "$grid_src" "$grid.new"
fi
mv "$grid.new" "$grid"
# grid_values KEY: every value of KEY in the grid (top level and [runs] lines), one a line, unique
grid_values() {
    sed -e 's/#.*//' "$grid" | awk -F= -v k="$1" '{ key = $1; gsub(/[ \t]/, "", key) }
        key == k { n = split($2, v, /[ \t]+/); for (i = 1; i <= n; ++i) if (v[i] != "") print v[i] }' | sort -nu
}
sizes=$(grid_values per_class)
mixpoint_size=$(grid_values mixpoint_size)
[ -n "$sizes" ] || die "$grid_src: no per_class = ... values"
[ "$(echo "$mixpoint_size" | wc -w)" -le 1 ] || die "$grid_src: mixpoint_size takes one value"
[ -z "$mixpoint_size" ] || echo "$sizes" | grep -qx "$mixpoint_size" \
    || die "$grid_src: mixpoint_size = $mixpoint_size is not one of the per_class values ($(echo $sizes))"

say "data: Fashion-MNIST subsets of $(echo $sizes | sed 's/ /, /g') images per class (seed $data_seed), test images per class: ${test_per_class/#0/all}"
mkdir -p "$out/data"
for n in $sizes; do
    fmnist_subset "$out/data/pc$n" "$n" "$data_seed" "$test_per_class" "$src" "$tools" | tail -n 1
done
EXP_DATA=$(cd "$out/data" && pwd)
export EXP_DATA

sweep_dir=$out/sweep
sweep() {
    python3 scripts/sweep.py run "$1" --out "$sweep_dir" --executor "$executor" --jobs "$jobs" --resubmit-failed \
        || die "some runs did not finish: python3 scripts/sweep.py status --out $sweep_dir; run the same command again to carry on"
}
say "runs: $(python3 scripts/sweep.py list "$grid" | wc -l) in $sweep_dir ($jobs at a time, $executor)"
sweep "$grid"
python3 scripts/sweep.py collect --out "$sweep_dir"

if [ -n "$mixpoint_size" ]; then
    best=$(python3 scripts/exp-report.py best-alpha "$sweep_dir/results.csv" "$mixpoint_size")
    seeds=$(python3 scripts/exp-report.py seeds "$sweep_dir/results.csv" "$mixpoint_size")
    say "mixing point: Siamese Ensembles with alpha $best (the best on $mixpoint_size per class), branches meeting after stage 1 and 2"
    { cat "$grid"
      printf '\n# added by scripts/experiments.sh: the mixing point, for the best alpha on %s per class\n' "$mixpoint_size"
      printf '[runs]\nmethod = siamese\nalpha = %s\nper_class = %s\nseed = %s\nat = 1 2\n' "$best" "$mixpoint_size" "$seeds"
    } > "$out/grid-mixpoint.txt"
    sweep "$out/grid-mixpoint.txt"
    python3 scripts/sweep.py collect --out "$sweep_dir"
fi

say "decision boundaries on two spirals ($boundary_steps steps)"
"$tools/boundary" --out "$out/boundary.png" --steps "$boundary_steps" --seed 1 2> "$out/boundary.err" | tee "$out/boundary.txt" \
    || { tail -n 5 "$out/boundary.err" >&2; die "the decision-boundary program failed (log: $out/boundary.err)"; }

say "report"
python3 scripts/exp-report.py report "$out" --command "${EXP_COMMAND:-make experiments$([ "$quick" = 1 ] && echo " QUICK=1")}" \
    --seconds $((SECONDS - t_start))
say "done in $((SECONDS - t_start)) s: $out/results.md, $out/plots/, $out/boundary.png"
