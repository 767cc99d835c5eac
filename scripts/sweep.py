#!/usr/bin/env python3
"""sweep.py: run a grid of training runs on this machine or on a Slurm cluster, resume it, collect it.

Usage:
  sweep.py run GRID --out DIR [--executor local|slurm] [--jobs N] [--threads N] [--resubmit-failed]
               [--partition P] [--account A] [--time MIN] [--cpus-per-task N] [--gpus N]
               [--gpus-option gres|gpus] [--sbatch-arg X]... [--wait|--no-wait] [--poll S] [--dry-run]
  sweep.py status --out DIR        done/failed/running/pending counts; failed runs with their logs
  sweep.py collect --out DIR       merges every finished run's result.csv into DIR/results.csv
  sweep.py list GRID               the runs a grid expands to (id and parameters), one a line
  sweep.py exec --out DIR --index I [--runs-file F]   one run (what each Slurm array task calls)

The grid file (example: tests/integration/test_sweep_local.sh writes several):
  # comments start with '#'
  command = scripts/exp-run.sh      # required: run from the repository root; relative to it or absolute
  iterations = 400                  # other top-level settings: passed to every run as P_ITERATIONS=400
  [runs]                            # a block: each `key = v1 v2 ...` line is an axis, one value a constant
  method = siamese
  alpha = 0.2 0.4 1
  seed = 1 2 3
  [runs]                            # blocks are concatenated, so each method can have its own axes
  method = baseline
  seed = 1 2 3
A block's values override top-level settings of the same name for its runs. Keys are letters, digits
and '_' (case-insensitive, as they become environment names); values are letters, digits and . + - _.
Runs expand in block order, the first key varying slowest. A run's id joins key-value pairs in the
block's key order: method-siamese_alpha-0.4_seed-1. Two runs with the same id are an error.

Each run gets DIR/runs/<id>/ and executes the command with the working directory at the repository
root, stdout and stderr in DIR/runs/<id>/log.txt, and the environment RUN_DIR (absolute), RUN_ID,
SWEEP_DIR, THREADS (CPUs for this run; DARKNET_THREADS is set to the same) and P_<KEY>=<value> for
every setting and parameter. The command writes its cfg, weights and finally RUN_DIR/result.csv (a
header line and one row). A run is done when the command exited 0 and left that file: sweep.py then
writes RUN_DIR/done (atomically); otherwise RUN_DIR/failed with the exit status and the reason. A
run stopped from outside (Ctrl-C, scancel, a time limit, a lost node) gets neither and is pending
again (RUN_DIR/stopped says when; the new attempt moves the old log to log.previous.txt). `run`
never redoes a done run; it reruns failed runs only with --resubmit-failed.

Executors (both run the same per-run code, so both give the same files and results.csv):
  local   --jobs N runs at a time (default: the CPUs this process may use); THREADS = CPUs / jobs
          (or --threads). Ctrl-C stops the runs in progress; they stay pending.
  slurm   one `sbatch --array=0-(N-1)` job for the pending runs (DIR/slurm/runs-K.txt lists them,
          DIR/slurm/job-K.sh is the batch script, DIR/slurm/jobs.txt the job ids); each array task
          calls `sweep.py exec`. --cpus-per-task (default 1) is THREADS; --time (minutes, default
          60), --partition, --account and --sbatch-arg go to sbatch; --gpus N asks for N GPUs per
          run as --gres=gpu:N (or --gpus=N with --gpus-option gpus, Slurm >= 19.05); --jobs N limits
          the array to N tasks at a time (%N). --wait (default) follows progress with squeue until
          the array has left the queue; --no-wait returns after submitting. SLURM_CONF and the
          rest of the environment reach the runs as sbatch passes them (--export=ALL).
Exit status: `run`: 0 when every run of the grid is done (slurm --no-wait: when submitted), 1 when
some are not, 130 after Ctrl-C; `status`, `collect`: 0 (collect writes the runs done so far);
`exec`: 0 done, 1 failed, 143 stopped; every command: 2 on a bad grid, folder or option.
"""

import argparse
import csv
import datetime
import fcntl
import io
import itertools
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SELF = os.path.abspath(__file__)
KEY_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
VALUE_RE = re.compile(r'^[A-Za-z0-9._+-]+$')
# Settings that configure the runner rather than the runs (not passed as P_ variables).
RUNNER_KEYS = {'command'}


class SweepError(Exception):
    """A bad grid, folder or option: printed as one message, exit status 2."""


# ---- the grid ----------------------------------------------------------------------------------

class Run:
    def __init__(self, run_id, params, line):
        self.id = run_id
        self.params = params      # dict in block order
        self.line = line          # GRID:line of the block header, for messages


def run_id_of(params):
    return '_'.join('%s-%s' % (k, v) for k, v in params.items())


def parse_grid(path):
    """Returns (settings, runs). settings: dict of top-level keys; runs: list of Run."""
    try:
        with open(path, encoding='utf-8') as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise SweepError('%s: cannot read the grid file: %s' % (path, e.strerror))
    except UnicodeDecodeError as e:
        raise SweepError('%s: not a text file (%s)' % (path, e.reason))
    settings, setting_lines = {}, {}
    blocks = []          # [(header line number, [(key, [values], line number)])]
    for n, raw in enumerate(lines, 1):
        where = '%s:%d' % (path, n)
        text = raw.split('#', 1)[0].strip()
        if not text:
            continue
        if text.startswith('['):
            if text != '[runs]':
                raise SweepError('%s: unknown section %s: the only section is [runs]' % (where, text))
            blocks.append((n, []))
            continue
        if '=' not in text:
            raise SweepError('%s: expected `key = value`, found "%s"' % (where, text))
        key, value = (s.strip() for s in text.split('=', 1))
        if not KEY_RE.match(key):
            raise SweepError('%s: bad key "%s": use letters, digits and _ (it becomes the environment '
                             'variable P_%s)' % (where, key, key.upper()))
        lkey = key.lower()
        if lkey == 'run_id':
            raise SweepError('%s: run_id is the name of results.csv\'s first column; choose another key' % where)
        if not blocks:
            if lkey in setting_lines:
                raise SweepError('%s: %s is set twice (first at line %d)' % (where, key, setting_lines[lkey]))
            if not value:
                raise SweepError('%s: %s has no value' % (where, key))
            settings[lkey], setting_lines[lkey] = value, n
            continue
        if lkey in RUNNER_KEYS:
            raise SweepError('%s: %s is a top-level setting; it cannot vary inside [runs]' % (where, key))
        entries = blocks[-1][1]
        for k, _, first in entries:
            if k == lkey:
                raise SweepError('%s: %s appears twice in this [runs] block (first at line %d)'
                                 % (where, key, first))
        values = value.split()
        if not values:
            raise SweepError('%s: %s has no values: an axis needs at least one' % (where, key))
        seen = set()
        for v in values:
            if not VALUE_RE.match(v):
                raise SweepError('%s: %s: bad value "%s": use letters, digits and . + - _ (values name '
                                 'folders)' % (where, key, v))
            if v in seen:
                raise SweepError('%s: %s: value %s is listed twice' % (where, key, v))
            seen.add(v)
        entries.append((lkey, values, n))
    if 'command' not in settings:
        raise SweepError('%s: no `command = ...` line before the first [runs]: which program does a '
                         'run execute?' % path)
    if not blocks:
        raise SweepError('%s: no [runs] block: nothing to run' % path)
    runs, ids = [], {}
    for header, entries in blocks:
        where = '%s:%d' % (path, header)
        if not entries:
            raise SweepError('%s: empty [runs] block' % where)
        keys = [k for k, _, _ in entries]
        for combo in itertools.product(*(vals for _, vals, _ in entries)):
            params = dict(zip(keys, combo))
            rid = run_id_of(params)
            if len(rid) > 200:
                raise SweepError('%s: run id %s... is longer than 200 characters: use shorter values'
                                 % (where, rid[:60]))
            if rid in ids:
                raise SweepError('%s: run %s is also produced by the [runs] block at line %d: every run '
                                 'must be unique' % (where, rid, ids[rid]))
            ids[rid] = header
            runs.append(Run(rid, params, where))
    return settings, runs


# ---- the sweep folder ----------------------------------------------------------------------------

def now_iso():
    return datetime.datetime.now().astimezone().isoformat(timespec='milliseconds')


def write_atomic(path, text):
    tmp = '%s.tmp.%d' % (path, os.getpid())
    with open(tmp, 'w', encoding='utf-8') as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_kv(path):
    try:
        with open(path, encoding='utf-8') as f:
            return dict(line.rstrip('\n').split('=', 1) for line in f if '=' in line)
    except OSError:
        return None


class Sweep:
    """DIR: sweep.json (the grid as last run), runs/<id>/, slurm/, results.csv."""

    def __init__(self, out):
        self.dir = os.path.abspath(out)
        self.meta_path = os.path.join(self.dir, 'sweep.json')
        self.settings, self.runs = {}, []

    def run_dir(self, run):
        return os.path.join(self.dir, 'runs', run.id)

    def load(self):
        try:
            with open(self.meta_path, encoding='utf-8') as f:
                meta = json.load(f)
        except FileNotFoundError:
            raise SweepError('%s: not a sweep folder (no sweep.json): start it with `sweep.py run GRID '
                             '--out %s`' % (self.dir, self.dir))
        except (OSError, ValueError) as e:
            raise SweepError('%s: unreadable: %s' % (self.meta_path, e))
        self.settings = meta['settings']
        self.runs = [Run(r['id'], r['params'], r.get('from', '')) for r in meta['runs']]
        return self

    def init_from_grid(self, grid_path):
        settings, runs = parse_grid(grid_path)
        if os.path.exists(self.meta_path):
            old = Sweep(self.dir).load()
            changed = sorted(k for k in set(old.settings) | set(settings)
                             if old.settings.get(k) != settings.get(k))
            if changed:
                k = changed[0]
                raise SweepError('%s: %s was %s in this sweep folder and is %s in %s: finished runs would '
                                 'mix both; use another --out or remove %s'
                                 % (self.dir, k, old.settings.get(k, '(unset)'), settings.get(k, '(unset)'),
                                    grid_path, self.dir))
        os.makedirs(os.path.join(self.dir, 'runs'), exist_ok=True)
        self.settings, self.runs = settings, runs
        write_atomic(self.meta_path, json.dumps({
            'grid': os.path.abspath(grid_path), 'root': ROOT, 'settings': settings,
            'runs': [{'id': r.id, 'params': r.params, 'from': r.line} for r in runs]}, indent=1) + '\n')
        return self

    def state(self, run, queued=None):
        """'done', 'failed', 'running' or 'pending'. queued: {run id: squeue state} from Slurm."""
        d = self.run_dir(run)
        if os.path.exists(os.path.join(d, 'done')) and os.path.exists(os.path.join(d, 'result.csv')):
            return 'done'
        if os.path.exists(os.path.join(d, 'failed')):
            return 'failed'
        if queued and queued.get(run.id) in ('RUNNING', 'COMPLETING'):
            return 'running'
        info = read_kv(os.path.join(d, 'running'))
        if info is not None:
            if info.get('host') == socket.gethostname() and pid_alive(info.get('pid', '')):
                return 'running'
        return 'pending'

    def log_path(self, run):
        return os.path.join(self.run_dir(run), 'log.txt')


def pid_alive(pid):
    try:
        os.kill(int(pid), 0)
        return True
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True


def lock_sweep(sweep):
    """One `run` per sweep folder at a time (a second would start the same runs again)."""
    os.makedirs(sweep.dir, exist_ok=True)
    f = open(os.path.join(sweep.dir, '.lock'), 'a+')
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SweepError('%s: another `sweep.py run` is using this folder' % sweep.dir)
    return f


# ---- one run (both executors) ----------------------------------------------------------------------

def resolve_command(command):
    try:
        argv = shlex.split(command)
    except ValueError as e:
        raise SweepError('command = %s: %s' % (command, e))
    if not argv:
        raise SweepError('command is empty')
    prog = argv[0]
    if not os.path.isabs(prog) and '/' in prog:
        prog = os.path.join(ROOT, prog)
    if '/' in prog and not os.access(prog, os.X_OK):
        raise SweepError('command = %s: %s is not an executable file' % (command, prog))
    return [prog] + argv[1:]


def run_env(sweep, run, threads):
    env = dict(os.environ)
    for k, v in sweep.settings.items():
        if k not in RUNNER_KEYS:
            env['P_' + k.upper()] = v
    for k, v in run.params.items():
        env['P_' + k.upper()] = v
    env.update(RUN_DIR=sweep.run_dir(run), RUN_ID=run.id, SWEEP_DIR=sweep.dir,
               THREADS=str(threads), DARKNET_THREADS=str(threads))
    return env


def check_result(path):
    """None when path is a CSV with a header and exactly one row of as many fields, else why not."""
    try:
        with open(path, newline='', encoding='utf-8') as f:
            rows = [r for r in csv.reader(f) if r]
    except OSError:
        return 'it did not write result.csv'
    except (UnicodeDecodeError, csv.Error) as e:
        return 'result.csv is not a CSV file (%s)' % e
    if len(rows) != 2:
        return 'result.csv has %d rows: it must have a header and one row' % len(rows)
    if len(rows[0]) != len(rows[1]):
        return 'result.csv: %d column names but %d values' % (len(rows[0]), len(rows[1]))
    return None


class Stopped(Exception):
    """The runner was told to stop (Ctrl-C, SIGTERM): the run stays pending."""


def execute(sweep, run, threads, stop_event=None, procs=None, extra=None):
    """Runs one run to its end; returns 'done', 'failed' or raises Stopped. procs: shared dict of
    live children so that a signal handler can stop them."""
    d = sweep.run_dir(run)
    os.makedirs(d, exist_ok=True)
    for name in ('done', 'failed', 'stopped', 'result.csv'):
        try:
            os.remove(os.path.join(d, name))
        except FileNotFoundError:
            pass
    argv = resolve_command(sweep.settings['command'])
    t0, started = time.time(), now_iso()
    info = 'host=%s\npid=%d\nstarted=%s\n' % (socket.gethostname(), os.getpid(), started)
    for k, v in (extra or {}).items():
        info += '%s=%s\n' % (k, v)
    write_atomic(os.path.join(d, 'running'), info)
    if os.path.exists(os.path.join(d, 'log.txt')):   # the previous attempt's log (failed or stopped)
        os.replace(os.path.join(d, 'log.txt'), os.path.join(d, 'log.previous.txt'))
    log = open(os.path.join(d, 'log.txt'), 'w', encoding='utf-8')
    log.write('# sweep.py: run %s, started %s on %s, THREADS=%d: %s\n'
              % (run.id, started, socket.gethostname(), threads, ' '.join(shlex.quote(a) for a in argv)))
    log.flush()
    try:
        p = subprocess.Popen(argv, cwd=ROOT, env=run_env(sweep, run, threads), stdin=subprocess.DEVNULL,
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    except OSError as e:
        log.write('# sweep.py: cannot start the command: %s\n' % e)
        log.close()
        write_atomic(os.path.join(d, 'failed'), 'status=127\nreason=cannot start %s: %s\nfinished=%s\n'
                     % (argv[0], e.strerror, now_iso()))
        os.remove(os.path.join(d, 'running'))
        return 'failed'
    if procs is not None:
        procs[run.id] = p
    if stop_event is not None and stop_event.is_set():   # a stop that came while we were starting it
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    try:
        rc = p.wait()
    finally:
        if procs is not None:
            procs.pop(run.id, None)
    secs = time.time() - t0
    # A run that finished while we were being stopped still counts; one that the stop cut short does not.
    if stop_event is not None and stop_event.is_set() and rc != 0:
        log.write('\n# sweep.py: stopped from outside after %.1f s (exit status %d): the run is pending again\n'
                  % (secs, rc))
        log.close()
        # not a state: the run is pending; `status` mentions it (a time limit stops a run each time)
        write_atomic(os.path.join(d, 'stopped'), 'status=%d\nseconds=%.3f\nfinished=%s\n' % (rc, secs, now_iso()))
        os.remove(os.path.join(d, 'running'))
        raise Stopped()
    if rc == 0:
        why = check_result(os.path.join(d, 'result.csv'))
    else:
        why = 'exit status %d' % rc if rc > 0 else 'killed by signal %d' % -rc
    tail = 'seconds=%.3f\nfinished=%s\nhost=%s\n' % (secs, now_iso(), socket.gethostname())
    log.write('\n# sweep.py: %s after %.1f s\n' % ('done' if why is None else 'FAILED: ' + why, secs))
    log.close()
    if why is None:
        write_atomic(os.path.join(d, 'done'), 'status=0\n' + tail)
        state = 'done'
    else:
        status = rc if rc > 0 else 128 - rc if rc < 0 else 1     # a signal as the shell shows it
        write_atomic(os.path.join(d, 'failed'), 'status=%d\nreason=%s\n%s' % (status, why, tail))
        state = 'failed'
    os.remove(os.path.join(d, 'running'))
    return state


def stop_children(procs, grace=10.0):
    """SIGTERM to each child's process group (Darknet saves and exits on it), SIGKILL after grace."""
    live = list(procs.values())
    for p in live:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.time() + grace
    for p in live:
        try:
            p.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


# ---- selecting and reporting -----------------------------------------------------------------------

def counts(sweep, queued=None):
    by = {'done': [], 'failed': [], 'running': [], 'pending': []}
    for r in sweep.runs:
        by[sweep.state(r, queued)].append(r)
    return by


def rel(path):
    cwd = os.getcwd()
    return os.path.relpath(path, cwd) if path.startswith(cwd + os.sep) else path


def report(sweep, queued=None, jobs_line=None):
    by = counts(sweep, queued)
    n_queued = sum(1 for r in by['pending'] if queued and queued.get(r.id) == 'PENDING')
    print('%s: %d runs: %d done, %d failed, %d running, %d pending%s'
          % (rel(sweep.dir), len(sweep.runs), len(by['done']), len(by['failed']), len(by['running']),
             len(by['pending']), ' (%d of them queued in Slurm)' % n_queued if n_queued else ''))
    if jobs_line:
        print(jobs_line)
    for r in by['failed']:
        info = read_kv(os.path.join(sweep.run_dir(r), 'failed')) or {}
        print('  failed: %s (%s), log: %s' % (r.id, info.get('reason', 'exit status %s' % info.get('status')),
                                              rel(sweep.log_path(r))))
    if by['failed']:
        print('  (`sweep.py run GRID --out %s --resubmit-failed` runs them again)' % rel(sweep.dir))
    for r in by['pending']:
        info = read_kv(os.path.join(sweep.run_dir(r), 'stopped'))
        if info:
            print('  pending, stopped from outside after %s s at %s (Ctrl-C, scancel, time limit?): %s, log: %s'
                  % (info.get('seconds', '?'), info.get('finished', '?'), r.id, rel(sweep.log_path(r))))
    return by


def to_run(sweep, by, resubmit_failed):
    chosen = set(r.id for r in by['pending'])
    if resubmit_failed:
        chosen |= set(r.id for r in by['failed'])
    return [r for r in sweep.runs if r.id in chosen]


# ---- local executor ---------------------------------------------------------------------------------

def usable_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def run_local(sweep, todo, jobs, threads):
    total = len(todo)
    stop = threading.Event()
    procs, lock = {}, threading.Lock()
    results = {'done': 0, 'failed': 0}
    queue = list(todo)

    def worker(ended):
        try:
            work()
        finally:
            ended.set()

    def work():
        while not stop.is_set():
            with lock:
                if not queue:
                    return
                run = queue.pop(0)
            t0 = time.time()
            try:
                state = execute(sweep, run, threads, stop, procs)
            except Stopped:
                return
            except SweepError as e:
                print('error: %s' % e, file=sys.stderr)
                stop.set()
                return
            with lock:
                results[state] += 1
                k = results['done'] + results['failed']
                if state == 'done':
                    print('[%d/%d] done   %s (%.1f s)' % (k, total, run.id, time.time() - t0), flush=True)
                else:
                    info = read_kv(os.path.join(sweep.run_dir(run), 'failed')) or {}
                    print('[%d/%d] FAILED %s (%s), log: %s' % (k, total, run.id, info.get('reason'),
                                                               rel(sweep.log_path(run))), flush=True)

    def on_term(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, on_term)
    # Started with `&` from a script, SIGINT arrives ignored; Ctrl-C or `kill -INT` must still stop us.
    old_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    ended = [threading.Event() for _ in range(min(jobs, total))]
    for e in ended:
        threading.Thread(target=worker, args=(e,), daemon=True).start()
    # Polling with sleep, not Thread.join: a join interrupted by Ctrl-C can leave the thread looking
    # finished (CPython), and we would exit while a worker still writes its run's markers.
    try:
        while not all(e.is_set() for e in ended):
            time.sleep(0.1)
    except KeyboardInterrupt:
        stop.set()
        print('\nstopping: the runs in progress are stopped and stay pending', flush=True)
        stop_children(procs)
        deadline = time.time() + 30
        while not all(e.is_set() for e in ended) and time.time() < deadline:
            time.sleep(0.1)
        signal.signal(signal.SIGTERM, old)
        signal.signal(signal.SIGINT, old_int)
        return 130
    signal.signal(signal.SIGTERM, old)
    signal.signal(signal.SIGINT, old_int)
    return 0


# ---- slurm executor ----------------------------------------------------------------------------------

def need(tool):
    if shutil.which(tool) is None:
        raise SweepError('%s not found: the slurm executor needs Slurm\'s client commands (sbatch, squeue) '
                         'on PATH' % tool)


def slurm_jobs(sweep):
    """[(job id, runs file)] from DIR/slurm/jobs.txt, oldest first."""
    path = os.path.join(sweep.dir, 'slurm', 'jobs.txt')
    out = []
    try:
        with open(path, encoding='utf-8') as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2:
                    out.append((parts[0], parts[1]))
    except FileNotFoundError:
        pass
    return out


def squeue_states(sweep):
    """{run id: 'PENDING'|'RUNNING'|...} for the array tasks of this sweep still in Slurm's queue,
    and {job id: count}. Queries the user's jobs (a finished job id that Slurm has forgotten is not
    an error then)."""
    jobs = slurm_jobs(sweep)
    if not jobs:
        return {}, {}
    need('squeue')
    user = os.environ.get('USER') or str(os.getuid())
    try:
        import pwd
        user = pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        pass
    cmd = ['squeue', '-h', '-r', '-u', user, '-o', '%F|%K|%T']
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SweepError('%s failed (exit %d): %s' % (' '.join(cmd), p.returncode, p.stderr.strip()))
    lists = {}
    for job, runs_file in jobs:
        try:
            with open(os.path.join(sweep.dir, 'slurm', runs_file), encoding='utf-8') as f:
                lists[job] = [line.strip() for line in f if line.strip()]
        except OSError:
            lists[job] = []
    states, per_job = {}, {}
    for line in p.stdout.splitlines():
        parts = line.strip().split('|')
        if len(parts) != 3 or parts[0] not in lists:
            continue
        job, task, st = parts
        per_job[job] = per_job.get(job, 0) + 1
        ids = lists[job]
        # a pending array not yet split shows its task range (e.g. 0-3 or 0-7%2)
        for idx in expand_tasks(task):
            if 0 <= idx < len(ids):
                states[ids[idx]] = st
    return states, per_job


def expand_tasks(spec):
    spec = spec.split('%', 1)[0].strip('[]')
    out = []
    for part in spec.split(','):
        m = re.match(r'^(\d+)(?:-(\d+))?(?::(\d+))?$', part)
        if m:
            a = int(m.group(1))
            b = int(m.group(2)) if m.group(2) else a
            out.extend(range(a, b + 1, int(m.group(3) or 1)))
    return out


def slurm_script(sweep, runs_file, n, a):
    lines = ['#!/bin/bash',
             '# written by scripts/sweep.py: one array task per line of %s' % runs_file,
             '#SBATCH --job-name=sweep-%s' % os.path.basename(sweep.dir),
             '#SBATCH --array=0-%d%s' % (n - 1, '%%%d' % a.jobs if a.jobs else ''),
             '#SBATCH --cpus-per-task=%d' % a.cpus_per_task,
             '#SBATCH --ntasks=1',
             '#SBATCH --time=%d' % a.time,
             '#SBATCH --chdir=%s' % ROOT,
             '#SBATCH --output=%s/slurm/%%A_%%a.out' % sweep.dir]
    if a.partition:
        lines.append('#SBATCH --partition=%s' % a.partition)
    if a.account:
        lines.append('#SBATCH --account=%s' % a.account)
    if a.gpus:
        lines.append('#SBATCH --gres=gpu:%d' % a.gpus if a.gpus_option == 'gres'
                     else '#SBATCH --gpus=%d' % a.gpus)
    lines.append('exec python3 %s exec --out %s --runs-file %s --index "$SLURM_ARRAY_TASK_ID"'
                 % (shlex.quote(SELF), shlex.quote(sweep.dir), shlex.quote(runs_file)))
    return '\n'.join(lines) + '\n'


def submit_slurm(sweep, todo, a):
    sdir = os.path.join(sweep.dir, 'slurm')
    os.makedirs(sdir, exist_ok=True)
    k = len(slurm_jobs(sweep)) + 1
    runs_file = 'runs-%d.txt' % k
    script = os.path.join(sdir, 'job-%d.sh' % k)
    ids = ''.join(r.id + '\n' for r in todo)
    write_atomic(os.path.join(sdir, runs_file), ids)
    write_atomic(os.path.join(sdir, 'runs.txt'), ids)
    write_atomic(script, slurm_script(sweep, runs_file, len(todo), a))
    os.chmod(script, 0o755)
    cmd = ['sbatch', '--parsable'] + list(a.sbatch_arg or []) + [script]
    if a.dry_run:
        print('dry run: would submit %d runs with: %s' % (len(todo), ' '.join(shlex.quote(c) for c in cmd)))
        return None
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SweepError('%s failed (exit %d): %s' % (' '.join(cmd), p.returncode, p.stderr.strip()))
    job = p.stdout.strip().split(';')[0]
    if not job.isdigit():
        raise SweepError('sbatch printed "%s", not a job id' % p.stdout.strip())
    with open(os.path.join(sdir, 'jobs.txt'), 'a', encoding='utf-8') as f:
        f.write('%s %s %d %s\n' % (job, runs_file, len(todo), now_iso()))
    print('submitted Slurm job %s: an array of %d run%s (%s), batch script %s'
          % (job, len(todo), '' if len(todo) == 1 else 's', rel(os.path.join(sdir, runs_file)), rel(script)), flush=True)
    return job


def wait_slurm(sweep, poll):
    last = None
    try:
        while True:
            states, per_job = squeue_states(sweep)
            by = counts(sweep, states)
            queued = sum(1 for st in states.values() if st == 'PENDING')
            line = 'slurm: %d queued, %d running; runs: %d done, %d failed of %d' % (
                queued, len(by['running']), len(by['done']), len(by['failed']), len(sweep.runs))
            if line != last:
                print('%s %s' % (time.strftime('%H:%M:%S'), line), flush=True)
                last = line
            if not per_job:
                return
            time.sleep(poll)
    except KeyboardInterrupt:
        print('\nstopped waiting; the Slurm jobs go on (`sweep.py status --out %s`)' % rel(sweep.dir))
        raise SystemExit(130)


# ---- commands --------------------------------------------------------------------------------------

def cmd_run(a):
    sweep = Sweep(a.out)
    lock = lock_sweep(sweep)
    sweep.init_from_grid(a.grid)
    resolve_command(sweep.settings['command'])
    queued = {}
    if a.executor == 'slurm' and not a.dry_run:
        need('sbatch')
    if slurm_jobs(sweep) and not a.dry_run:
        if a.executor == 'local' and shutil.which('squeue') is None:
            raise SweepError('%s: this sweep has Slurm jobs (slurm/jobs.txt) but squeue is not found here: '
                             'run it where Slurm is, or check that they have ended' % sweep.dir)
        queued, per_job = squeue_states(sweep)
        if per_job:
            raise SweepError('%s: Slurm job %s of this sweep is still queued or running: wait for it '
                             '(`sweep.py status --out %s`) or scancel it first'
                             % (sweep.dir, ','.join(sorted(per_job)), a.out))
    by = counts(sweep, queued)
    todo = to_run(sweep, by, a.resubmit_failed)
    print('%d runs: %d done, %d failed, %d running, %d pending; %d to run'
          % (len(sweep.runs), len(by['done']), len(by['failed']), len(by['running']), len(by['pending']),
             len(todo)), flush=True)
    if by['failed'] and not a.resubmit_failed:
        for r in by['failed']:
            print('  failed earlier, not rerun: %s, log: %s' % (r.id, rel(sweep.log_path(r))))
        print('  (--resubmit-failed runs them again)')
    if by['running']:
        print('  running elsewhere, left alone: %s' % ' '.join(r.id for r in by['running']))
    if a.executor == 'local':
        if todo:
            jobs = a.jobs or usable_cpus()
            threads = a.threads or max(1, usable_cpus() // min(jobs, len(todo)))
            rc = run_local(sweep, todo, jobs, threads)
            if rc:
                lock.close()
                report(sweep)
                return rc
    elif todo:
        submit_slurm(sweep, todo, a)
        if a.dry_run:
            return 0
        lock.close()
        if not a.wait:
            return 0
        wait_slurm(sweep, a.poll)
    lock.close()
    by = report(sweep)
    return 0 if len(by['done']) == len(sweep.runs) else 1


def cmd_status(a):
    sweep = Sweep(a.out).load()
    queued, per_job = ({}, {})
    jobs = slurm_jobs(sweep)
    line = None
    if jobs:
        if shutil.which('squeue'):
            queued, per_job = squeue_states(sweep)
            line = 'slurm jobs: %s' % ', '.join('%s (%s)' % (j, '%d tasks in the queue' % per_job[j]
                                                            if j in per_job else 'left the queue')
                                                for j, _ in jobs)
        else:
            line = 'slurm jobs: %s (squeue not found: queue state unknown)' % ', '.join(j for j, _ in jobs)
    report(sweep, queued, line)
    return 0


def cmd_collect(a):
    sweep = Sweep(a.out).load()
    params, results, rows = [], [], []
    for r in sweep.runs:
        for k in r.params:
            if k not in params:
                params.append(k)
    for r in sweep.runs:
        if sweep.state(r) != 'done':
            continue
        path = os.path.join(sweep.run_dir(r), 'result.csv')
        why = check_result(path)
        if why:
            raise SweepError('%s: %s' % (path, why))
        with open(path, newline='', encoding='utf-8') as f:
            head, values = [row for row in csv.reader(f) if row]
        row = dict(run_id=r.id, **r.params)
        for k, v in zip(head, values):
            if k in row and row[k] != v:
                raise SweepError('%s: column %s=%s contradicts the run\'s %s=%s'
                                 % (path, k, v, k, row[k]))
            if k not in params and k != 'run_id' and k not in results:
                results.append(k)
            row[k] = v
        rows.append(row)
    out = io.StringIO()
    w = csv.writer(out, lineterminator='\n')
    cols = ['run_id'] + params + results
    w.writerow(cols)
    for row in rows:
        w.writerow([row.get(c, '') for c in cols])
    path = os.path.join(sweep.dir, 'results.csv')
    write_atomic(path, out.getvalue())
    print('wrote %s: %d of %d runs%s' % (rel(path), len(rows), len(sweep.runs),
                                         '' if len(rows) == len(sweep.runs) else ' (the others are not done)'))
    return 0


def cmd_list(a):
    settings, runs = parse_grid(a.grid)
    for r in runs:
        print('%s\t%s' % (r.id, ' '.join('%s=%s' % kv for kv in r.params.items())))
    return 0


def cmd_exec(a):
    """One array task: the run on line INDEX of the runs file."""
    sweep = Sweep(a.out).load()
    runs_file = os.path.join(sweep.dir, 'slurm', a.runs_file)
    try:
        with open(runs_file, encoding='utf-8') as f:
            ids = [line.strip() for line in f if line.strip()]
    except OSError as e:
        raise SweepError('%s: %s' % (runs_file, e.strerror))
    if not 0 <= a.index < len(ids):
        raise SweepError('%s: index %d, but the file lists %d runs' % (runs_file, a.index, len(ids)))
    by_id = {r.id: r for r in sweep.runs}
    if ids[a.index] not in by_id:
        raise SweepError('%s: run %s is not in %s' % (runs_file, ids[a.index], sweep.meta_path))
    run = by_id[ids[a.index]]
    if sweep.state(run) == 'done':
        print('%s is done already' % run.id)
        return 0
    threads = a.threads or int(os.environ.get('SLURM_CPUS_PER_TASK', '0') or 0) or 1
    stop, procs = threading.Event(), {}

    def on_signal(signum, frame):
        stop.set()
        for p in list(procs.values()):
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    extra = {}
    if os.environ.get('SLURM_ARRAY_JOB_ID'):
        extra['slurm_job'] = '%s_%s' % (os.environ['SLURM_ARRAY_JOB_ID'], os.environ.get('SLURM_ARRAY_TASK_ID'))
    try:
        state = execute(sweep, run, threads, stop, procs, extra)
    except Stopped:
        print('%s: stopped by a signal; it stays pending' % run.id)
        return 143
    print('%s: %s' % (run.id, state))
    return 0 if state == 'done' else 1


def main(argv=None):
    ap = argparse.ArgumentParser(prog='sweep.py', description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest='cmd', required=True)
    r = sub.add_parser('run', help='run the pending runs of a grid')
    r.add_argument('grid')
    r.add_argument('--out', required=True)
    r.add_argument('--executor', choices=('local', 'slurm'), default='local')
    r.add_argument('--jobs', type=int, default=0, help='local: runs at a time (default: CPUs); slurm: array limit')
    r.add_argument('--threads', type=int, default=0, help='local: THREADS per run (default: CPUs / jobs)')
    r.add_argument('--resubmit-failed', action='store_true')
    r.add_argument('--partition')
    r.add_argument('--account')
    r.add_argument('--time', type=int, default=60, help='slurm: time limit per run in minutes')
    r.add_argument('--cpus-per-task', type=int, default=1)
    r.add_argument('--gpus', type=int, default=0)
    r.add_argument('--gpus-option', choices=('gres', 'gpus'), default='gres')
    r.add_argument('--sbatch-arg', action='append', help='passed to sbatch as is (repeatable)')
    r.add_argument('--wait', dest='wait', action='store_true', default=True)
    r.add_argument('--no-wait', dest='wait', action='store_false')
    r.add_argument('--poll', type=float, default=10.0, help='slurm: seconds between squeue calls')
    r.add_argument('--dry-run', action='store_true', help='slurm: write the batch script, do not submit')
    s = sub.add_parser('status', help='counts of done/failed/running/pending runs')
    s.add_argument('--out', required=True)
    c = sub.add_parser('collect', help='write DIR/results.csv')
    c.add_argument('--out', required=True)
    li = sub.add_parser('list', help='the runs of a grid')
    li.add_argument('grid')
    e = sub.add_parser('exec', help='one run (called by each Slurm array task)')
    e.add_argument('--out', required=True)
    e.add_argument('--index', type=int, required=True)
    e.add_argument('--runs-file', default='runs.txt', help='in DIR/slurm/ (default runs.txt)')
    e.add_argument('--threads', type=int, default=0)
    a = ap.parse_args(argv)
    for opt in ('jobs', 'threads', 'gpus'):
        if getattr(a, opt, 0) is not None and getattr(a, opt, 0) < 0:
            ap.error('--%s must be >= 0' % opt)
    if a.cmd == 'run':
        if a.cpus_per_task < 1 or a.time < 1 or a.poll <= 0:
            ap.error('--cpus-per-task and --time must be >= 1, --poll > 0')
    try:
        return {'run': cmd_run, 'status': cmd_status, 'collect': cmd_collect, 'list': cmd_list,
                'exec': cmd_exec}[a.cmd](a)
    except SweepError as err:
        print('sweep.py: error: %s' % err, file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
