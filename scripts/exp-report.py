#!/usr/bin/env python3
"""exp-report.py: tables and plots of an experiments run (scripts/experiments.sh), from the
results.csv that `sweep.py collect` writes (one row per run: run_id, the grid's parameters
method/alpha/per_class/seed/at, and exp-run.sh's result columns) and the runs' training logs.

Usage:
  exp-report.py best-alpha RESULTS.csv PER_CLASS   the Siamese alpha with the highest mean top-1
                                                   on that subset size (branches after the last stage)
  exp-report.py seeds RESULTS.csv PER_CLASS        the seeds of those runs, space-separated
  exp-report.py report OUT [--command C] [--seconds S]
      reads OUT/sweep/results.csv, OUT/sweep/runs/<id>/train.log, OUT/grid-mixpoint.txt or
      OUT/grid.txt, OUT/boundary.txt; writes OUT/results.md and OUT/plots/{accuracy_vs_alpha,
      accuracy_vs_size,loss_curves}.png (gnuplot, pngcairo) with the .dat and .gp files that drew them.

Accuracies are top-1 on the subset's test images, in percent: mean +- sample standard deviation
over the seeds (n = number of seeds; a lone run shows no deviation). Only the Python standard
library and gnuplot are used. Exit status 1 with a message on missing or malformed input.
"""

import csv
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time

LAST_STAGE = '3'
MIXERS = ('mixup', 'cutmix', 'manifold')
NAMES = {'baseline': 'baseline', 'mixup': 'input mixup', 'cutmix': 'CutMix', 'manifold': 'manifold mixup',
         'siamese': 'Siamese Ensemble', 'control': 'two branches, no mixing (control)'}
ORDER = ('baseline', 'mixup', 'cutmix', 'manifold', 'siamese', 'control')
LOSS_RE = re.compile(r'^(\d+), [0-9.]+: [-0-9.naif]+, ([-0-9.naif]+) avg')


class ReportError(Exception):
    pass


# ---- reading -----------------------------------------------------------------------------------

def fnum(row, key, path):
    v = row.get(key, '')
    try:
        return float(v)
    except ValueError:
        raise ReportError('%s: run %s: %s=%r is not a number' % (path, row.get('run_id', '?'), key, v))


def read_results(path):
    try:
        with open(path, newline='', encoding='utf-8') as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise ReportError('%s: %s' % (path, e.strerror))
    need = ('run_id', 'method', 'per_class', 'seed', 'top1', 'top2')
    if rows:
        missing = [k for k in need if k not in rows[0]]
        if missing:
            raise ReportError('%s: no column %s (is it sweep.py collect\'s results.csv of an '
                              'experiments grid?)' % (path, ', '.join(missing)))
    runs = []
    for r in rows:
        run = dict(r)
        run['alpha'] = r.get('alpha', '') or ''
        run['at'] = r.get('at', '') or LAST_STAGE
        run['per_class'] = int(fnum(r, 'per_class', path))
        run['seed'] = r['seed']
        for k in ('top1', 'top2'):
            run[k] = 100 * fnum(r, k, path)
        for k in ('top1_branch_a', 'top1_branch_b'):
            run[k] = 100 * fnum(r, k, path) if r.get(k, '') != '' else None
        for k in ('train_seconds', 'cpu_seconds', 'run_seconds', 'final_loss'):
            run[k] = fnum(r, k, path) if r.get(k, '') not in ('', None) else None
        if run['method'] not in NAMES:
            raise ReportError('%s: run %s: unknown method %r' % (path, run['run_id'], run['method']))
        runs.append(run)
    if not runs:
        raise ReportError('%s: no finished runs' % path)
    return runs


def alpha_key(a):
    try:
        return (0, float(a))
    except ValueError:
        return (1, 0.0)


def key_of(run):
    """A method as the tables list it: (method, alpha); mixing-point runs apart."""
    alpha = '' if run['method'] in ('baseline', 'control') else run['alpha']
    return (run['method'], alpha)


def label(key):
    m, a = key
    return NAMES[m] + (' α=%s' % a if a else '')


def sort_key(key):
    return (ORDER.index(key[0]), alpha_key(key[1]))


def main_runs(runs):
    return [r for r in runs if r['at'] == LAST_STAGE]


def stats(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return (statistics.mean(xs), statistics.stdev(xs) if len(xs) > 1 else None, len(xs))


def fmt(s, n_expected=None, bold=False):
    if s is None:
        return '–'
    m, sd, n = s
    text = '%.2f' % m + (' ± %.2f' % sd if sd is not None else '')
    if bold:
        text = '**%s**' % text
    if n_expected is not None and n != n_expected:
        text += ' (n=%d)' % n
    return text


def group(runs, keyf):
    out = {}
    for r in runs:
        out.setdefault(keyf(r), []).append(r)
    return out


def best_alpha(runs, size):
    se = [r for r in main_runs(runs) if r['method'] == 'siamese' and r['per_class'] == size]
    if not se:
        raise ReportError('no Siamese runs on %d images per class: the mixing point needs them' % size)
    by = group(se, lambda r: r['alpha'])
    return max(sorted(by, key=alpha_key), key=lambda a: statistics.mean(r['top1'] for r in by[a]))


# ---- plots -------------------------------------------------------------------------------------

def gnuplot(plots, name, script, data):
    for fname, text in data.items():
        with open(os.path.join(plots, fname), 'w', encoding='utf-8') as f:
            f.write(text)
    gp = os.path.join(plots, name + '.gp')
    with open(gp, 'w', encoding='utf-8') as f:
        f.write("set terminal pngcairo noenhanced size 900,640 font 'sans,11'\nset output '%s.png'\n" % name)
        f.write("set key below maxrows 4 width 2\nset grid\n" + script)
    p = subprocess.run(['gnuplot', name + '.gp'], cwd=plots, capture_output=True, text=True)
    if p.returncode != 0 or not os.path.exists(os.path.join(plots, name + '.png')):
        raise ReportError('gnuplot failed on %s: %s' % (gp, p.stderr.strip()[-500:]))


def read_loss(path, points=300):
    """(iteration, running average loss) pairs of a Darknet training log, about `points` of them."""
    pts = []
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            for line in f:
                m = LOSS_RE.match(line)
                if m:
                    pts.append((int(m.group(1)), float(m.group(2))))
    except OSError:
        return []
    step = max(1, len(pts) // points)
    return [p for i, p in enumerate(pts) if i % step == 0 or i == len(pts) - 1]


def plot_all(out, runs, sizes, best, mixpoint_size):
    plots = os.path.join(out, 'plots')
    os.makedirs(plots, exist_ok=True)
    main = main_runs(runs)
    cell = group(main, lambda r: (key_of(r), r['per_class']))
    pngs = []

    # accuracy vs alpha: Siamese Ensembles per size, the baseline as a dashed line of the same colour
    lines, data = [], {}
    alphas = sorted({r['alpha'] for r in main if r['method'] == 'siamese'}, key=alpha_key)
    for i, size in enumerate(sizes, 1):
        rows = []
        for k in sorted({key_of(r) for r in main if r['method'] == 'siamese'}, key=sort_key):
            s = stats(r['top1'] for r in cell.get((k, size), []))
            if s:
                rows.append('%s %.4f %.4f\n' % (k[1], s[0], s[1] or 0))
        if not rows:
            continue
        data['alpha_%d.dat' % size] = '# alpha top1_mean top1_std\n' + ''.join(rows)
        lines.append("'alpha_%d.dat' using 1:2:3 with yerrorlines lc %d pt 7 title 'Siamese Ensemble, %d/class'"
                     % (size, i, size))
        b = stats(r['top1'] for r in cell.get((('baseline', ''), size), []))
        if b:
            lines.append("%.4f with lines lc %d dt 2 title 'baseline, %d/class'" % (b[0], i, size))
    if lines:
        gnuplot(plots, 'accuracy_vs_alpha',
                "set title 'Siamese Ensembles: test top-1 vs alpha (mean ± std over seeds)'\n"
                "set logscale x\nset xlabel 'alpha (λ ~ Beta(α, α))'\nset ylabel 'top-1 (%)'\n"
                "set xtics (" + ', '.join(alphas) + ")\nset offsets graph 0.05, graph 0.05, 0, 0\n"
                "plot " + ', \\\n     '.join(lines) + '\n', data)
        pngs.append('accuracy_vs_alpha.png')

    # accuracy vs subset size, one line per method (Siamese: the alpha of the mixing-point step)
    keys = [k for k in sorted({key_of(r) for r in main}, key=sort_key) if k[0] != 'siamese' or k[1] == best]
    lines, data = [], {}
    for i, k in enumerate(keys, 1):
        rows = []
        for size in sizes:
            s = stats(r['top1'] for r in cell.get((k, size), []))
            if s:
                rows.append('%d %.4f %.4f\n' % (size, s[0], s[1] or 0))
        if rows:
            fname = 'size_%d.dat' % i
            data[fname] = '# %s\n# per_class top1_mean top1_std\n' % label(k) + ''.join(rows)
            lines.append("'%s' using 1:2:3 with yerrorlines lc %d pt %d title '%s'" % (fname, i, 4 + i % 6, label(k)))
    if lines:
        gnuplot(plots, 'accuracy_vs_size',
                "set title 'Test top-1 vs training images per class (mean ± std over seeds)'\n"
                "set logscale x\nset xlabel 'training images per class'\nset ylabel 'top-1 (%)'\n"
                "set xtics (" + ', '.join(str(x) for x in sizes) + ")\nset offsets graph 0.05, graph 0.05, 0, 0\n"
                "plot " + ', \\\n     '.join(lines) + '\n', data)
        pngs.append('accuracy_vs_size.png')

    # training loss: Darknet's running average, mean over seeds, on the mixing-point subset size
    size = mixpoint_size if mixpoint_size in sizes else sizes[0]
    lines, data = [], {}
    for i, k in enumerate(keys, 1):
        curves = [read_loss(os.path.join(out, 'sweep', 'runs', r['run_id'], 'train.log'))
                  for r in cell.get((k, size), [])]
        curves = [c for c in curves if c]
        if not curves:
            continue
        n = min(len(c) for c in curves)
        rows = ['%d %.5f\n' % (curves[0][j][0], statistics.mean(c[j][1] for c in curves)) for j in range(n)]
        fname = 'loss_%d.dat' % i
        data[fname] = '# %s, %d/class, mean of %d runs\n# iteration avg_loss\n' % (label(k), size, len(curves)) + ''.join(rows)
        lines.append("'%s' using 1:2 with lines lw 2 lc %d title '%s'" % (fname, i, label(k)))
    if lines:
        gnuplot(plots, 'loss_curves',
                "set title \"Training loss, %d images per class (Darknet's running average, mean over seeds)\\n"
                "mixing methods are scored on their mixed labels, so their loss sits higher\"\n"
                "set xlabel 'batch'\nset ylabel 'loss'\n"
                "plot " % size + ', \\\n     '.join(lines) + '\n', data)
        pngs.append('loss_curves.png')
    return pngs


# ---- the report --------------------------------------------------------------------------------

def grid_setting(out, key):
    for name in ('grid-mixpoint.txt', 'grid.txt'):
        try:
            with open(os.path.join(out, name), encoding='utf-8') as f:
                for line in f:
                    if line.strip().startswith('['):
                        break
                    m = re.match(r'^\s*%s\s*=\s*(\S+)' % key, line.split('#', 1)[0])
                    if m:
                        return m.group(1)
        except OSError:
            continue
    return None


def machine():
    model = ''
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            for line in f:
                if line.startswith('model name'):
                    model = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ''
    try:
        with open('/proc/meminfo', encoding='utf-8') as f:
            mem = '%.0f GiB' % (int(f.readline().split()[1]) / 2 ** 20)
    except (OSError, ValueError, IndexError):
        pass
    osname = ''
    try:
        with open('/etc/os-release', encoding='utf-8') as f:
            for line in f:
                if line.startswith('PRETTY_NAME='):
                    osname = line.split('=', 1)[1].strip().strip('"')
    except OSError:
        pass
    return '%d cores (%s), %s, %s' % (os.cpu_count() or 0, model or platform.machine(), mem, osname or platform.system())


def report(out, command, seconds):
    path = os.path.join(out, 'sweep', 'results.csv')
    runs = read_results(path)
    main = main_runs(runs)
    sizes = sorted({r['per_class'] for r in main})
    seeds = sorted({r['seed'] for r in runs}, key=alpha_key)
    n_seeds = len(seeds)
    mixpoint_size = grid_setting(out, 'mixpoint_size')
    mixpoint_size = int(mixpoint_size) if mixpoint_size and mixpoint_size.isdigit() else None
    mp_runs = [r for r in runs if r['method'] == 'siamese' and r['at'] != LAST_STAGE]
    best = mp_runs[0]['alpha'] if mp_runs else (best_alpha(runs, mixpoint_size) if mixpoint_size else '')
    cell = group(main, lambda r: (key_of(r), r['per_class']))
    keys = sorted({key_of(r) for r in main}, key=sort_key)
    tests = sorted({r.get('test_images', '') for r in runs})

    md = []
    w = md.append
    w('# Experiments: Siamese Ensembles vs baseline and mixing methods on Fashion-MNIST\n')
    w('Command: `%s` (%d runs finished; %s s for this invocation, %.0f s of runs in all, %.0f CPU s of '
      'training).  ' % (command, len(runs), seconds if seconds is not None else '?',
                        sum(r['run_seconds'] or 0 for r in runs), sum(r['cpu_seconds'] or 0 for r in runs)))
    w('Machine: %s; %s.  ' % (machine(), time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())))
    w('Backbone: cfg/fashion-baseline.cfg (3 conv stages 16-32-64, batch norm, leaky, global average '
      'pooling, linear head), %s batches of 64 for every run; test images per run: %s; seeds: %s.\n'
      % (grid_setting(out, 'iters') or '?', '/'.join(t for t in tests if t) or '?', ' '.join(seeds)))

    w('## Top-1 accuracy (%%), mean ± std over %d seeds\n' % n_seeds)
    w('| method | ' + ' | '.join('%d/class' % s for s in sizes) + ' |')
    w('|---|' + '---|' * len(sizes))
    best_mean = {s: max((statistics.mean(r['top1'] for r in cell[(k, s)]) for k in keys if (k, s) in cell),
                        default=None) for s in sizes}
    for k in keys:
        cells = []
        for s in sizes:
            st = stats(r['top1'] for r in cell.get((k, s), []))
            cells.append(fmt(st, n_seeds, bold=st is not None and st[0] == best_mean[s]))
        w('| %s | %s |' % (label(k), ' | '.join(cells)))
    w('')

    # where Siamese Ensembles did and did not beat the others
    w('## Siamese Ensembles against the baseline and the mixing methods\n')
    w('Best alpha per size (chosen on the test set, so optimistic), in top-1 points; the ± of a '
      'difference is its standard error, sqrt(sd1²/n1 + sd2²/n2) over the seeds.\n')
    w('| per class | baseline | best mixing method | best Siamese Ensemble | SE − baseline | SE − best mixing | control |')
    w('|---|---|---|---|---|---|---|')
    for s in sizes:
        def best_of(pred):
            ks = [k for k in keys if pred(k) and (k, s) in cell]
            if not ks:
                return None, None
            k = max(ks, key=lambda k: statistics.mean(r['top1'] for r in cell[(k, s)]))
            return k, stats(r['top1'] for r in cell[(k, s)])
        kb, sb = best_of(lambda k: k[0] == 'baseline')
        km, sm = best_of(lambda k: k[0] in MIXERS)
        ks, ss = best_of(lambda k: k[0] == 'siamese')
        kc, sc = best_of(lambda k: k[0] == 'control')

        def diff(a, b):
            if a is None or b is None:
                return '–'
            sd = math.sqrt(((a[1] or 0) ** 2) / a[2] + ((b[1] or 0) ** 2) / b[2])
            return '%+.2f ± %.2f' % (a[0] - b[0], sd)
        w('| %d | %s | %s | %s | %s | %s | %s |' % (
            s, fmt(sb), ('%s: %s' % (label(km), fmt(sm))) if km else '–',
            ('α=%s: %s' % (ks[1], fmt(ss))) if ks else '–', diff(ss, sb), diff(ss, sm), fmt(sc)))
    w('')

    w('## Ensemble vs branches (top-1 %, mean ± std)\n')
    w('Each Siamese run evaluated three ways: branch A alone (`SIAMESE_TEST_LAMBDA=1`), branch B alone '
      '(`=0`) and the ensemble (λ = 0.5).\n')
    w('| method | per class | branch A | branch B | ensemble | ensemble − mean of branches |')
    w('|---|---|---|---|---|---|')
    for k in keys:
        if k[0] not in ('siamese', 'control'):
            continue
        for s in sizes:
            rs = cell.get((k, s), [])
            if not rs:
                continue
            gain = stats(r['top1'] - (r['top1_branch_a'] + r['top1_branch_b']) / 2 for r in rs
                         if r['top1_branch_a'] is not None and r['top1_branch_b'] is not None)
            w('| %s | %d | %s | %s | %s | %s |' % (
                label(k), s, fmt(stats(r['top1_branch_a'] for r in rs)), fmt(stats(r['top1_branch_b'] for r in rs)),
                fmt(stats(r['top1'] for r in rs)), ('%+.2f' % gain[0] + (' ± %.2f' % gain[1] if gain[1] is not None else ''))
                if gain else '–'))
    w('')

    if mp_runs or mixpoint_size:
        w('## Mixing point: where the branches meet (α=%s, %s/class)\n' % (best, mixpoint_size))
        w('Branches are copies of the backbone up to the end of the stage; the layers after it are shared.\n')
        w('| branches meet after | ensemble | branch A | branch B | training s | training CPU s |')
        w('|---|---|---|---|---|---|')
        mp_all = [r for r in runs if r['method'] == 'siamese' and r['alpha'] == best and r['per_class'] == mixpoint_size]
        by_at = group(mp_all, lambda r: r['at'])
        names = {'1': 'stage 1 (conv 16 + maxpool)', '2': 'stage 2 (conv 32 + maxpool)',
                 '3': 'stage 3 (conv 64 + avgpool: the α sweep\'s runs)'}
        for at in sorted(by_at):
            rs = by_at[at]
            w('| %s | %s | %s | %s | %s | %s |' % (
                names.get(at, at), fmt(stats(r['top1'] for r in rs), n_seeds),
                fmt(stats(r['top1_branch_a'] for r in rs)), fmt(stats(r['top1_branch_b'] for r in rs)),
                fmt(stats(r['train_seconds'] for r in rs)), fmt(stats(r['cpu_seconds'] for r in rs))))
        w('')

    w('## Cost per run (mean over sizes and seeds)\n')
    w('| method | training s | training CPU s | whole run s (with evaluation) |')
    w('|---|---|---|---|')
    by_m = group(runs, lambda r: (r['method'], r['at']))
    for m, at in sorted(by_m, key=lambda k: (ORDER.index(k[0]), k[1])):
        rs = by_m[(m, at)]
        name = NAMES[m] + ('' if at == LAST_STAGE else ' (meeting after stage %s)' % at)
        w('| %s | %.1f | %.1f | %.1f |' % (name, statistics.mean(r['train_seconds'] or 0 for r in rs),
                                            statistics.mean(r['cpu_seconds'] or 0 for r in rs),
                                            statistics.mean(r['run_seconds'] or 0 for r in rs)))
    w('')

    pngs = plot_all(out, runs, sizes, best, mixpoint_size)
    w('## Plots\n')
    for p in pngs:
        w('![%s](plots/%s)\n' % (p[:-4].replace('_', ' '), p))
    if os.path.exists(os.path.join(out, 'boundary.png')):
        w('![decision boundaries](boundary.png)\n')
        try:
            with open(os.path.join(out, 'boundary.txt'), encoding='utf-8') as f:
                w('```\n' + f.read().strip() + '\n```\n')
        except OSError:
            pass

    w('## Every run\n')
    w('| run | top-1 | top-2 | branch A | branch B | training s | final loss |')
    w('|---|---|---|---|---|---|---|')
    for r in sorted(runs, key=lambda r: (sort_key(key_of(r)), r['at'], r['per_class'], alpha_key(r['seed']))):
        w('| %s | %.2f | %.2f | %s | %s | %s | %s |' % (
            r['run_id'], r['top1'], r['top2'],
            '%.2f' % r['top1_branch_a'] if r['top1_branch_a'] is not None else '',
            '%.2f' % r['top1_branch_b'] if r['top1_branch_b'] is not None else '',
            '%.1f' % r['train_seconds'] if r['train_seconds'] is not None else '',
            '%.4f' % r['final_loss'] if r['final_loss'] is not None else ''))
    text = '\n'.join(md) + '\n'
    with open(os.path.join(out, 'results.md'), 'w', encoding='utf-8') as f:
        f.write(text)
    print(text[:text.index('## Ensemble vs branches')])
    print('wrote %s and %s' % (os.path.join(out, 'results.md'), ', '.join(os.path.join(out, 'plots', p) for p in pngs)))


def main(argv):
    try:
        if len(argv) == 4 and argv[1] in ('best-alpha', 'seeds'):
            runs = read_results(argv[2])
            size = int(argv[3])
            if argv[1] == 'best-alpha':
                print(best_alpha(runs, size))
            else:
                se = [r for r in main_runs(runs) if r['method'] == 'siamese' and r['per_class'] == size]
                print(' '.join(sorted({r['seed'] for r in se}, key=alpha_key)))
            return 0
        if len(argv) >= 3 and argv[1] == 'report':
            command, seconds, rest = 'make experiments', None, argv[3:]
            while rest:
                if rest[0] == '--command' and len(rest) > 1:
                    command = rest[1]
                elif rest[0] == '--seconds' and len(rest) > 1:
                    seconds = rest[1]
                else:
                    raise ReportError('unknown option %s' % rest[0])
                rest = rest[2:]
            report(argv[2], command, seconds)
            return 0
        sys.stderr.write(__doc__)
        return 2
    except ReportError as e:
        sys.stderr.write('exp-report: %s\n' % e)
        return 1
    except ValueError as e:
        sys.stderr.write('exp-report: %s\n' % e)
        return 1


if __name__ == '__main__':
    sys.exit(main(sys.argv))
