# scripts/sweep.py without Slurm: grid errors name file:line, expansion and run ids, the local
# executor's environment, parallel runs, resume (a done run is never redone), failed runs listed with
# their logs and rerun only with --resubmit-failed, Ctrl-C leaves a run pending, collect's CSV, and
# the batch script the slurm executor would submit (--dry-run).
source tests/lib.sh
command -v python3 >/dev/null || skip "python3 not found (scripts/deps.sh ensure python3)"
SW=(python3 scripts/sweep.py)
T=$TMPDIR

# expect_grid_error NAME PATTERN: `sweep.py list $T/NAME.grid` must exit 2 with PATTERN in its message.
expect_grid_error() {
    local name=$1 pattern=$2 rc
    "${SW[@]}" list "$T/$name.grid" > "$T/$name.out" 2>&1; rc=$?
    [ $rc = 2 ] || { cat "$T/$name.out" >&2; fail "$name: expected exit status 2, got $rc"; }
    grep -Eq -- "$pattern" "$T/$name.out" || { cat "$T/$name.out" >&2; fail "$name: message does not match /$pattern/"; }
    echo "ok   $name: $(head -n 1 "$T/$name.out")"
}
g() { cat > "$T/$1.grid"; }

g no-equals <<'EOF'
command = true
[runs]
seed 1 2
EOF
expect_grid_error no-equals "no-equals.grid:3: expected \`key = value\`"
g dup-key <<'EOF'
command = true
[runs]
seed = 1 2
alpha = 1
SEED = 3   # keys are case-insensitive: both would be P_SEED
EOF
expect_grid_error dup-key 'dup-key.grid:5: SEED appears twice in this \[runs\] block \(first at line 3\)'
g dup-setting <<'EOF'
command = true
iterations = 4
iterations = 5
[runs]
seed = 1
EOF
expect_grid_error dup-setting 'dup-setting.grid:3: iterations is set twice \(first at line 2\)'
g empty-axis <<'EOF'
command = true
[runs]
seed = 1 2
alpha =     # nothing
EOF
expect_grid_error empty-axis 'empty-axis.grid:4: alpha has no values'
g no-command <<'EOF'
iterations = 5
[runs]
seed = 1
EOF
expect_grid_error no-command 'no-command.grid: no `command = ...` line'
g bad-section <<'EOF'
command = true
[run]
seed = 1
EOF
expect_grid_error bad-section 'bad-section.grid:2: unknown section \[run\]'
g bad-value <<'EOF'
command = true
[runs]
data = a/b
EOF
expect_grid_error bad-value 'bad-value.grid:3: data: bad value "a/b"'
g repeated-value <<'EOF'
command = true
[runs]
seed = 1 2 1
EOF
expect_grid_error repeated-value 'repeated-value.grid:3: seed: value 1 is listed twice'
g dup-run <<'EOF'
command = true
[runs]
method = a
seed = 1 2
[runs]
method = a b
seed = 2
EOF
expect_grid_error dup-run 'dup-run.grid:5: run method-a_seed-2 is also produced by the \[runs\] block at line 2'
g empty-block <<'EOF'
command = true
[runs]
[runs]
seed = 1
EOF
expect_grid_error empty-block 'empty-block.grid:2: empty \[runs\] block'
g no-runs <<'EOF'
command = true
EOF
expect_grid_error no-runs 'no-runs.grid: no \[runs\] block'
g command-in-runs <<'EOF'
command = true
[runs]
command = a b
EOF
expect_grid_error command-in-runs 'command-in-runs.grid:3: command is a top-level setting'
"${SW[@]}" list "$T/missing.grid" > "$T/missing.out" 2>&1 && fail "a missing grid file was accepted"
grep -q "missing.grid: cannot read the grid file" "$T/missing.out" || fail "missing grid: $(cat "$T/missing.out")"

# ---- expansion and ids: blocks in order, the first key slowest -------------------------------------
cat > "$T/fake.sh" <<'EOF'
#!/bin/bash
# A fake training run: echoes its environment into result.csv. P_FAIL_IF: exits 3 while the file
# $SWEEP_DIR/fail-$RUN_ID exists. P_HOLD: waits while $SWEEP_DIR/hold exists (Ctrl-C test).
# P_PAIR: waits (10 s at most) until another run is active too, and reports whether it saw one.
echo "$RUN_ID" >> "$SWEEP_DIR/starts.log"
echo "fake run $RUN_ID in $PWD"
[ -e "$SWEEP_DIR/fail-$RUN_ID" ] && { echo "failing on purpose" >&2; exit 3; }
[ -e "$SWEEP_DIR/noresult-$RUN_ID" ] && exit 0
if [ -n "${P_HOLD:-}" ]; then echo $$ > "$RUN_DIR/pid"; while [ -e "$SWEEP_DIR/hold" ]; do sleep 0.1; done; fi
overlap=0
if [ -n "${P_PAIR:-}" ]; then
    mkdir -p "$SWEEP_DIR/active"; touch "$SWEEP_DIR/active/$RUN_ID"
    for _ in $(seq 100); do [ "$(ls "$SWEEP_DIR/active" | wc -l)" -ge 2 ] && { overlap=1; break; }; sleep 0.1; done
fi
[ "$PWD" = "$ROOT_EXPECTED" ] || { echo "working directory $PWD" >&2; exit 4; }
[ "$RUN_DIR" = "$SWEEP_DIR/runs/$RUN_ID" ] || { echo "RUN_DIR $RUN_DIR" >&2; exit 5; }
if [ -n "${P_ALPHA:-}" ]; then
    printf 'score,threads,iters\n%s,%s,%s\n' "$(awk -v a="$P_ALPHA" -v s="$P_SEED" 'BEGIN{print a*10+s}')" \
        "$THREADS" "$P_ITERATIONS" > "$RUN_DIR/result.csv"
else
    printf 'score,overlap\n%s,%s\n' "$P_SEED" "$overlap" > "$RUN_DIR/result.csv"
fi
EOF
chmod +x "$T/fake.sh"
export ROOT_EXPECTED=$ROOT
cat > "$T/grid" <<EOF
# two blocks with different axes
command = $T/fake.sh
iterations = 7
[runs]
method = siamese
alpha = 0.2 0.4
seed = 1 2
[runs]
method = baseline    # other axes
seed = 1 2
pair = yes
EOF
"${SW[@]}" list "$T/grid" > "$T/list.out" || fail "list: $(cat "$T/list.out")"
printf '%s\n' "method-siamese_alpha-0.2_seed-1	method=siamese alpha=0.2 seed=1" \
    "method-siamese_alpha-0.2_seed-2	method=siamese alpha=0.2 seed=2" \
    "method-siamese_alpha-0.4_seed-1	method=siamese alpha=0.4 seed=1" \
    "method-siamese_alpha-0.4_seed-2	method=siamese alpha=0.4 seed=2" \
    "method-baseline_seed-1_pair-yes	method=baseline seed=1 pair=yes" \
    "method-baseline_seed-2_pair-yes	method=baseline seed=2 pair=yes" > "$T/list.want"
diff "$T/list.want" "$T/list.out" || fail "sweep.py list: unexpected expansion"
echo "ok   expansion: 6 runs in block order, ids as expected"

# ---- a local run: one fails, one exits 0 without a result ------------------------------------------
S=$T/sweep
mkdir -p "$S"
touch "$S/fail-method-siamese_alpha-0.4_seed-1" "$S/noresult-method-siamese_alpha-0.2_seed-2"
"${SW[@]}" run "$T/grid" --out "$S" --jobs 2 --threads 3 > "$T/run1.out" 2>&1; rc=$?
cat "$T/run1.out"
[ $rc = 1 ] || fail "run with failures: exit status $rc, expected 1"
[ "$(wc -l < "$S/starts.log")" = 6 ] || fail "first run: $(wc -l < "$S/starts.log") starts, expected 6"
grep -q "4 done, 2 failed, 0 running, 0 pending" "$T/run1.out" || fail "first run: wrong summary"
grep -q "failed: method-siamese_alpha-0.4_seed-1 (exit status 3), log: $S/runs/method-siamese_alpha-0.4_seed-1/log.txt" \
    "$T/run1.out" || fail "the failed run is not listed with its exit status and log"
grep -q "failed: method-siamese_alpha-0.2_seed-2 (it did not write result.csv)" "$T/run1.out" \
    || fail "a run without result.csv is not listed as failed with the reason"
grep -q "failing on purpose" "$S/runs/method-siamese_alpha-0.4_seed-1/log.txt" || fail "the log lacks the command's stderr"
grep -q '^status=3$' "$S/runs/method-siamese_alpha-0.4_seed-1/failed" || fail "failed marker without status=3"
for r in "$S"/runs/*/; do [ -e "$r/running" ] && fail "$r: running marker left behind"; done
echo "ok   first run: 4 done, 2 failed (exit 3; no result.csv), both listed with their logs"

# the overlap flag: the two baseline runs (--jobs 2) ran at the same time
grep -q '^1,1$' <(tail -n 1 "$S/runs/method-baseline_seed-1_pair-yes/result.csv") || fail "baseline runs did not overlap with --jobs 2"
# THREADS = --threads, settings as P_ variables
[ "$(tail -n 1 "$S/runs/method-siamese_alpha-0.2_seed-1/result.csv")" = "3,3,7" ] \
    || fail "environment: result $(tail -n 1 "$S/runs/method-siamese_alpha-0.2_seed-1/result.csv"), expected 3,3,7"

# ---- resume: nothing done is redone; failed runs only with --resubmit-failed ------------------------
cp "$S/runs/method-siamese_alpha-0.2_seed-1/done" "$T/done.before"
"${SW[@]}" run "$T/grid" --out "$S" --jobs 2 > "$T/run2.out" 2>&1; rc=$?
[ $rc = 1 ] || fail "second run: exit status $rc, expected 1 (2 runs still failed)"
[ "$(wc -l < "$S/starts.log")" = 6 ] || fail "second run started something: $(tail -n +7 "$S/starts.log")"
grep -q "0 to run" "$T/run2.out" || fail "second run: $(head -n 1 "$T/run2.out")"
grep -q "failed earlier, not rerun: method-siamese_alpha-0.4_seed-1, log:" "$T/run2.out" || fail "second run does not list the failed run"
echo "ok   second run: nothing started; the failed runs are listed"
"${SW[@]}" status --out "$S" > "$T/status.out" || fail "status exited $?"
grep -q "6 runs: 4 done, 2 failed, 0 running, 0 pending" "$T/status.out" || fail "status: $(cat "$T/status.out")"
grep -q "log: $S/runs/method-siamese_alpha-0.4_seed-1/log.txt" "$T/status.out" || fail "status does not give the log path"
rm "$S/fail-method-siamese_alpha-0.4_seed-1" "$S/noresult-method-siamese_alpha-0.2_seed-2"
"${SW[@]}" run "$T/grid" --out "$S" --jobs 2 --threads 3 --resubmit-failed > "$T/run3.out" 2>&1 || fail "resubmit: $(cat "$T/run3.out")"
tail -n +7 "$S/starts.log" | sort > "$T/rerun"
printf '%s\n' method-siamese_alpha-0.2_seed-2 method-siamese_alpha-0.4_seed-1 | diff - "$T/rerun" \
    || fail "--resubmit-failed ran something else than the two failed runs"
cmp -s "$T/done.before" "$S/runs/method-siamese_alpha-0.2_seed-1/done" || fail "a done run was redone"
[ -e "$S/runs/method-siamese_alpha-0.4_seed-1/failed" ] && fail "the failed marker stayed after a successful rerun"
grep -q "failing on purpose" "$S/runs/method-siamese_alpha-0.4_seed-1/log.previous.txt" || fail "the failed attempt's log was not kept"
echo "ok   --resubmit-failed reran exactly the 2 failed runs"

# ---- collect -------------------------------------------------------------------------------------
"${SW[@]}" collect --out "$S" > /dev/null || fail "collect exited $?"
cat > "$T/results.want" <<'EOF'
run_id,method,alpha,seed,pair,score,threads,iters,overlap
method-siamese_alpha-0.2_seed-1,siamese,0.2,1,,3,3,7,
method-siamese_alpha-0.2_seed-2,siamese,0.2,2,,4,3,7,
method-siamese_alpha-0.4_seed-1,siamese,0.4,1,,5,3,7,
method-siamese_alpha-0.4_seed-2,siamese,0.4,2,,6,3,7,
method-baseline_seed-1_pair-yes,baseline,,1,yes,1,,,1
method-baseline_seed-2_pair-yes,baseline,,2,yes,2,,,1
EOF
diff "$T/results.want" "$S/results.csv" || fail "results.csv differs from the expected table"
echo "ok   collect: results.csv as expected (columns: run_id, parameters, result columns in first-seen order)"

# ---- a changed setting is refused: done runs would mix two settings ---------------------------------
sed 's/^iterations = 7/iterations = 8/' "$T/grid" > "$T/grid8"
"${SW[@]}" run "$T/grid8" --out "$S" > "$T/changed.out" 2>&1; rc=$?
[ $rc = 2 ] && grep -q "iterations was 7 in this sweep folder and is 8" "$T/changed.out" \
    || fail "changed setting: exit $rc, $(cat "$T/changed.out")"
echo "ok   a changed setting is refused: $(cat "$T/changed.out")"

# ---- Ctrl-C: the run in progress is stopped and stays pending; the next run redoes only it ----------
cat > "$T/hold.grid" <<EOF
command = $T/fake.sh
hold = yes
[runs]
seed = 1
EOF
H=$T/hold
mkdir -p "$H"; touch "$H/hold"
"${SW[@]}" run "$T/hold.grid" --out "$H" --jobs 1 > "$T/hold.out" 2>&1 &
runner=$!
for _ in $(seq 100); do [ -s "$H/runs/seed-1/pid" ] && break; sleep 0.1; done
[ -s "$H/runs/seed-1/pid" ] || { kill $runner; fail "the held run did not start"; }
child=$(cat "$H/runs/seed-1/pid")
kill -INT $runner
for _ in $(seq 200); do kill -0 $runner 2>/dev/null || break; sleep 0.1; done
kill -0 $runner 2>/dev/null && { kill -9 $runner; rm -f "$H/hold"; fail "the runner did not stop within 20 s of SIGINT"; }
wait $runner; rc=$?
[ $rc = 130 ] || fail "Ctrl-C: exit status $rc, expected 130: $(cat "$T/hold.out")"
kill -0 "$child" 2>/dev/null && fail "Ctrl-C left the run's process $child alive"
for m in done failed running; do [ -e "$H/runs/seed-1/$m" ] && fail "Ctrl-C left a $m marker"; done
"${SW[@]}" status --out "$H" > "$T/hold-status.out"
grep -q "1 runs: 0 done, 0 failed, 0 running, 1 pending" "$T/hold-status.out" || fail "after Ctrl-C the run is not pending"
grep -q "pending, stopped from outside .*: seed-1, log: $H/runs/seed-1/log.txt" "$T/hold-status.out" || fail "status does not mention the stop"
rm "$H/hold"
"${SW[@]}" run "$T/hold.grid" --out "$H" > "$T/hold2.out" 2>&1 || fail "run after Ctrl-C: $(cat "$T/hold2.out")"
[ "$(cat "$H/starts.log")" = "$(printf 'seed-1\nseed-1')" ] || fail "after Ctrl-C: starts $(cat "$H/starts.log")"
echo "ok   Ctrl-C: exit 130, child stopped, run pending; the next run completes it"

# ---- the slurm executor's batch script (no Slurm needed: --dry-run) ---------------------------------
"${SW[@]}" run "$T/grid" --out "$T/dry" --executor slurm --dry-run --partition gpu --account proj1 --time 7 \
    --cpus-per-task 3 --gpus 2 --jobs 2 --sbatch-arg=--qos=short > "$T/dry.out" 2>&1 || fail "dry run: $(cat "$T/dry.out")"
grep -q "would submit 6 runs with: sbatch --parsable --qos=short $T/dry/slurm/job-1.sh" "$T/dry.out" || fail "dry run: $(cat "$T/dry.out")"
for want in '--array=0-5%2' '--cpus-per-task=3' '--time=7' '--partition=gpu' '--account=proj1' '--gres=gpu:2' \
            "--chdir=$ROOT" "--output=$T/dry/slurm/%A_%a.out"; do
    grep -qxF -- "#SBATCH $want" "$T/dry/slurm/job-1.sh" || fail "batch script lacks #SBATCH $want"
done
grep -q "exec --out $T/dry --runs-file runs-1.txt --index \"\$SLURM_ARRAY_TASK_ID\"" "$T/dry/slurm/job-1.sh" || fail "batch script: no exec line"
diff "$T/dry/slurm/runs-1.txt" <(cut -f1 "$T/list.out") || fail "runs-1.txt does not list the 6 runs in order"
"${SW[@]}" run "$T/grid" --out "$T/dry2" --executor slurm --dry-run --gpus 1 --gpus-option gpus >/dev/null 2>&1
grep -qxF -- "#SBATCH --gpus=1" "$T/dry2/slurm/job-1.sh" || fail "--gpus-option gpus: no --gpus=1"
echo "ok   slurm batch script: array, cpus, time, partition, account, GPUs, output, exec line"

# ---- `exec` (what an array task runs) does the same as the local executor --------------------------
"${SW[@]}" exec --out "$T/dry" --index 2 --threads 2 > "$T/exec.out" 2>&1 || fail "exec: $(cat "$T/exec.out")"
[ -e "$T/dry/runs/method-siamese_alpha-0.4_seed-1/done" ] || fail "exec --index 2 did not finish run 2"
[ "$(tail -n 1 "$T/dry/runs/method-siamese_alpha-0.4_seed-1/result.csv")" = "5,2,7" ] || fail "exec: wrong result"
[ "$(ls "$T/dry/runs")" = method-siamese_alpha-0.4_seed-1 ] || fail "exec ran more than its run: $(ls "$T/dry/runs")"
"${SW[@]}" exec --out "$T/dry" --index 6 > "$T/exec6.out" 2>&1; rc=$?
[ $rc = 2 ] && grep -q "index 6, but the file lists 6 runs" "$T/exec6.out" || fail "exec with a bad index: $rc $(cat "$T/exec6.out")"
echo "ok   exec runs line INDEX of the runs file; a bad index is refused"
