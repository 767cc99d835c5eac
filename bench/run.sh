#!/bin/bash
# bench/run.sh: `make bench`. Training and validation speed and memory of this build against stock
# Darknet (Debian's source with the plugin hooks and correctness patches 0001-0014, none of the speed patches 0015-0019, Darknet's own gemm; built
# by `make bench` into build/stock/out/) and, where Debian's python3-torch is installed, PyTorch.
# Prints a report with the ratios and writes it to $BENCH_OUT/results.md and results.csv.
#
# 1. Synthetic training steps (bench/bench_train.c, bench/torch_train.py): no data loader, same
#    seeded weights in both Darknet builds. Each round runs every build of one cfg back to back,
#    in an order that rotates from round to round, so drift of a shared machine hits all alike;
#    figures are medians over the timed steps of all rounds, ratios are of medians of one run.
#    Peak memory: the process's maxrss. "Same results": the baseline cfgs' losses, step by step,
#    from stock and from this build (same seed, so the same weights and batches).
# 2. Per-layer shares of this build's step: DARKNET_PROFILE's table (patch 0016), by layer type.
# 3. The real `darknet classifier train` path (data loader, augmentation) on a Fashion-MNIST subset.
# 4. `darknet valid` one image at a time and with -batch N: time and top-1/top-k.
#
# Settings (environment): BENCH_ROUNDS [5]  BENCH_STEPS_SMALL [10] timed steps for the Fashion-MNIST
# cfgs  BENCH_STEPS_LARGE [4] for the CIFAR-sized ones  BENCH_WARMUP [2]  BENCH_TORCH [1] (0: skip
# PyTorch)  BENCH_REAL [1] (0: skip sections 3 and 4)  BENCH_OUT [build/bench]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
BUILD=${BUILD:-$root/build}
out=${BENCH_OUT:-$BUILD/bench}
rounds=${BENCH_ROUNDS:-5} warmup=${BENCH_WARMUP:-2}
steps_small=${BENCH_STEPS_SMALL:-10} steps_large=${BENCH_STEPS_LARGE:-4}
ours=$BUILD/bench/bench_train stock=$BUILD/stock/out/bench_train
darknet=$root/darknet stock_darknet=$BUILD/stock/out/darknet
t_start=$SECONDS
load_start=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' '/')
for f in "$ours" "$stock" "$darknet" "$stock_darknet"; do
    [ -x "$f" ] || { echo "bench: $f is missing; run make bench" >&2; exit 1; }
done
mkdir -p "$out"
raw=$out/raw.txt csv=$out/results.csv md=$out/results.md
: > "$raw"
echo "metric,cfg,build,value,unit" > "$csv"

torch=0
if [ "${BENCH_TORCH:-1}" = 1 ] && /usr/bin/python3 -c 'import torch' 2>/dev/null; then torch=1; fi

say() { printf '%s\n' "$*" >&2; }
# median: of the numbers on stdin (empty if none)
median() { sort -g | awk '{a[NR] = $1} END {if (NR) printf "%.4g", NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "" || b == "" || b == 0) print "n/a"; else printf "%.2f", a / b}'; }
csv_row() { echo "$1,$2,$3,$4,$5" >> "$csv"; }

# run_train BUILD CFG ROUND STEPS: one process, timed-step lines appended to raw as
# "CFG BUILD ROUND step I MS LOSS", plus its maxrss.
run_train() {
    local build=$1 cfg=$2 round=$3 nsteps=$4 lines
    case $build in
        ours)  lines=$("$ours" "cfg/$cfg.cfg" --warmup "$warmup" --steps "$nsteps" 2>/dev/null) ;;
        stock) lines=$("$stock" "cfg/$cfg.cfg" --warmup "$warmup" --steps "$nsteps" 2>/dev/null) ;;
        torch) lines=$(/usr/bin/python3 bench/torch_train.py "cfg/$cfg.cfg" --warmup "$warmup" --steps "$nsteps" --threads "$(nproc)") ;;
    esac
    echo "$lines" | awk -v p="$cfg $build $round" -v w="$warmup" '
        $1 == "step" { print p, "step", $2, $3, $4, ($2 > w ? "timed" : "warmup") }
        $1 == "maxrss_kb" || $1 == "threads" { print p, $1, $2 }' >> "$raw"
}
# steps CFG BUILD: the timed step times of all rounds
steps_of() { awk -v c="$1" -v b="$2" '$1 == c && $2 == b && $4 == "step" && $8 == "timed" {print $6}' "$raw"; }
maxrss_of() { awk -v c="$1" -v b="$2" '$1 == c && $2 == b && $4 == "maxrss_kb" {print $5 / 1024}' "$raw"; }
# best_round CFG BUILD: the smallest per-round median (the quietest moment of the machine)
best_round() {
    for r in $(seq 1 "$rounds"); do
        awk -v c="$1" -v b="$2" -v r="$r" '$1 == c && $2 == b && $3 == r && $4 == "step" && $8 == "timed" {print $6}' "$raw" | median
        echo
    done | grep . | sort -g | head -n 1
}

builds="stock ours"
[ $torch = 1 ] && builds="stock ours torch"
pairs="fashion-baseline:fashion-siamese cifar-small:cifar-small-siamese"
cfgs="fashion-baseline fashion-siamese cifar-small cifar-small-siamese"

say "== 1. training steps on synthetic data: $rounds rounds, $warmup warm-up steps + $steps_small (Fashion-MNIST cfgs) / $steps_large (CIFAR-sized cfgs) timed steps per process; builds: $builds"
# A round: for each pair (baseline, Siamese) and each build, both cfgs back to back; the order of
# builds and of the two cfgs rotates from round to round.
for r in $(seq 1 "$rounds"); do
    for pair in $pairs; do
        n=$steps_small; case $pair in cifar*) n=$steps_large ;; esac
        arr=($builds); k=$(( (r - 1) % ${#arr[@]} ))
        two=(${pair%%:*} ${pair##*:}); j=$(( (r - 1) % 2 ))
        for b in "${arr[@]:k}" "${arr[@]:0:k}"; do
            for cfg in "${two[@]:j}" "${two[@]:0:j}"; do run_train "$b" "$cfg" "$r" "$n"; done
        done
    done
    say "   round $r/$rounds done ($((SECONDS - t_start)) s)"
done

declare -A med rss best
for cfg in $cfgs; do
    for b in $builds; do
        med[$cfg,$b]=$(steps_of "$cfg" "$b" | median)
        rss[$cfg,$b]=$(maxrss_of "$cfg" "$b" | median)
        best[$cfg,$b]=$(best_round "$cfg" "$b")
        csv_row step_ms_median "$cfg" "$b" "${med[$cfg,$b]}" ms
        csv_row step_ms_best_round_median "$cfg" "$b" "${best[$cfg,$b]}" ms
        csv_row peak_rss_mib "$cfg" "$b" "${rss[$cfg,$b]}" MiB
    done
done

# Same results: losses of every step of round 1, stock vs ours, baseline cfgs (one-hot labels;
# stock reports a different loss under the Siamese cfgs' mixed labels, patch 0005).
same_results() {
    awk -v c="$1" '$1 == c && $3 == 1 && $4 == "step" { if ($2 == "stock") s[$5] = $7; if ($2 == "ours") o[$5] = $7 }
        END { m = 0; n = 0; for (i in s) if (i in o) { d = s[i] - o[i]; if (d < 0) d = -d; d /= (s[i] < 0 ? -s[i] : s[i]) + 1e-12; if (d > m) m = d; n++ }
              printf "%d %.2g", n, m }' "$raw"
}

say "== 2. per-layer profile of this build (DARKNET_PROFILE, patch 0016)"
declare -A share_plugin share_table
for cfg in $cfgs; do
    n=$steps_small; case $cfg in cifar*) n=$steps_large ;; esac
    prof=$("$ours" "cfg/$cfg.cfg" --warmup "$warmup" --steps 0 --profile "$n" 2>/dev/null | grep '^layer ')
    echo "$prof" | sed "s/^/$cfg ours profile /" >> "$raw"
    share_table[$cfg]=$(echo "$prof" | awk '{t[$3] += $4 + $5 + $6; all += $4 + $5 + $6}
        END {for (k in t) printf "%s %.2f\n", k, 100 * t[k] / all}' | sort -k2,2gr)
    share_plugin[$cfg]=$(echo "$prof" | awk '{all += $4 + $5 + $6} $3 == "branch" || $3 == "siamese" {p += $4 + $5 + $6}
        END {printf "%.3f", 100 * p / all}')
    while read -r type pct; do csv_row layer_share_pct "$cfg" "ours:$type" "$pct" '%'; done <<< "${share_table[$cfg]}"
done

real_rows=() valid_rows=()
if [ "${BENCH_REAL:-1}" = 1 ]; then
    say "== 3. the real classifier train path (data loader and augmentation) on a Fashion-MNIST subset"
    data=$out/data
    stamp="per_class=20 test_per_class=100 seed=1"
    if [ "$(cat "$data/.stamp" 2>/dev/null)" != "$stamp" ]; then
        rm -rf "$data"
        "$BUILD/tools/fmnist2darknet" --out "$data" --per-class 20 --test-per-class 100 --seed 1 >/dev/null
        echo "$stamp" > "$data/.stamp"
    fi
    real=$out/real
    rm -rf "$real"; mkdir -p "$real/backup"
    cat > "$real/fmnist.data" <<DATA
classes=10
train=$(cd "$data" && pwd)/train.list
valid=$(cd "$data" && pwd)/valid.list
labels=$(cd "$data" && pwd)/labels.list
backup=$real/backup
top=2
DATA
    iters=${BENCH_REAL_ITERS:-12}
    # classifier_train BIN CFG TAG: max_batches=$iters; per-iteration "seconds" (training) and
    # "Loaded" (waiting for the loader) lines to raw
    classifier_train() {
        local bin=$1 cfg=$2 tag=$3
        sed "s/^max_batches *=.*/max_batches=$iters/" "cfg/$cfg.cfg" > "$real/$cfg.cfg"
        (cd "$real" && "$bin" classifier train fmnist.data "$cfg.cfg" > "$tag.log" 2> "$tag.err") \
            || { tail -n 3 "$real/$tag.err" >&2; echo "bench: $tag: classifier train failed" >&2; exit 1; }
        awk -v p="$cfg $tag" '/^Loaded: / {w = $2} / seconds, / {n++; split($0, a, ", "); for (i in a) if (a[i] ~ / seconds$/) {split(a[i], b, " "); if (n > 2) print p, "real", n, b[1] * 1000, w * 1000}}' \
            "$real/$tag.log" >> "$raw"
    }
    # cifar-small (3 channels) on these grayscale images loads them as colour: stock runs it too
    # (stock cannot train channels=1 cfgs: patch 0006).
    for r in 1 2; do
        classifier_train "$stock_darknet" cifar-small stock-real
        classifier_train "$darknet" cifar-small ours-real
        classifier_train "$darknet" fashion-baseline ours-real
        classifier_train "$darknet" fashion-siamese ours-real
    done
    real_med() { awk -v c="$1" -v t="$2" -v k="$3" '$1 == c && $2 == t && $3 == "real" {print $(3 + k)}' "$raw" | median; }
    for spec in "cifar-small stock-real" "cifar-small ours-real" "fashion-baseline ours-real" "fashion-siamese ours-real"; do
        set -- $spec
        s=$(real_med "$1" "$2" 2) w=$(real_med "$1" "$2" 3)
        real_rows+=("| $1 | ${2%-real} | $s | $w |")
        csv_row real_train_step_ms_median "$1" "${2%-real}" "$s" ms
        csv_row real_loader_wait_ms_median "$1" "${2%-real}" "$w" ms
    done
    rt_ratio=$(div "$(real_med cifar-small stock-real 2)" "$(real_med cifar-small ours-real 2)")
    rt_siam=$(div "$(real_med fashion-siamese ours-real 2)" "$(real_med fashion-baseline ours-real 2)")

    say "== 4. darknet valid on $(wc -l < "$data/valid.list") images: one at a time vs -batch N"
    for cfg in fashion-baseline fashion-siamese cifar-small; do
        w=$real/backup/$cfg.weights
        [ -s "$w" ] || { echo "bench: no weights $w" >&2; exit 1; }
        vb=$(sed -n 's/^batch *= *//p' "cfg/$cfg.cfg")
        for r in 1 2 3; do
            for nb in 1 "$vb"; do
                # wall time of the whole command, and the forward passes' time (DARKNET_PROFILE)
                t0=$(date +%s.%N)
                (cd "$real" && DARKNET_PROFILE=1 "$darknet" valid fmnist.data "$cfg.cfg" "$w" -batch "$nb" \
                    > "valid-$cfg-$nb.log" 2> "valid-$cfg-$nb.err") || { echo "bench: valid $cfg -batch $nb failed" >&2; exit 1; }
                t1=$(date +%s.%N)
                fwd=$(awk '/ passes\):$/ {gsub(/[(]/, ""); p = $(NF - 1)} /^total .* ms per pass/ {t = $2} END {print p * t}' "$real/valid-$cfg-$nb.err")
                echo "$cfg valid-$nb $r valid $(awk -v a="$t0" -v b="$t1" 'BEGIN {print (b - a) * 1000}') $(grep 'top 1: ' "$real/valid-$cfg-$nb.log" | tail -n 1 | sed -E 's/.*top 1: ([0-9.]+), top [0-9]+: ([0-9.]+)/\1 \2/') $fwd" >> "$raw"
            done
        done
        v1=$(awk -v c="$cfg" '$1 == c && $2 == "valid-1" {print $5}' "$raw" | median)
        vn=$(awk -v c="$cfg" -v b="valid-$vb" '$1 == c && $2 == b {print $5}' "$raw" | median)
        f1=$(awk -v c="$cfg" '$1 == c && $2 == "valid-1" {print $8}' "$raw" | median)
        fn=$(awk -v c="$cfg" -v b="valid-$vb" '$1 == c && $2 == b {print $8}' "$raw" | median)
        acc1=$(awk -v c="$cfg" '$1 == c && $2 == "valid-1" {print $6 " " $7}' "$raw" | sort -u)
        accn=$(awk -v c="$cfg" -v b="valid-$vb" '$1 == c && $2 == b {print $6 " " $7}' "$raw" | sort -u)
        same=$([ "$acc1" = "$accn" ] && [ "$(echo "$acc1" | wc -l)" = 1 ] && echo yes || echo NO)
        valid_rows+=("| $cfg | $vb | $(echo "$acc1" | tr '\n' ' ')| $(echo "$accn" | tr '\n' ' ')| $same | $v1 / $f1 | $vn / $fn | $(div "$v1" "$vn") / $(div "$f1" "$fn") |")
        csv_row valid_wall_ms_median "$cfg" "batch1" "$v1" ms
        csv_row valid_wall_ms_median "$cfg" "batch$vb" "$vn" ms
        csv_row valid_forward_ms_median "$cfg" "batch1" "$f1" ms
        csv_row valid_forward_ms_median "$cfg" "batch$vb" "$fn" ms
        csv_row valid_same_top1_topk "$cfg" "batch1-vs-batch$vb" "$same" ""
    done
fi

# ---- report ---------------------------------------------------------------------------------------
{
    echo "# Benchmark: Siamese Ensembles for Darknet"
    echo
    echo "Machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo); load average (1/5/15 min) at the start $load_start, at the end $(cut -d' ' -f1-3 /proc/loadavg | tr ' ' '/');"
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(git rev-parse --short HEAD 2>/dev/null || echo '?') + working tree; $((SECONDS - t_start)) s."
    echo "Builds: **ours** = this build (all patches; gemm through OpenBLAS; $(awk '$2 == "ours" && $4 == "threads" {print $5; exit}' "$raw") threads: Darknet's pool, patch 0017);"
    echo "**stock** = Debian's darknet source + plugin hooks and correctness patches (0001-0014; none of the speed patches 0015-0019), Darknet's own gemm, one thread;"
    [ $torch = 1 ] && echo "**torch** = Debian's python3-torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'), $(nproc) threads, the same networks (bench/torch_train.py)."
    echo
    echo "## Training step (synthetic data, median of $rounds interleaved rounds)"
    echo
    echo "Median step time over all timed steps of all rounds; in brackets the median of the quietest round"
    echo "(the smallest per-round median: what the build does when the shared machine leaves it alone)."
    echo
    printf '| cfg | %s | peak RSS %s |\n' "$(for b in $builds; do printf '%s ms | ' "$b"; done | sed 's/ | $//')" "$(echo $builds | sed 's/ / \/ /g')"
    printf '|---|%s---|\n' "$(for b in $builds; do printf -- '---|'; done)"
    for cfg in $cfgs; do
        printf '| %s | %s | %s MiB |\n' "$cfg" "$(for b in $builds; do printf '%s (%s) | ' "${med[$cfg,$b]}" "${best[$cfg,$b]}"; done | sed 's/ | $//')" \
            "$(for b in $builds; do printf '%.0f / ' "${rss[$cfg,$b]}"; done | sed 's| / $||')"
    done
    echo
    echo "## Ratios (from this run)"
    echo
    echo "| ratio | value | target |"
    echo "|---|---|---|"
    for pair in $pairs; do
        base=${pair%%:*} siam=${pair##*:}
        r=$(div "${med[$base,stock]}" "${med[$base,ours]}")
        echo "| stock / ours, training step, $base | **$r x** | >= 3 |"; csv_row ratio_stock_over_ours "$base" "" "$r" x
        r=$(div "${med[$siam,stock]}" "${med[$siam,ours]}")
        echo "| stock / ours, training step, $siam | $r x | |"; csv_row ratio_stock_over_ours "$siam" "" "$r" x
        for b in $builds; do
            r=$(div "${med[$siam,$b]}" "${med[$base,$b]}")
            echo "| Siamese / baseline step, $b, $siam / $base | $( [ $b = ours ] && echo "**$r x**" || echo "$r x") | $( [ $b = ours ] && echo '<= 2.1' ) |"
            csv_row ratio_siamese_over_baseline_step "$siam" "$b" "$r" x
        done
        r=$(div "${rss[$siam,ours]}" "${rss[$base,ours]}")
        echo "| Siamese / baseline peak RSS, ours, $siam / $base | **$r x** | <= 2.1 |"; csv_row ratio_siamese_over_baseline_rss "$siam" ours "$r" x
        echo "| [branch] + [siamese] share of the Siamese step, ours, $siam | **${share_plugin[$siam]} %** | <= 1 % |"
        csv_row plugin_share_pct "$siam" ours "${share_plugin[$siam]}" '%'
        if [ $torch = 1 ]; then
            r=$(div "${med[$siam,ours]}" "${med[$siam,torch]}") rb=$(div "${best[$siam,ours]}" "${best[$siam,torch]}")
            echo "| ours / torch, Siamese step, $siam (quietest rounds) | **$r x** ($rb x) | <= 1.5 (reach) |"
            csv_row ratio_ours_over_torch "$siam" "" "$r" x; csv_row ratio_ours_over_torch_best_round "$siam" "" "$rb" x
            r=$(div "${med[$base,ours]}" "${med[$base,torch]}") rb=$(div "${best[$base,ours]}" "${best[$base,torch]}")
            echo "| ours / torch, baseline step, $base (quietest rounds) | $r x ($rb x) | |"
            csv_row ratio_ours_over_torch "$base" "" "$r" x; csv_row ratio_ours_over_torch_best_round "$base" "" "$rb" x
        fi
        set -- $(same_results "$base")
        echo "| same results, $base: largest relative loss difference stock vs ours over $1 steps | $2 | float rounding |"
        csv_row same_results_max_rel_loss_diff "$base" stock-vs-ours "$2" ""
    done
    if [ "${BENCH_REAL:-1}" = 1 ]; then
        echo "| stock / ours, real \`classifier train\` step, cifar-small | $rt_ratio x | |"
        echo "| Siamese / baseline, real \`classifier train\` step, fashion | $rt_siam x | |"
        csv_row ratio_stock_over_ours_real cifar-small "" "$rt_ratio" x
        csv_row ratio_siamese_over_baseline_real fashion-siamese ours "$rt_siam" x
    fi
    echo
    echo "## Time share of each layer type in this build's training step (per-layer profile)"
    echo
    for cfg in $cfgs; do
        echo "- $cfg: $(echo "${share_table[$cfg]}" | awk '{printf "%s%s %s%%", (NR > 1 ? ", " : ""), $1, $2}')"
    done
    if [ "${BENCH_REAL:-1}" = 1 ]; then
        echo
        echo "## Real \`darknet classifier train\` ($iters iterations, 2 runs, median of iterations 3+)"
        echo
        echo "Fashion-MNIST subset, 200 training images, Darknet's loader and augmentation; cifar-small reads the"
        echo "grayscale PNGs as colour (stock Darknet cannot train channels=1 cfgs)."
        echo
        echo "| cfg | build | training step ms | wait for the loader ms |"
        echo "|---|---|---|---|"
        printf '%s\n' "${real_rows[@]}"
        echo
        echo "## \`darknet valid\` on $(wc -l < "$data/valid.list") test images: one image per forward pass vs -batch N (3 runs each, median wall time)"
        echo
        echo "Weights: those of section 3 (12 iterations, so accuracy near chance: only sameness and time count here)."
        echo "Times: wall time of the command (process start and PNG loading included) / time in forward passes."
        echo
        echo "| cfg | N | top-1 top-2, one at a time | top-1 top-2, -batch N | same | one at a time ms | -batch N ms | speed-up |"
        echo "|---|---|---|---|---|---|---|---|"
        printf '%s\n' "${valid_rows[@]}"
    fi
    echo
    echo "Raw data: raw.txt; CSV: results.csv (this folder). Machine load from other work shifts single figures;"
    echo "the interleaved rounds make the ratios fair, not the absolute times exact. PyTorch (OpenMP, whose"
    echo "threads busy-wait) slows down far more than Darknet when another process takes a core (steps of"
    echo "15 ms become 400 ms): on a shared machine compare the quietest-round figures for it."
} > "$md"
cat "$md"
say "bench: $((SECONDS - t_start)) s; report in $md, $csv"
