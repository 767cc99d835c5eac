#!/usr/bin/python3
"""torch_train.py: the same training step as bench_train, in PyTorch, for bench/run.sh.

Usage: torch_train.py CFG [--warmup N] [--steps N] [--threads T] [--seed S]
  Builds the network of a Darknet classifier cfg with the layers the benchmark cfgs use:
  [convolutional] (batch_normalize, leaky/linear/relu), [maxpool], [avgpool], [connected],
  [softmax], and a Siamese Ensemble's [branch] / [siamese] (two backbones, lambda ~ Beta(alpha,
  alpha) per batch, a shuffled partner per sample, mixed labels). Darknet's semantics: 3x3 convs
  without bias before batch norm, leaky slope 0.1, max pooling that keeps the last odd row
  (ceil_mode), SGD with momentum and weight decay, softmax cross-entropy with soft labels.
  Synthetic data as bench_train: uniform images and random one-hot labels, 4 batches in turn.
Output as bench_train: "step I MS LOSS", "timed N", "maxrss_kb N", "threads N".
Needs Debian's python3-torch (PyTorch is not on PyPI for this machine); run.sh skips it otherwise.
"""
import argparse
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def read_cfg(path):
    sections = []
    for raw in open(path):
        line = raw.split('#', 1)[0].strip()
        if not line:
            continue
        if line.startswith('['):
            sections.append((line.strip('[]'), {}))
        else:
            k, v = line.split('=', 1)
            sections[-1][1][k.strip()] = v.strip()
    return sections


def activation(name):
    return {'leaky': nn.LeakyReLU(0.1), 'linear': nn.Identity(), 'relu': nn.ReLU()}[name]


def build(sections):
    """Returns (net options, branch A, branch B or None, head, siamese options)."""
    net = sections[0][1]
    c, h, w = int(net['channels']), int(net['height']), int(net['width'])
    parts, cur, shape0, siamese = [], [], (c, h, w), None
    for kind, o in sections[1:]:
        if kind == 'convolutional':
            n, size = int(o['filters']), int(o.get('size', 1))
            stride, pad = int(o.get('stride', 1)), (size // 2 if int(o.get('pad', 0)) else 0)
            bn = int(o.get('batch_normalize', 0))
            cur += [nn.Conv2d(c, n, size, stride, pad, bias=not bn)]
            if bn:
                cur += [nn.BatchNorm2d(n, eps=1e-5, momentum=0.01)]
            cur += [activation(o.get('activation', 'logistic'))]
            c, h, w = n, (h + 2 * pad - size) // stride + 1, (w + 2 * pad - size) // stride + 1
        elif kind == 'maxpool':
            size, stride = int(o.get('size', 1)), int(o.get('stride', 1))
            cur += [nn.MaxPool2d(size, stride, ceil_mode=True)]
            h, w = -(-(h - size) // stride) + 1, -(-(w - size) // stride) + 1
        elif kind == 'avgpool':
            cur += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
            h = w = 1
        elif kind == 'connected':
            cur += [nn.Flatten(), nn.Linear(c * h * w, int(o['output'])), activation(o.get('activation', 'logistic'))]
            c, h, w = int(o['output']), 1, 1
        elif kind == 'softmax':
            pass   # the loss applies log_softmax
        elif kind == 'branch':
            parts.append(nn.Sequential(*cur))
            cur, (c, h, w) = [], shape0
        elif kind == 'siamese':
            parts.append(nn.Sequential(*cur))
            cur, siamese = [], float(o.get('alpha', 0.4))
        else:
            sys.exit(f'torch_train.py: [{kind}] is not supported')
    head = nn.Sequential(*cur)
    if siamese is None:
        return net, nn.Sequential(*(parts + [head])), None, None, None
    return net, parts[0], parts[1], head, siamese


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('cfg')
    ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--steps', type=int, default=5)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--seed', type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    net, branch_a, branch_b, head, alpha = build(read_cfg(a.cfg))
    batch = int(net['batch'])
    c, h, w = int(net['channels']), int(net['height']), int(net['width'])
    modules = [m for m in (branch_a, branch_b, head) if m is not None]
    params = [p for m in modules for p in m.parameters()]
    lr, decay = float(net.get('learning_rate', 0.1)), float(net.get('decay', 0.0005))
    opt = torch.optim.SGD(params, lr=lr, momentum=float(net.get('momentum', 0.9)), weight_decay=decay)
    for m in modules:
        m.train()
    pool = 4
    xs = torch.rand(pool, batch, c, h, w)
    classes = 10
    ys = F.one_hot(torch.randint(0, classes, (pool, batch)), classes).float()
    beta = torch.distributions.Beta(torch.tensor([alpha or 1.0]), torch.tensor([alpha or 1.0]))
    for s in range(a.warmup + a.steps):
        x, y = xs[s % pool], ys[s % pool]
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        if branch_b is None:
            out = branch_a(x)
        else:
            lam = float(beta.sample())
            perm = torch.randperm(batch)
            out = head(lam * branch_a(x) + (1 - lam) * branch_b(x)[perm])
            y = lam * y + (1 - lam) * y[perm]
        loss = -(y * F.log_softmax(out, dim=1)).sum(dim=1).mean()
        loss.backward()
        opt.step()
        ms = 1e3 * (time.perf_counter() - t0)
        print(f'step {s + 1} {ms:.3f} {loss.item():.9g}', flush=True)
        if s + 1 == a.warmup:
            print(f'timed {a.warmup}')
    print(f'maxrss_kb {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}')
    print(f'threads {torch.get_num_threads()}')


if __name__ == '__main__':
    main()
