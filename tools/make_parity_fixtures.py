#!/usr/bin/env python3
"""Write PyTorch reference data for the TypeScript parity tests to test/fixtures/parity/.

Run from the repository root:   python3 tools/make_parity_fixtures.py
(needs torch + torchvision + numpy; Debian's python3-torch 1.13 is what made the committed files.
If the `python3` on PATH has no torch, the script re-executes itself with /usr/bin/python3.)

Deterministic: CPU, float32, torch.manual_seed per fixture, single thread.
Each fixture is one safetensors file (see tools/fixture_io.py) holding
  - the network's initial weights under torchvision state_dict keys (conv1.weight, bn1.running_var,
    layer2.0.downsample.0.weight, fc.bias, bn1.num_batches_tracked (I64), ...),
  - reference tensors under prefixed names: input, labels (I64), logits, features.layerN,
    step0.loss, step0.grad.<param key>, step1.loss, after.<state_dict key>,
  - __metadata__: net, options (JSON string), generator, torch, fixture, seed, description.
"""

import json
import copy
import os
import sys

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != os.path.realpath(
        "/usr/bin/python3"
    ) and not os.environ.get("_PARITY_REEXEC"):
        os.environ["_PARITY_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_io import read_safetensors, write_safetensors  # noqa: E402
from resnet_torch import BasicBlock, Bottleneck, CifarResNet, ImageNetResNet  # noqa: E402

OUT_DIR = os.path.join("test", "fixtures", "parity")
GENERATOR = "tools/make_parity_fixtures.py"


# --------------------------------------------------------------------------------------------------
# Initialization: Kaiming normal (fan_out) convs, default fc, random non-trivial BN state
# --------------------------------------------------------------------------------------------------


def init_weights(model, num_batches_tracked=7):
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.num_batches_tracked.fill_(num_batches_tracked)
        # nn.Linear keeps its default init (done in its constructor)


# --------------------------------------------------------------------------------------------------
# Self-checks against torchvision
# --------------------------------------------------------------------------------------------------


def check_against_torchvision():
    import torchvision

    cases = [
        ("resnet18", BasicBlock, [2, 2, 2, 2], torchvision.models.resnet18),
        ("resnet50", Bottleneck, [3, 4, 6, 3], torchvision.models.resnet50),
    ]
    for name, block, layers, ctor in cases:
        torch.manual_seed(0)
        ours = ImageNetResNet(block, layers, width=64, classes=1000, shortcut="B", stride_in="3x3")
        init_weights(ours)
        ref = ctor()
        a = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
        b = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
        assert list(a.keys()) == list(b.keys()), f"{name}: state_dict keys differ: {set(a) ^ set(b)}"
        assert a == b, f"{name}: shapes differ: {[k for k in a if a[k] != b[k]]}"
        # Same forward too: load our weights into torchvision's model and compare outputs.
        ref.load_state_dict(ours.state_dict(), strict=True)
        ours.eval()
        ref.eval()
        x = torch.randn(1, 3, 64, 64)
        with torch.no_grad():
            d = (ours(x) - ref(x)).abs().max().item()
        assert d < 1e-4, f"{name}: forward differs from torchvision by {d}"
        print(f"check: {name} state_dict keys/shapes == torchvision ({len(a)} entries), "
              f"forward max|diff| = {d:.2e}")


# --------------------------------------------------------------------------------------------------
# Fixture helpers
# --------------------------------------------------------------------------------------------------


def f32(t):
    # .clone(): .numpy() shares memory with the tensor, and training would then rewrite the
    # "initial" weights we captured before it.
    return t.detach().cpu().to(torch.float32).clone().contiguous().numpy()


def state_tensors(model, prefix=""):
    out = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu().clone().contiguous()
        out[prefix + k] = v.numpy().astype(np.int64) if k.endswith("num_batches_tracked") else f32(v)
    return out


def metadata(net, options, fixture, seed, description):
    return {
        "net": net,
        "options": json.dumps(options),
        "generator": GENERATOR,
        "torch": torch.__version__,
        "fixture": fixture,
        "seed": str(seed),
        "description": description,
    }


def train_steps(model, x, labels, steps):
    """Train-mode forward, mean cross-entropy, backward, SGD(lr .1, momentum .9, wd 1e-4).
    Returns dict with stepK.loss, step0.grad.<key>, and after.<key> for every state_dict entry."""
    out = {}
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    model.train()
    for s in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), labels)
        loss.backward()
        out[f"step{s}.loss"] = f32(loss.detach().reshape(()))
        if s == 0:
            for k, p in model.named_parameters():
                out[f"step0.grad.{k}"] = f32(p.grad.clone())
        opt.step()
    out.update(state_tensors(model, "after."))
    return out


def save(fname, tensors, meta):
    path = os.path.join(OUT_DIR, fname)
    write_safetensors(path, tensors, meta)
    # Verify by reading back.
    back, meta_back = read_safetensors(path)
    assert meta_back == meta, f"{fname}: metadata mismatch"
    assert list(back.keys()) == list(tensors.keys()), f"{fname}: key order/set mismatch"
    for k, v in tensors.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape, f"{fname}:{k} dtype/shape"
        assert np.array_equal(back[k], v), f"{fname}:{k} data mismatch"
    print(f"wrote {path}  {os.path.getsize(path):>9} bytes  {len(tensors)} tensors")


# --------------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------------


def cifar_options(shortcut):
    return {"shortcut": shortcut, "strideIn": "1x1", "classes": 10, "inChannels": 3}


def imagenet_options(shortcut, stride_in, width):
    return {"shortcut": shortcut, "strideIn": stride_in, "classes": 10, "width": width,
            "inChannels": 3}


def fx_resnet20_eval():
    seed = 1
    torch.manual_seed(seed)
    m = CifarResNet(3, classes=10, shortcut="A")
    init_weights(m)
    x = torch.randn(4, 3, 32, 32)
    m.eval()
    with torch.no_grad():
        logits = m(x)
        _, feats = m.features(x)
    t = state_tensors(m)
    t["input"] = f32(x)
    t["logits"] = f32(logits)
    for k, v in feats.items():
        t[f"features.{k}"] = f32(v)
    save("resnet20_A_eval.safetensors", t,
         metadata("resnet20", cifar_options("A"), "resnet20_A_eval", seed,
                  "eval-mode logits and per-stage outputs (features.layer1..3) of CIFAR ResNet-20, "
                  "option A shortcuts"))


def relu_margin_steps(model, x, labels, steps):
    """Smallest |ReLU input| over `steps` training steps (of a copy of the model). The second
    step depends on the first step's rounding, so both steps' masks must be far from a flip."""
    model = copy.deepcopy(model)
    smallest = [float("inf")]
    for mod in model.modules():
        if isinstance(mod, nn.ReLU):
            mod.register_forward_hook(lambda _m, inputs, _out: smallest.__setitem__(
                0, min(smallest[0], inputs[0].detach().abs().min().item())))
    train_steps(model, x, labels, steps)
    return smallest[0]


def fx_resnet20_train():
    # Searching from seed 2, the first seed whose ReLU inputs stay 3e-6 from zero over both
    # steps is 744 (at batch 8 a typical seed's closest input is a few 1e-7 from zero, where the
    # rounding of a Winograd convolution can flip it); the loop checks it again.
    seed = 744
    while True:
        torch.manual_seed(seed)
        m = CifarResNet(3, classes=10, shortcut="A")
        init_weights(m)
        x = torch.randn(8, 3, 32, 32)
        labels = torch.randint(0, 10, (8,), dtype=torch.int64)
        if relu_margin_steps(m, x, labels, 2) > 3e-6:
            break
        seed += 1
    t = state_tensors(m)
    t["input"] = f32(x)
    t["labels"] = labels.numpy().astype(np.int64)
    t.update(train_steps(m, x, labels, 2))
    save("resnet20_A_train.safetensors", t,
         metadata("resnet20", cifar_options("A"), "resnet20_A_train", seed,
                  "two SGD steps (lr 0.1, momentum 0.9, weight decay 1e-4, mean cross-entropy, "
                  "train-mode BN) on one batch; step0.grad.* are step-0 gradients before the update"))


def fx_plain20_eval():
    seed = 3
    torch.manual_seed(seed)
    m = CifarResNet(3, classes=10, shortcut="none")
    init_weights(m)
    x = torch.randn(2, 3, 32, 32)
    m.eval()
    with torch.no_grad():
        logits = m(x)
    t = state_tensors(m)
    t["input"] = f32(x)
    t["logits"] = f32(logits)
    # shortcut recorded as the CIFAR default "A"; plain nets ignore it (no shortcut at all)
    save("plain20_eval.safetensors", t,
         metadata("plain20", cifar_options("A"), "plain20_eval", seed,
                  "eval-mode logits of CIFAR plain-20 (no shortcuts)"))


def fx_imagenet_eval(fname, net, block, layers, width, shortcut, stride_in, seed):
    torch.manual_seed(seed)
    m = ImageNetResNet(block, layers, width=width, classes=10, shortcut=shortcut,
                       stride_in=stride_in)
    init_weights(m)
    x = torch.randn(2, 3, 64, 64)
    m.eval()
    with torch.no_grad():
        logits = m(x)
    t = state_tensors(m)
    t["input"] = f32(x)
    t["logits"] = f32(logits)
    save(fname, t,
         metadata(net, imagenet_options(shortcut, stride_in, width), fname.split(".")[0], seed,
                  f"eval-mode logits of ImageNet-style {net}, width {width}, option {shortcut}, "
                  f"strideIn {stride_in}, 64x64 input"))


def relu_margin(model, x):
    """Smallest |BN output| in a train-mode forward. A ReLU input within float32 noise of
    zero can flip between implementations and move the gradients by percents, so the
    train fixtures use a seed whose margin is comfortably above that noise."""
    smallest = [float("inf")]
    hooks = [mod.register_forward_hook(lambda _m, _i, out: smallest.__setitem__(
        0, min(smallest[0], out.detach().abs().min().item())))
        for mod in model.modules() if isinstance(mod, nn.BatchNorm2d)]
    saved = copy.deepcopy(model.state_dict())
    model.train()
    with torch.no_grad():
        model(x)
    model.load_state_dict(saved)
    for h in hooks:
        h.remove()
    return smallest[0]


def fx_resnet18_C_train():
    seed = 7
    while True:  # the first seed from 7 on whose ReLU inputs keep a margin of 1e-5
        torch.manual_seed(seed)
        m = ImageNetResNet(BasicBlock, [2, 2, 2, 2], width=8, classes=10, shortcut="C",
                           stride_in="1x1")
        init_weights(m)
        x = torch.randn(4, 3, 64, 64)
        labels = torch.randint(0, 10, (4,), dtype=torch.int64)
        if relu_margin(m, x) > 1e-5:
            break
        seed += 1
    t = state_tensors(m)
    t["input"] = f32(x)
    t["labels"] = labels.numpy().astype(np.int64)
    t.update(train_steps(m, x, labels, 1))
    save("resnet18_w8_C_train.safetensors", t,
         metadata("resnet18", imagenet_options("C", "1x1", 8), "resnet18_w8_C_train", seed,
                  "one SGD step (lr 0.1, momentum 0.9, weight decay 1e-4, mean cross-entropy, "
                  "train-mode BN), option C (projection on every block)"))


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float32)
    check_against_torchvision()
    os.makedirs(OUT_DIR, exist_ok=True)
    fx_resnet20_eval()
    fx_resnet20_train()
    fx_plain20_eval()
    fx_imagenet_eval("resnet18_w8_B_eval.safetensors", "resnet18", BasicBlock, [2, 2, 2, 2], 8,
                     "B", "1x1", 4)
    fx_imagenet_eval("resnet50_w4_3x3_eval.safetensors", "resnet50", Bottleneck, [3, 4, 6, 3], 4,
                     "B", "3x3", 5)
    fx_imagenet_eval("resnet50_w4_1x1_eval.safetensors", "resnet50", Bottleneck, [3, 4, 6, 3], 4,
                     "B", "1x1", 6)
    fx_resnet18_C_train()
    total = sum(os.path.getsize(os.path.join(OUT_DIR, f)) for f in os.listdir(OUT_DIR)
                if f.endswith(".safetensors"))
    print(f"total {total} bytes")


if __name__ == "__main__":
    main()
