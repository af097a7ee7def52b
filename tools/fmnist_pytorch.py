#!/usr/bin/env python3
"""The same run as `resnet train --net resnet20 --data fashion-mnist --epochs E`, in PyTorch.

The paper's CIFAR recipe (Sec. 4.2) scaled to E epochs, as resnet-ts runs it:
  ResNet-20 (3 stages of 3 basic blocks, 16/32/64 filters, option-A shortcuts), 1 input channel;
  SGD batch 128 (the last incomplete batch of an epoch dropped), lr 0.1, momentum 0.9,
  weight decay 1e-4, lr /10 at 50% and 75% of the iterations; augmentation: 4 zero pixels of
  padding on each side, a random 28x28 crop, a random horizontal flip; per-pixel mean of the
  training images (in [0, 1] units) subtracted; test on the image itself.
  Initialization as torchvision: Kaiming normal (fan_out) convs, BN 1/0, default Linear.

  /usr/bin/python3 tools/fmnist_pytorch.py --epochs 6 [--dir /usr/share/datasets/fashion-mnist]
      [--threads 2] [--val 0] [--seed 0] [--json] [--depth 56] [--iterations N --log-every K]

--depth picks another CIFAR net of the paper (6n+2: 20, 32, 44, 56, 110; option A); --iterations
stops after N iterations (the milestones stay at 50% and 75% of the --epochs length, as a prefix of
that run); --log-every K prints the mean training loss and error of every K iterations.

Prints per-epoch lines and a final JSON line: test error, accuracy, seconds, images/s.
Debian's python3-torch (1.13, CPU) is enough; torchvision is not needed. The network is
tools/resnet_torch.py's (torchvision's module names), the data read by tools/idx.py.
"""

import argparse
import json
import os
import sys
import time

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError:
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != "/usr/bin/python3" \
            and not os.environ.get("_FMNIST_REEXEC"):
        os.environ["_FMNIST_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from idx import read_idx  # noqa: E402
from resnet_torch import init_he, make_net  # noqa: E402


def read_images(path):
    """An IDX file as a numpy uint8 array of its shape."""
    shape, payload = read_idx(path)
    return np.frombuffer(payload, dtype=np.uint8).reshape(shape)


def find(d, name):
    for f in (name, name + ".gz"):
        if os.path.exists(os.path.join(d, f)):
            return os.path.join(d, f)
    raise FileNotFoundError(f"{name}[.gz] not in {d}")


def augment(x, pad, gen):
    """x: [n, 1, h, w] floats in [0, 1], mean not yet subtracted. Pad with zeros, random crop, random flip."""
    n, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    out = torch.empty_like(x)
    for i in range(n):
        v = padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
        out[i] = v.flip(-1) if flip[i] else v
    return out


def evaluate(model, x, y, mean, batch=500):
    model.eval()
    wrong = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            logits = model(x[i:i + batch] - mean)
            wrong += (logits.argmax(1) != y[i:i + batch]).sum().item()
    model.train()
    return wrong / len(x)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dir", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--epochs", type=float, default=6)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--depth", type=int, default=20)
    p.add_argument("--iterations", type=int, default=None)
    p.add_argument("--log-every", type=int, default=50)
    args = p.parse_args()
    if (args.depth - 2) % 6 != 0:
        p.error("--depth must be 6n+2 (20, 32, 44, 56, 110)")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    xtr = torch.from_numpy(read_images(find(args.dir, "train-images-idx3-ubyte")).copy()).float().div_(255).unsqueeze(1)
    ytr = torch.from_numpy(read_images(find(args.dir, "train-labels-idx1-ubyte")).astype(np.int64))
    xte = torch.from_numpy(read_images(find(args.dir, "t10k-images-idx3-ubyte")).copy()).float().div_(255).unsqueeze(1)
    yte = torch.from_numpy(read_images(find(args.dir, "t10k-labels-idx1-ubyte")).astype(np.int64))
    mean = xtr.mean(0, keepdim=True)  # per-pixel mean image [1, 1, 28, 28]

    model = init_he(make_net(f"resnet{args.depth}", in_channels=1))
    per_epoch = len(xtr) // args.batch_size
    total = round(args.epochs * per_epoch)
    milestones = [round(0.5 * total), round(0.75 * total)]
    if args.iterations is not None:
        total = min(total, args.iterations)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=0.1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {len(xtr)} train, {len(xte)} test; "
          f"{total} iterations, lr /10 at {milestones}", file=sys.stderr)

    start = time.perf_counter()
    it = 0
    epoch = 0
    window = [0.0, 0, 0]  # loss sum, wrong, images of the last --log-every iterations
    while it < total:
        perm = torch.randperm(len(xtr), generator=gen)
        loss_sum, wrong, seen = 0.0, 0, 0
        for b in range(per_epoch):
            if it >= total:
                break
            idx = perm[b * args.batch_size:(b + 1) * args.batch_size]
            x = xtr[idx]
            if not args.no_augment:
                x = augment(x, 4, gen)
            x = x - mean
            y = ytr[idx]
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            it += 1
            loss_sum += loss.item() * len(y)
            wrong += (logits.argmax(1) != y).sum().item()
            seen += len(y)
            window[0] += loss.item() * len(y)
            window[1] += (logits.argmax(1) != y).sum().item()
            window[2] += len(y)
            if it % args.log_every == 0:
                el = time.perf_counter() - start
                print(f"iter {it}/{total} loss {window[0] / window[2]:.4f} error {100 * window[1] / window[2]:.2f}% "
                      f"{it * args.batch_size / el:.1f} img/s", file=sys.stderr)
                window = [0.0, 0, 0]
        epoch += 1
        el = time.perf_counter() - start
        print(f"epoch {epoch}: train loss {loss_sum / seen:.4f}, train error {100 * wrong / seen:.2f}%, "
              f"{it} iterations, {el:.0f} s, {it * args.batch_size / el:.1f} img/s", file=sys.stderr)
    train_seconds = time.perf_counter() - start
    t0 = time.perf_counter()
    test_error = evaluate(model, xte, yte, mean)
    test_seconds = time.perf_counter() - t0
    print(json.dumps({
        "framework": f"pytorch {torch.__version__}", "threads": torch.get_num_threads(), "epochs": args.epochs,
        "iterations": total, "milestones": milestones, "testError": test_error, "testAccuracy": 1 - test_error,
        "trainSeconds": train_seconds, "trainImagesPerSecond": total * args.batch_size / train_seconds,
        "testSeconds": test_seconds,
    }))


if __name__ == "__main__":
    main()
