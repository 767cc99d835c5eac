# scripts/lib.sh: shell functions that demo.sh, experiments.sh and exp-run.sh share (sourced, bash).
# Each function stops the calling script with a message on failure (they run under set -e).

# fmnist_subset DIR PER_CLASS SEED TEST_PER_CLASS SRC TOOLS: a balanced, seeded Fashion-MNIST subset
# in DIR (build/tools/fmnist2darknet), converted once: a stamp file says which subset DIR holds, so
# another call with the same settings reuses it and one with other settings converts again.
# TEST_PER_CLASS 0 = all 10,000 test images. DIR is written into the lists as spelled (see
# fmnist2darknet: relative paths are relative to the repository root, where darknet runs).
fmnist_subset() {
    local dir=$1 per_class=$2 seed=$3 test_per_class=$4 src=$5 tools=$6
    local stamp="per_class=$per_class seed=$seed test_per_class=$test_per_class src=$src"
    if [ "$(cat "$dir/.subset-stamp" 2>/dev/null)" = "$stamp" ]; then
        echo "using $dir (already converted with these settings)"
        return 0
    fi
    rm -rf "$dir"
    local args=(--src "$src" --out "$dir" --per-class "$per_class" --seed "$seed")
    [ "$test_per_class" = 0 ] || args+=(--test-per-class "$test_per_class")
    "$tools/fmnist2darknet" "${args[@]}"
    echo "$stamp" > "$dir/.subset-stamp"
}

# write_data_file FILE DATA_DIR BACKUP: a Darknet .data file for the converted set in DATA_DIR, its
# checkpoints going to BACKUP. The .data file names the lists absolutely, so it works from anywhere.
write_data_file() {
    local file=$1 data_abs backup_abs
    data_abs=$(cd "$2" && pwd)
    mkdir -p "$3"
    backup_abs=$(cd "$3" && pwd)
    cat > "$file" <<DATA
classes=10
train=$data_abs/train.list
valid=$data_abs/valid.list
labels=$data_abs/labels.list
backup=$backup_abs
top=2
DATA
}

# set_max_batches SRC DST ITERS: copy a cfg, with [net] max_batches=ITERS unless ITERS is 0.
set_max_batches() {
    if [ "$3" != 0 ]; then
        sed "s/^max_batches=.*/max_batches=$3/" "$1" > "$2"
    else
        cp "$1" "$2"
    fi
}

# valid_top LOG 1|2: the final top-1 (or top-2) accuracy that `darknet valid` printed in LOG.
valid_top() {
    grep -E 'top 1: ' "$1" | tail -n 1 | sed -E "s/.*top $2: ([0-9.]+).*/\\1/"
}

# last_avg_loss LOG: the running average loss on the last training line Darknet printed
# ("N, epoch: loss, AVG avg, rate rate, s seconds, n images").
last_avg_loss() {
    grep -oE '^[0-9]+, [0-9.]+: [0-9.naif-]+, [0-9.naif-]+ avg' "$1" | tail -n 1 | sed -E 's/.*, ([0-9.naif-]+) avg/\1/'
}
