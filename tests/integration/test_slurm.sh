# scripts/sweep.py's slurm executor against a real Slurm: starts a throw-away single-node cluster from
# Debian's slurm-wlm and munge (slurm.conf, munge key, state, spool and logs in this test's temporary
# folder; non-default ports; munged, slurmctld and slurmd run as root), runs a tiny grid of
# `darknet classifier train` runs (tests/data/sweep-train.sh) with the local executor and as one
# Slurm job array, kills one array task with scancel, resumes (only that run runs again), and checks
# that both executors give an identical results.csv. The daemons it started are stopped by their
# process ids on every exit. Needs root (it starts the daemons); skips otherwise.
source tests/lib.sh
[ "$(id -u)" = 0 ] || skip "not root: this test starts munged, slurmctld and slurmd (run it as root)"
command -v python3 >/dev/null || fail "python3 not found (make deps)"
scripts/deps.sh ensure slurm-wlm munge > "$TMPDIR/deps.log" 2>&1 || { tail -n 20 "$TMPDIR/deps.log"; fail "cannot install slurm-wlm and munge"; }
for t in munged slurmctld slurmd sbatch squeue scancel sinfo; do
    command -v $t >/dev/null || fail "$t not found after installing slurm-wlm and munge"
done
SW=(python3 scripts/sweep.py)
T=$TMPDIR
t_start=$SECONDS

# wait_for SECONDS WHAT COMMAND...: polls COMMAND every 0.2 s until it succeeds; fails after SECONDS.
wait_for() { try_for "$@" || fail "timed out after ${1}s waiting for $2"; }
try_for() {
    local limit=$1; shift 2
    local end=$((SECONDS + limit))
    until "$@"; do
        [ $SECONDS -lt $end ] || return 1
        sleep 0.2
    done
}
# A daemon that cannot start here is a machine's limit, not a bug of ours: skipped (a failure in CI).
cannot_start() {
    echo "--- $1 logs:"; tail -n 15 "$C"/log/*.out "$C"/munge/munged.log 2>/dev/null
    skip "$1 did not start here: $(grep -hiE 'error|fatal' "$C"/log/*.out "$C"/munge/munged.log 2>/dev/null | grep -viE 'pmix|mpi' | tail -n 1)"
}

# ---- the tiny grid: 4 runs of 5 batches from the same initial weights -----------------------------
# The initial weights are one batch from Darknet's clock-seeded initialisation: different in every
# test run, the same for both executors (tests/data/sweep-train.sh says where determinism comes from).
make_tiny_dataset "$T/ds" --train 30 --valid 30 --seed 1
sed -e 's/^max_batches=.*/max_batches=1/' -e '/^\[net\]/a flip=0' tests/data/tiny-baseline.cfg > "$T/init.cfg"
head -n 1 "$T/ds/train.list" > "$T/init.list"
printf 'classes=3\ntrain=%s\nvalid=%s\nlabels=%s\nbackup=%s\n' "$T/init.list" "$T/ds/valid.list" \
    "$T/ds/labels.list" "$T" > "$T/init.data"
run_dn "$T/init.log" classifier train "$T/init.data" "$T/init.cfg" || { tail "$T/init.log"; fail "initial weights: darknet exited $?"; }
STALL_RUN=lr-0.05_seed-2
cat > "$T/grid" <<EOF
command = tests/data/sweep-train.sh
iterations = 5
data = $T/ds
init = $T/init.weights
stall = $T/stall
stall_run = $STALL_RUN
[runs]
lr = 0.01 0.05
seed = 1 2
EOF

t0=$SECONDS
"${SW[@]}" run "$T/grid" --out "$T/local" --jobs 2 --threads 1 > "$T/local.out" 2>&1 || { cat "$T/local.out"; fail "local executor exited $?"; }
"${SW[@]}" collect --out "$T/local" > /dev/null || fail "collect (local) exited $?"
echo "ok   local executor: 4 runs in $((SECONDS - t0)) s"

# ---- a throw-away Slurm -----------------------------------------------------------------------------
C=$(mktemp -d "$T/cluster.XXXXXX")
mkdir -p "$C/munge" "$C/state" "$C/spool" "$C/log"
chmod 755 "$C/munge"
head -c 1024 /dev/urandom > "$C/munge/munge.key"
chmod 400 "$C/munge/munge.key"
export SLURM_CONF=$C/slurm.conf
daemon_pids=()
stop_daemons() {
    # jobs first (their slurmstepd would outlive slurmd), then the daemons, each by its pid
    if [ -n "${ctld_pid:-}" ] && kill -0 "$ctld_pid" 2>/dev/null; then
        scancel --user=root >/dev/null 2>&1
        local end=$((SECONDS + 15))
        while [ -n "$(squeue -h -o %i 2>/dev/null)" ] && [ $SECONDS -lt $end ]; do sleep 0.3; done
    fi
    local p i
    for ((i = ${#daemon_pids[@]} - 1; i >= 0; i--)); do
        p=${daemon_pids[i]}
        kill -TERM "$p" 2>/dev/null || continue
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    daemon_pids=()
}
trap stop_daemons EXIT
trap 'exit 1' INT TERM

# munged: --force because the test's temporary folders are private (mode 0700) and munged wants
# every folder above its socket to be searchable by all.
munged --foreground --force --key-file="$C/munge/munge.key" --socket="$C/munge/socket" \
    --pid-file="$C/munge/munged.pid" --log-file="$C/munge/munged.log" --seed-file="$C/munge/seed" \
    > "$C/log/munged.out" 2>&1 &
daemon_pids+=($!)
try_for 10 "munged's socket" test -S "$C/munge/socket" || cannot_start munged

read -r ctld_port slurmd_port < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
host=$(hostname -s)
node=$(slurmd -C | head -n 1)
case "$node" in NodeName=*CPUs=*RealMemory=*) ;; *) fail "slurmd -C printed \"$node\"";; esac
cat > "$SLURM_CONF" <<EOF
ClusterName=sweeptest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$C/munge/socket
CredType=cred/munge
StateSaveLocation=$C/state
SlurmdSpoolDir=$C/spool
SlurmctldPidFile=$C/slurmctld.pid
SlurmdPidFile=$C/slurmd.pid
SlurmctldLogFile=$C/log/slurmctld.log
SlurmdLogFile=$C/log/slurmd.log
# containers: no cgroups
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
KillWait=5
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
t0=$SECONDS
slurmctld -D -i -f "$SLURM_CONF" > "$C/log/slurmctld.out" 2>&1 &
daemon_pids+=($!); ctld_pid=$!
slurmd -D -N "$host" -f "$SLURM_CONF" > "$C/log/slurmd.out" 2>&1 &
daemon_pids+=($!)
node_idle() {
    for p in "${daemon_pids[@]}"; do kill -0 "$p" 2>/dev/null || cannot_start "a Slurm daemon (pid $p exited)"; done
    [ "$(sinfo -h -o %T 2>/dev/null)" = idle ]
}
try_for 30 "the node to be idle in sinfo" node_idle || cannot_start "slurmctld/slurmd (node not idle in sinfo within 30 s)"
echo "ok   Slurm up in $((SECONDS - t0)) s: ports $ctld_port/$slurmd_port, $node"

# ---- submit; kill one array task; status ------------------------------------------------------------
S=$T/slurm
mkdir -p "$S"
touch "$T/stall"
t0=$SECONDS
timeout 60 "${SW[@]}" run "$T/grid" --out "$S" --executor slurm --cpus-per-task 1 --time 5 --no-wait \
    > "$T/submit1.out" 2>&1 || { cat "$T/submit1.out"; fail "submitting exited $?"; }
cat "$T/submit1.out"
job=$(awk '{print $1}' "$S/slurm/jobs.txt")
[[ "$job" =~ ^[0-9]+$ ]] && [ "$(wc -l < "$S/slurm/jobs.txt")" = 1 ] || fail "jobs.txt: $(cat "$S/slurm/jobs.txt")"
idx=$(($(grep -nx "$STALL_RUN" "$S/slurm/runs-1.txt" | cut -d: -f1) - 1))
"${SW[@]}" status --out "$S" > "$T/status1.out"
grep -q "slurm jobs: $job ([1-4] tasks in the queue)" "$T/status1.out" || fail "status does not show the queued job: $(cat "$T/status1.out")"

three_done_one_running() {
    [ "$(ls "$S"/runs/*/done 2>/dev/null | wc -l)" = 3 ] &&
    [ "$(squeue -h -j "$job" -r -o '%K %T')" = "$idx RUNNING" ]
}
wait_for 90 "3 runs done and $STALL_RUN running" three_done_one_running
"${SW[@]}" status --out "$S" > "$T/status2.out"
grep -q "4 runs: 3 done, 0 failed, 1 running, 0 pending" "$T/status2.out" || fail "status while one runs: $(cat "$T/status2.out")"
scancel "${job}_$idx" || fail "scancel ${job}_$idx exited $?"
left_queue() { [ -z "$(squeue -h -j "$job" -o %i 2>/dev/null)" ]; }
wait_for 40 "job $job to leave the queue" left_queue
echo "ok   array job $job: 3 runs done, task $idx ($STALL_RUN) killed with scancel; $((SECONDS - t0)) s"
for m in done failed running; do [ -e "$S/runs/$STALL_RUN/$m" ] && fail "the killed run left a $m marker"; done
grep -q "stopped from outside" "$S/runs/$STALL_RUN/log.txt" || fail "the killed run's log does not say it was stopped"
"${SW[@]}" status --out "$S" > "$T/status3.out"
grep -q "4 runs: 3 done, 0 failed, 0 running, 1 pending" "$T/status3.out" || fail "status after scancel: $(cat "$T/status3.out")"
grep -q "slurm jobs: $job (left the queue)" "$T/status3.out" || fail "status after scancel: $(cat "$T/status3.out")"
grep -q "pending, stopped from outside .*: $STALL_RUN, log: $S/runs/$STALL_RUN/log.txt" "$T/status3.out" \
    || fail "status does not say that $STALL_RUN was stopped: $(cat "$T/status3.out")"
grep -q "THREADS=1:" "$S/runs/lr-0.01_seed-1/log.txt" || fail "THREADS is not --cpus-per-task"

# ---- resume: only the killed run runs again -------------------------------------------------------
mkdir -p "$T/before"
for d in "$S"/runs/*/; do [ -e "$d/done" ] && cp "$d/done" "$T/before/$(basename "$d")"; done
rm "$T/stall"
t0=$SECONDS
timeout 120 "${SW[@]}" run "$T/grid" --out "$S" --executor slurm --cpus-per-task 1 --time 5 --wait --poll 0.5 \
    > "$T/submit2.out" 2>&1 || { cat "$T/submit2.out"; fail "the resumed sweep exited $?"; }
cat "$T/submit2.out"
[ "$(wc -l < "$S/slurm/jobs.txt")" = 2 ] || fail "jobs.txt: $(cat "$S/slurm/jobs.txt")"
[ "$(cat "$S/slurm/runs-2.txt")" = "$STALL_RUN" ] || fail "the second array holds $(cat "$S/slurm/runs-2.txt" | tr '\n' ' ')"
for f in "$T"/before/*; do cmp -s "$f" "$S/runs/$(basename "$f")/done" || fail "$(basename "$f") was run again"; done
sort "$S/starts.log" | uniq -c | awk '{print $2, $1}' > "$T/starts"
printf '%s\n' "lr-0.01_seed-1 1" "lr-0.01_seed-2 1" "lr-0.05_seed-1 1" "$STALL_RUN 2" | diff - "$T/starts" \
    || fail "starts per run differ from: each once, the killed run twice"
grep -q "4 runs: 4 done, 0 failed, 0 running, 0 pending" "$T/submit2.out" || fail "resume did not finish the sweep"
grep -q "stopped from outside" "$S/runs/$STALL_RUN/log.previous.txt" || fail "the killed attempt's log was not kept"
echo "ok   resume: one array task ($STALL_RUN), the other 3 runs untouched; $((SECONDS - t0)) s"

# ---- both executors: the same results, to the last digit --------------------------------------------
"${SW[@]}" collect --out "$S" > /dev/null || fail "collect (slurm) exited $?"
cat "$S/results.csv"
[ "$(wc -l < "$S/results.csv")" = 5 ] || fail "results.csv should have a header and 4 rows"
[ "$(tail -n +2 "$S/results.csv" | cut -d, -f6 | sort -u | wc -l)" = 4 ] \
    || fail "the 4 runs trained to identical weights: the comparison would prove nothing"
awk -F, 'NR > 1 && !($4 > 0 && $4 < 5) { exit 1 }' "$S/results.csv" || fail "a loss outside (0, 5)"
cmp "$T/local/results.csv" "$S/results.csv" || { diff "$T/local/results.csv" "$S/results.csv"; fail "slurm and local results differ"; }
echo "ok   results.csv of the slurm executor equals the local executor's, byte for byte"
# --gpus reaches sbatch as --gres=gpu:N: this cluster has no GPUs, so sbatch must refuse it, and
# sweep.py must say so with sbatch's own message
"${SW[@]}" run "$T/grid" --out "$T/gpu" --executor slurm --gpus 1 --no-wait > "$T/gpu.out" 2>&1; rc=$?
[ $rc = 2 ] && grep -q "sbatch --parsable .*job-1.sh failed (exit 1): .*[Gg]eneric resource" "$T/gpu.out" \
    || fail "--gpus 1 on a cluster without GPUs: exit $rc, $(cat "$T/gpu.out")"
[ -e "$T/gpu/slurm/jobs.txt" ] && fail "a refused submission was recorded in jobs.txt"
echo "ok   --gpus 1: $(grep -o 'sbatch: error.*' "$T/gpu.out" | head -n 1)"
started=("${daemon_pids[@]}")
stop_daemons
for p in "${started[@]}"; do kill -0 "$p" 2>/dev/null && fail "daemon $p still running"; done
echo "ok   daemons stopped; whole test $((SECONDS - t_start)) s"
