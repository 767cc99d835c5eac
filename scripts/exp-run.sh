#!/bin/bash
# exp-run.sh: one run of the experiments grid (scripts/experiments.sh, cfg/experiments.grid), as
# scripts/sweep.py starts it: cwd = the repository root, parameters in the environment. It writes
# the run's cfg, trains it with `darknet classifier train` (seeded), evaluates it on the subset's
# test images with `darknet valid -batch 64` (a Siamese Ensemble also with each branch alone,
# SIAMESE_TEST_LAMBDA=1 and 0) and, last, RUN_DIR/result.csv. A run interrupted before that file
# exists starts again from scratch when the runner restarts it (a resumed Darknet run would not
# repeat the seeded run's loader and momentum), so every finished result comes from one clean run.
#
# Environment (sweep.py sets these):
#   RUN_DIR       the run's folder (exists)          THREADS  CPU threads for it [1]
#   P_METHOD      baseline | mixup | cutmix | manifold | siamese | control
#                 (control: the two-branch ensemble without mixing, [siamese] pairing=self prob=0,
#                 i.e. both branches see the same image and are averaged with the fixed
#                 lambda = test_lambda = 0.5, labels untouched)
#   P_ALPHA       alpha of the mixing layer(s) (ignored by baseline and control)
#   P_PER_CLASS   training images per class: the subset P_DATA/pcN (made by experiments.sh)
#   P_SEED        the run's seed: darknet -seed (when this build has it) and the mixing layers' seed=
#   P_AT          siamese/control only: the backbone stage after which the branches meet, 1 | 2 | 3
#                 [3 = after the last stage, the pooled features: se-convert's default]
#   P_ITERS       training batches (max_batches) [as in the template cfg]
#   EXP_DATA      folder of the converted subsets pc<N>/ (experiments.sh exports it; grid values
#                 cannot hold paths) [SWEEP_DIR/../data, where experiments.sh puts them]
#   BUILD         build folder [./build]
#
# Files in RUN_DIR: run.cfg, run.data, train.log (Darknet's training output), train.err,
# valid*.log, run.weights (the final weights; the per-epoch checkpoints are removed), result.csv:
#   top1,top2,top1_branch_a,top1_branch_b,train_seconds,cpu_seconds,final_loss,train_images,test_images,run_seconds
# (branch columns empty for single networks).
set -euo pipefail
. scripts/lib.sh
die() { echo "exp-run: $*" >&2; exit 1; }

: "${RUN_DIR:?exp-run: RUN_DIR is not set (run through scripts/sweep.py)}"
method=${P_METHOD:?exp-run: P_METHOD is not set}
per_class=${P_PER_CLASS:?exp-run: P_PER_CLASS is not set}
data_root=${EXP_DATA:-${SWEEP_DIR:-.}/../data}
alpha=${P_ALPHA:-}
seed=${P_SEED:-1}
at=${P_AT:-3}
iters=${P_ITERS:-0}
threads=${THREADS:-1}
tools=${BUILD:-$PWD/build}/tools
darknet=$PWD/darknet
subset=$data_root/pc$per_class

[[ $seed =~ ^[0-9]+$ ]] || die "P_SEED=$seed: must be a non-negative integer"
[[ $iters =~ ^[0-9]+$ ]] || die "P_ITERS=$iters: must be a non-negative integer"
[ -s "$subset/train.list" ] || die "no subset '$subset' (EXP_DATA=$data_root, P_PER_CLASS=$per_class): scripts/experiments.sh converts it first"
case $method in
    baseline|control) ;;
    mixup|cutmix|manifold|siamese)
        [[ $alpha =~ ^[0-9]*\.?[0-9]+$ ]] || die "P_ALPHA='$alpha': method $method needs a positive number" ;;
    *) die "P_METHOD=$method: must be one of baseline mixup cutmix manifold siamese control" ;;
esac
# Stages of cfg/fashion-baseline.cfg end after layers 1 (maxpool), 3 (maxpool) and 5 (avgpool):
# se-convert's --at names the first layer after the mixing point.
case $at in
    1) at_layer=2 ;;
    2) at_layer=4 ;;
    3) at_layer=6 ;;
    *) die "P_AT=$at: must be 1, 2 or 3 (the backbone stage after which the branches meet)" ;;
esac
[ "$at" = 3 ] || [ "$method" = siamese ] || [ "$method" = control ] \
    || die "P_AT=$at: only two-branch methods (siamese, control) have a mixing point, not $method"

cd "$RUN_DIR"
run_dir=$PWD
cd - >/dev/null
rm -f "$run_dir/result.csv" "$run_dir"/run*.weights "$run_dir"/run.backup
cfg=$run_dir/run.cfg

# The run's cfg, from the demo's backbone and its mixup/cutmix/manifold versions.
tmp_cfg=$run_dir/template.cfg
case $method in
    baseline) set_max_batches cfg/fashion-baseline.cfg "$cfg" "$iters" ;;
    mixup|cutmix|manifold)
        set_max_batches "cfg/fashion-$method.cfg" "$tmp_cfg" "$iters"
        # every mixing layer gets alpha=ALPHA; seeds become seed*100 + the template's (1, 2, 3)
        awk -v a="$alpha" -v s="$seed" '/^alpha=/ { print "alpha=" a; next }
             /^seed=/ { split($0, kv, "="); print "seed=" s * 100 + kv[2]; next } { print }' "$tmp_cfg" > "$cfg"
        rm -f "$tmp_cfg"
        [ "$(grep -c '^alpha=' "$cfg")" -ge 1 ] || die "cfg/fashion-$method.cfg has no alpha= to set" ;;
    siamese|control)
        args=(--at "$at_layer" --seed "$((seed * 100 + 1))")
        [ "$iters" = 0 ] || args+=(--net "max_batches=$iters")
        if [ "$method" = siamese ]; then args+=(--alpha "$alpha"); else args+=(--pairing self); fi
        "$tools/se-convert" cfg cfg/fashion-baseline.cfg "$tmp_cfg" "${args[@]}"
        if [ "$method" = control ]; then
            # prob=0: no batch is mixed; each is combined with test_lambda (0.5), as at inference
            awk '{ print } /^\[siamese\]$/ { print "prob=0" }' "$tmp_cfg" > "$cfg"
            grep -q '^prob=0$' "$cfg" || die "se-convert wrote no [siamese] section"
            rm -f "$tmp_cfg"
        else
            mv "$tmp_cfg" "$cfg"
        fi ;;
esac
write_data_file "$run_dir/run.data" "$subset" "$run_dir"

echo "exp-run: $method alpha=${alpha:--} per_class=$per_class seed=$seed at=$at iters=$iters threads=$threads"
TIMEFORMAT='%R %U %S'
export DARKNET_THREADS=$threads
# -seed N seeds Darknet's initialisation, loader and the mixing layers' draws (patch 0020).
{ time "$darknet" classifier train "$run_dir/run.data" "$cfg" -seed "$seed" \
      > "$run_dir/train.log" 2> "$run_dir/train.err"; } 2> "$run_dir/train.time" \
    || { tail -n 5 "$run_dir/train.err" >&2; die "training failed (log: $run_dir/train.err)"; }
read -r train_s user_s sys_s < "$run_dir/train.time"
[ -s "$run_dir/run.weights" ] || die "training wrote no $run_dir/run.weights"
rm -f "$run_dir"/run_*.weights "$run_dir/run.backup"

# evaluate NAME [LAMBDA]: darknet valid on the test list; prints "top1 top2".
evaluate() {
    local log=$run_dir/valid$1.log
    SIAMESE_TEST_LAMBDA=${2:-} "$darknet" valid "$run_dir/run.data" "$cfg" "$run_dir/run.weights" -batch 64 \
        > "$log" 2> "$run_dir/valid$1.err" || { tail -n 5 "$run_dir/valid$1.err" >&2; die "evaluation$1 failed"; }
    local t1 t2
    t1=$(valid_top "$log" 1) t2=$(valid_top "$log" 2)
    [ -n "$t1" ] && [ -n "$t2" ] || die "no top-1/top-2 in $log"
    echo "$t1 $t2"
}
read -r top1 top2 < <(evaluate "")
top1_a= top1_b=
if [ "$method" = siamese ] || [ "$method" = control ]; then
    read -r top1_a _ < <(evaluate -branch-a 1)
    read -r top1_b _ < <(evaluate -branch-b 0)
fi
loss=$(last_avg_loss "$run_dir/train.log")
[ -n "$loss" ] || die "no training loss in $run_dir/train.log"
cpu_s=$(awk -v u="$user_s" -v s="$sys_s" 'BEGIN { printf "%.2f", u + s }')
n_train=$(wc -l < "$subset/train.list")
n_test=$(wc -l < "$subset/valid.list")

echo "exp-run: top-1 $top1${top1_a:+ (branch A $top1_a, branch B $top1_b)}, training $train_s s (cpu $cpu_s s), final avg loss $loss"
# Last, and atomically: the runner takes a run with result.csv as finished.
{
    echo "top1,top2,top1_branch_a,top1_branch_b,train_seconds,cpu_seconds,final_loss,train_images,test_images,run_seconds"
    echo "$top1,$top2,$top1_a,$top1_b,$train_s,$cpu_s,$loss,$n_train,$n_test,$SECONDS"
} > "$run_dir/result.csv.tmp"
mv "$run_dir/result.csv.tmp" "$run_dir/result.csv"
