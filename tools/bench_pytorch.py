#!/usr/bin/python3
"""The benchmark workloads of resnet-ts (src/bench/workloads.ts) on PyTorch's CPU backend.

    /usr/bin/python3 tools/bench_pytorch.py --workload resnet20-train [--threads 2] [--runs R] [--warmup N]

Prints one JSON object with the fields of `resnet bench --json` (workload, engine, backend, threads,
imagesPerSecond, msPerBatch, gflops, peakRssBytes, runs, timesMs, ...). Same rules as
src/bench/measure.ts: warm-up runs excluded, then timed runs of one batch each, median reported.
Random weights and data. The networks are tools/resnet_torch.py's: ResNet-20 is the paper's CIFAR
net with option-A shortcuts; ResNet-18/50 are in torchvision's layout (stride on the 3x3 conv of a
bottleneck).

Needs torch and torchvision (Debian: python3-torch, python3-torchvision; run with /usr/bin/python3).
"""

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from resnet_torch import init_he, make_net  # noqa: E402

WORKLOADS = {
    'resnet20-train': dict(net='resnet20', mode='train', batch=128, size=32, classes=10),
    'resnet20-eval': dict(net='resnet20', mode='eval', batch=128, size=32, classes=10),
    'resnet18-b1': dict(net='resnet18', mode='eval', batch=1, size=224, classes=1000),
    'resnet18-b16': dict(net='resnet18', mode='eval', batch=16, size=224, classes=1000),
    'resnet50-b1': dict(net='resnet50', mode='eval', batch=1, size=224, classes=1000),
    'resnet50-b16': dict(net='resnet50', mode='eval', batch=16, size=224, classes=1000),
}


def make_bench_net(name, classes):
    """ResNet-20 as the paper (option A); ResNet-18/50 in torchvision's layout (option B, the
    bottleneck strides its 3x3 conv), as src/bench/workloads.ts builds them; He initialization."""
    if name == 'resnet20':
        return init_he(make_net(name, classes))
    return init_he(make_net(name, classes, shortcut='B', stride_in='3x3'))


def count_macs(model, size):
    """Multiply-accumulates of one image's forward pass: convolutions and linear layers, as resnet-ts counts them."""
    total = 0

    def hook(m, inputs, out):
        nonlocal total
        if isinstance(m, nn.Conv2d):
            kh, kw = m.kernel_size
            total += out.numel() * (m.in_channels // m.groups) * kh * kw
        elif isinstance(m, nn.Linear):
            total += out.numel() * m.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    model.train(was_training)
    for h in handles:
        h.remove()
    return total


def auto_runs(last_ms, target_seconds=20):
    lo = 3 if last_ms > 10_000 else 5
    return max(lo, min(30, -(-int(target_seconds * 1000) // max(int(last_ms), 1))))


def onednn_isa():
    """The instruction set oneDNN runs PyTorch's convolutions with here (it prints it on its first
    verbose line), or None: it decides how wide PyTorch's vectors are (AVX2: 8 floats, AVX-512: 16)."""
    if not torch.backends.mkldnn.is_available():
        return None
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with tempfile.TemporaryFile() as out:
            os.dup2(out.fileno(), 1)  # oneDNN writes to the C stdout
            try:
                with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
                    # large enough for PyTorch to hand it to oneDNN
                    torch.nn.functional.conv2d(torch.zeros(1, 64, 56, 56), torch.zeros(64, 64, 3, 3), padding=1)
            finally:
                os.dup2(saved, 1)
            out.seek(0)
            text = out.read().decode(errors='replace')
    except Exception:  # an optional probe: the benchmark goes on without it
        return None
    finally:
        os.close(saved)
    for line in text.splitlines():
        if ',isa:' in line:
            return line.split(',isa:', 1)[1].strip()
    return None


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--workload', required=True, choices=sorted(WORKLOADS))
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--runs', type=int, default=None)
    p.add_argument('--warmup', type=int, default=None)
    p.add_argument('--json', action='store_true', help='accepted for symmetry: the output is always JSON')
    args = p.parse_args()

    w = WORKLOADS[args.workload]
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    isa = onednn_isa()
    model = make_bench_net(w['net'], w['classes'])
    macs_per_image = count_macs(model, w['size'])
    x = torch.rand(w['batch'], 3, w['size'], w['size']) * 2 - 1
    labels = torch.randint(0, w['classes'], (w['batch'],))

    if w['mode'] == 'train':
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), labels)
            loss.backward()
            opt.step()
            loss.item()
    else:
        model.eval()

        def step():
            with torch.no_grad():
                model(x).numpy()

    def timed():
        t0 = time.perf_counter()
        step()
        return (time.perf_counter() - t0) * 1000

    warmup, last = 0, 0.0
    while (warmup < args.warmup) if args.warmup is not None else (warmup == 0 or (warmup == 1 and last <= 10_000)):
        last = timed()
        warmup += 1
    runs = args.runs if args.runs is not None else auto_runs(last)
    times = [timed() for _ in range(runs)]

    ms = statistics.median(times)
    flops = 2 * macs_per_image * w['batch'] * (3 if w['mode'] == 'train' else 1)
    print(json.dumps({
        'workload': args.workload, 'engine': 'pytorch', 'backend': 'cpu', 'threads': torch.get_num_threads(),
        'mode': w['mode'], 'batch': w['batch'],
        'msPerBatch': round(ms, 3), 'imagesPerSecond': round(w['batch'] * 1000 / ms, 3),
        'gflops': round(flops / (ms * 1e6), 3), 'flopsPerBatch': flops, 'macsPerImage': macs_per_image,
        'peakRssBytes': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        'warmup': warmup, 'runs': len(times), 'timesMs': [round(t, 3) for t in times],
        'version': f'torch {torch.__version__}' + (f', oneDNN convolutions: {isa}' if isa else ''),
    }, indent=2))


if __name__ == '__main__':
    main()
