#!/bin/bash
# demo.sh: the main job. Trains a baseline and a Siamese Ensemble of the same backbone on a small,
# balanced Fashion-MNIST subset, evaluates both (and each Siamese branch alone) on the 10,000 test
# images with `darknet valid`, and prints a table (also saved as results.md in the run folder).
# Run it through `make demo`, which builds ./darknet and the converters first. (stdbuf -oL: Darknet
# writes its progress through a pipe here, which stdio would otherwise buffer in 4 KiB chunks.)
#
# Settings (environment), defaults in brackets:
#   DEMO_PER_CLASS  training images per class [100]      DEMO_SEED  subset choice [1]
#   DEMO_TEST_PER_CLASS  test images per class, 0 = all 1,000 [0]
#   DEMO_ITERS      override max_batches of both cfgs (0 = as in the cfg) [0]
#   DEMO_OUT        run folder [results/demo]      DEMO_DATA  converted data [data/fashion-mnist]
#   FMNIST_SRC      the idx .gz files [/usr/share/datasets/fashion-mnist]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
per_class=${DEMO_PER_CLASS:-100}
seed=${DEMO_SEED:-1}
test_per_class=${DEMO_TEST_PER_CLASS:-0}
iters=${DEMO_ITERS:-0}
out=${DEMO_OUT:-results/demo}
data=${DEMO_DATA:-data/fashion-mnist}
src=${FMNIST_SRC:-/usr/share/datasets/fashion-mnist}
tools=${BUILD:-$PWD/build}/tools
darknet=$PWD/darknet
t_start=$SECONDS

say() { printf '\n== %s\n' "$*"; }

say "data: Fashion-MNIST, $per_class training images per class (seed $seed), test set: ${test_per_class/#0/all}"
fmnist_subset "$data" "$per_class" "$seed" "$test_per_class" "$src" "$tools"
n_train=$(wc -l < "$data/train.list")
n_test=$(wc -l < "$data/valid.list")

mkdir -p "$out"
out=$(cd "$out" && pwd)
write_data_file "$out/fashion.data" "$data" "$out"

# The run's own copies of the cfgs (with DEMO_ITERS applied), so results.md says what ran.
for name in baseline siamese; do
    set_max_batches "cfg/fashion-$name.cfg" "$out/fashion-$name.cfg" "$iters"
done

# train NAME: classifier train with progress every 100 iterations; sets train_seconds[NAME].
declare -A train_seconds top1 top2
train() {
    local name=$1 cfg=$out/fashion-$1.cfg t0=$SECONDS max
    max=$(sed -n 's/^max_batches=//p' "$cfg")
    say "training $name: $max batches of $(sed -n 's/^batch=//p' "$cfg") images (log: $out/$name-train.log)"
    rm -f "$out/fashion-$name.weights"
    stdbuf -oL "$darknet" classifier train "$out/fashion.data" "$cfg" 2> "$out/$name-train.err" | tee "$out/$name-train.log" \
        | awk -v max="$max" '/ avg, / { split($0, a, ","); it = a[1] + 0
                                        if (it % 100 == 0 || it == max) { printf "  %s\n", $0; fflush() } }'
    [ "${PIPESTATUS[0]}" = 0 ] || { tail -n 5 "$out/$name-train.err" >&2; echo "demo: training $name failed" >&2; exit 1; }
    [ -s "$out/fashion-$name.weights" ] || { echo "demo: no weights from training $name" >&2; exit 1; }
    train_seconds[$name]=$((SECONDS - t0))
}

# evaluate ROW CFG [SIAMESE_TEST_LAMBDA]: darknet valid on the test set; sets top1/top2[ROW].
evaluate() {
    local row=$1 name=$2 lambda=${3:-} log=$out/$1-valid.log
    say "evaluating $row on $n_test test images${lambda:+ (SIAMESE_TEST_LAMBDA=$lambda)}"
    SIAMESE_TEST_LAMBDA=$lambda stdbuf -oL "$darknet" valid "$out/fashion.data" "$out/fashion-$name.cfg" "$out/fashion-$name.weights" \
        2> "$out/$row-valid.err" | tee "$log" \
        | awk -v n="$n_test" '/top 1: / { split($0, a, ":"); i = a[1] + 1
                                        if (i % 2000 == 0 || i == n) { printf "  %d/%d %s\n", i, n, $0; fflush() } }'
    [ "${PIPESTATUS[0]}" = 0 ] || { tail -n 5 "$out/$row-valid.err" >&2; echo "demo: evaluating $row failed" >&2; exit 1; }
    top1[$row]=$(valid_top "$log" 1)
    top2[$row]=$(valid_top "$log" 2)
}

train baseline
train siamese
evaluate baseline baseline
evaluate siamese siamese
evaluate "siamese-branch-A" siamese 1
evaluate "siamese-branch-B" siamese 0

pct() { awk -v x="$1" 'BEGIN { printf "%.2f%%", 100 * x }'; }
{
    echo "# Fashion-MNIST demo: baseline vs Siamese Ensemble"
    echo
    echo "Training subset: $n_train images ($per_class per class, seed $seed); test: $n_test images."
    echo "Machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1); $(date -u '+%Y-%m-%d %H:%M UTC')."
    echo
    echo "| model | top-1 | top-2 | training images | training seconds |"
    echo "|---|---|---|---|---|"
    echo "| baseline (cfg/fashion-baseline.cfg) | $(pct "${top1[baseline]}") | $(pct "${top2[baseline]}") | $n_train | ${train_seconds[baseline]} |"
    echo "| Siamese Ensemble (cfg/fashion-siamese.cfg) | $(pct "${top1[siamese]}") | $(pct "${top2[siamese]}") | $n_train | ${train_seconds[siamese]} |"
    echo "| its branch A alone (test_lambda=1) | $(pct "${top1[siamese-branch-A]}") | $(pct "${top2[siamese-branch-A]}") | $n_train | (same run) |"
    echo "| its branch B alone (test_lambda=0) | $(pct "${top1[siamese-branch-B]}") | $(pct "${top2[siamese-branch-B]}") | $n_train | (same run) |"
    echo
    echo "Weights: $out/fashion-baseline.weights, $out/fashion-siamese.weights"
    echo "One training run of each model. Darknet seeds its weight initialisation and data loader from"
    echo "the clock, so a repeated run gives somewhat different figures; compare rows with that in mind."
} > "$out/results.md"
say "results (also in $out/results.md), $((SECONDS - t_start)) s in all"
cat "$out/results.md"
