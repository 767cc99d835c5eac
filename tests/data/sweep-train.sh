#!/bin/bash
# sweep-train.sh: the tiny training run of the sweep tests, a `command` for scripts/sweep.py.
# Trains tests/data/tiny-baseline.cfg with `darknet classifier train` for a few iterations from fixed
# initial weights, validates it with `darknet classifier valid` and writes RUN_DIR/result.csv:
#   loss,top1,weights_md5     (the last average loss, top-1 on the validation list, md5 of the weights)
# Environment (from sweep.py): RUN_DIR, RUN_ID, SWEEP_DIR, THREADS, and the grid's settings:
#   P_DATA        a folder written by tests/tools/make_dataset (train.list, valid.list, labels.list)
#   P_INIT        initial weights for tiny-baseline.cfg (every run starts from them)
#   P_ITERATIONS  training batches;  P_LR  learning rate;  P_SEED  the run's seed
#   P_STALL, P_STALL_RUN  (optional) while the file P_STALL exists, run P_STALL_RUN waits before
#                 training: the tests use it to kill a run in the middle
#   DARKNET       the darknet binary (default ./darknet)
# Every start appends RUN_ID to $SWEEP_DIR/starts.log, so that a test can count reruns.
set -euo pipefail
DARKNET=${DARKNET:-$PWD/darknet}
echo "$RUN_ID" >> "$SWEEP_DIR/starts.log"
if [ -n "${P_STALL:-}" ] && [ "$RUN_ID" = "${P_STALL_RUN:-}" ]; then
    while [ -e "$P_STALL" ]; do sleep 0.2; done
fi

# Determinism: -seed P_SEED (patch 0020) seeds the loader's choices and every draw of training, so
# the local and the Slurm executor give byte-identical weights for the same run.
cp "$P_DATA/train.list" "$RUN_DIR/train.list"; seed_args=(-seed "$P_SEED")
[ -s "$RUN_DIR/train.list" ] || { echo "sweep-train.sh: no training image for seed $P_SEED" >&2; exit 1; }

# flip=0 and the cfg's fixed crop leave no random augmentation.
sed -e "s/^learning_rate=.*/learning_rate=$P_LR/" -e "s/^max_batches=.*/max_batches=$P_ITERATIONS/" \
    -e '/^\[net\]/a flip=0' tests/data/tiny-baseline.cfg > "$RUN_DIR/tiny.cfg"
mkdir -p "$RUN_DIR/backup"
printf 'classes=3\ntrain=%s\nvalid=%s\nlabels=%s\nbackup=%s\ntop=2\n' "$RUN_DIR/train.list" \
    "$P_DATA/valid.list" "$P_DATA/labels.list" "$RUN_DIR/backup" > "$RUN_DIR/run.data"

"$DARKNET" classifier train "$RUN_DIR/run.data" "$RUN_DIR/tiny.cfg" "$P_INIT" -clear "${seed_args[@]}" \
    > "$RUN_DIR/train.log" 2>&1
"$DARKNET" classifier valid "$RUN_DIR/run.data" "$RUN_DIR/tiny.cfg" "$RUN_DIR/backup/tiny.weights" \
    > "$RUN_DIR/valid.log" 2>&1

loss=$(grep -oE '[0-9]+, [0-9.]+: [0-9.naif-]+, [0-9.naif-]+ avg' "$RUN_DIR/train.log" | tail -n 1 |
       sed -E 's/.*, ([0-9.naif-]+) avg/\1/')
top1=$(grep -E 'top 1: ' "$RUN_DIR/valid.log" | tail -n 1 | sed -E 's/.*top 1: ([0-9.]+),.*/\1/')
[ -n "$loss" ] && [ -n "$top1" ] || { echo "sweep-train.sh: no loss or top-1 in the logs" >&2; exit 1; }
md5=$(md5sum < "$RUN_DIR/backup/tiny.weights" | cut -d' ' -f1)
printf 'loss,top1,weights_md5\n%s,%s,%s\n' "$loss" "$top1" "$md5" > "$RUN_DIR/result.csv"
