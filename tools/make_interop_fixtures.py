"""Makes the interop fixtures in test/fixtures/interop/ (committed; CI has no Python).

Run with Debian's python3-torch 1.13, python3-torchvision 0.14, numpy and PIL 9.4:

    /usr/bin/python3 tools/make_interop_fixtures.py [--photo PATH]

--photo defaults to scikit-image's rocket.jpg (see test/fixtures/interop/README.md for provenance).

What it writes, and which test reads it:
  tiny_resnet18_w4.pth            torch.save(state_dict) (zip format) of a narrow torchvision ResNet-18:
                                  stem 4 channels, stage widths 4, 8, 16, 32, 10 classes (io-pth)
  tiny_resnet18_w4.safetensors    the same tensors as safetensors F32 (io-pth)
  tiny_resnet18_w4_legacy.pth     the same state dict in the legacy (torch < 1.6, non-zip) format
  tiny_resnet18_w4_input.npy      a [2, 3, 32, 32] float32 input ...
  tiny_resnet18_w4_logits.npy     ... and PyTorch's eval-mode logits for it [2, 10]
  dtypes.pth / dtypes.json        F32/F16/BF16/F64/I64/I32 tensors, non-contiguous views with storage
                                  offsets and strides, a 0-dim and an empty tensor, an nn.Parameter;
                                  the JSON holds the expected values (C order, as float)
  dtypes_protocol4.pth            dtypes.pth saved with pickle protocol 4 (FRAME, MEMOIZE, STACK_GLOBAL)
  wrapped_state_dict.pth          {'state_dict': dtypes, 'epoch': 3, 'arch': 'x', 'best_acc1': 0.5}
  wrapped_model.pth               {'model': dtypes, 'optimizer': {...}}
  malicious_os_system.pth         a zip whose data.pkl calls os.system (written as bytes, never loaded)
  malicious_eval.pkl              a bare pickle calling builtins.eval (never loaded)
  truncated_zip.pth               the first 60% of tiny_resnet18_w4.pth
  truncated_pickle.pth            a valid zip whose data.pkl is cut in half
  photo.jpg                       the photograph, byte for byte
  photo_pil_rgb.npy.gz            PIL's decode: np.asarray(Image.open(photo).convert('RGB')) [h, w, 3] uint8
  photo_torchvision.npy.gz        torchvision 0.14's eval preprocessing of the PIL image, [3, 224, 224] f32:
                                  Resize(256), CenterCrop(224), ToTensor(), Normalize(ImageNet mean/std)
                                  (test-view)
  photo_views.json                torchvision's Resize(256) + TenCrop(224) views and Resize(s) views for the
                                  multi-scale sides 224, 256, 384, 480, 640 of the PIL image: size and sha256
                                  of each view's [h, w, 3] uint8 bytes (test-view)
  resize_cases.json               small random RGB images and PIL's BILINEAR resize of each to several
                                  sizes (up and down, non-integer factors); pixels as base64 of
                                  [h, w, 3] uint8 in C order
and assets/imagenet-classes.txt   torchvision's ResNet50_Weights.IMAGENET1K_V1.meta['categories'].
"""

import argparse
import base64
import gzip
import hashlib
import io
import json
import os
import pickle
import shutil
import struct
import sys
import zipfile
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torchvision
import torchvision.transforms as T
from PIL import Image
from torchvision.models.resnet import BasicBlock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "fixtures", "interop")
DEFAULT_PHOTO = "/usr/lib/python3/dist-packages/skimage/data/rocket.jpg"

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_io import write_safetensors  # noqa: E402


def out(name):
    return os.path.join(OUT, name)


# ---------------------------------------------------------------------------------------------
# A narrow ResNet-18 with torchvision's modules and state_dict keys

class TinyResNet18(nn.Module):
    """torchvision's ResNet-18 layout at base width `width` (torchvision fixes it at 64).

    Same module names, so the same state_dict keys; the forward is torchvision's _forward_impl.
    """

    def __init__(self, width=4, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        inplanes = width
        for i, mult in enumerate([1, 2, 4, 8]):
            planes, stride = width * mult, (1 if i == 0 else 2)
            blocks = []
            for b in range(2):
                downsample = None
                if b == 0 and (stride != 1 or inplanes != planes):
                    downsample = nn.Sequential(
                        nn.Conv2d(inplanes, planes, kernel_size=1, stride=stride, bias=False),
                        nn.BatchNorm2d(planes),
                    )
                blocks.append(BasicBlock(inplanes, planes, stride if b == 0 else 1, downsample))
                inplanes = planes
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(inplanes, num_classes)

    forward = torchvision.models.resnet.ResNet._forward_impl


def make_tiny_net():
    torch.manual_seed(0)
    net = TinyResNet18(width=4, num_classes=10)
    # Random BN statistics and affine parameters, so that a loader that mixes them up shows.
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(7)
    return net.eval()


def write_tiny_net():
    net = make_tiny_net()
    sd = net.state_dict()
    torch.save(sd, out("tiny_resnet18_w4.pth"))
    torch.save(sd, out("tiny_resnet18_w4_legacy.pth"), _use_new_zipfile_serialization=False)
    write_safetensors(
        out("tiny_resnet18_w4.safetensors"),
        {k: v.float() for k, v in sd.items()},  # num_batches_tracked as F32, like resnet-ts writes it
        {"source": "tools/make_interop_fixtures.py"},
    )
    torch.manual_seed(1)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        logits = net(x)
    np.save(out("tiny_resnet18_w4_input.npy"), x.numpy())
    np.save(out("tiny_resnet18_w4_logits.npy"), logits.numpy())


# ---------------------------------------------------------------------------------------------
# dtypes, strides, storage offsets, shared storages

def make_dtype_dict():
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 8 - 1  # exact in every float dtype
    shared = torch.arange(10, dtype=torch.float32)
    d = OrderedDict()
    d["f32"] = base.clone()
    d["f16"] = base.half()
    d["bf16"] = base.bfloat16()
    d["f64"] = base.double()
    d["i64"] = torch.tensor([[-3, 0, 5], [2**40, -(2**40), 7]], dtype=torch.int64)
    d["i32"] = torch.tensor([-7, 0, 123456], dtype=torch.int32)
    d["transposed"] = base.t()  # strides (1, 6)
    d["sliced"] = base[1:, 1:5:2]  # storage offset 7, strides (6, 2)
    d["expanded"] = torch.tensor([1.5, -2.5]).reshape(2, 1).expand(2, 3)  # stride 0
    d["shared_a"] = shared[2:6]  # two views of one storage
    d["shared_b"] = shared.reshape(2, 5)[:, 1]
    d["scalar"] = torch.tensor(3.25)
    d["empty"] = torch.zeros(0, 3)
    d["param"] = nn.Parameter(torch.tensor([[0.5, -0.25, 2.0]]))  # _rebuild_parameter
    return d


def write_dtypes():
    d = make_dtype_dict()
    torch.save(d, out("dtypes.pth"))
    torch.save(d, out("dtypes_protocol4.pth"), pickle_protocol=4)
    expected = OrderedDict()
    dtype_names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
                   torch.float64: "F64", torch.int64: "I64", torch.int32: "I32"}
    for k, v in d.items():
        v = v.detach()
        expected[k] = {
            "dtype": dtype_names[v.dtype],
            "shape": list(v.shape),
            "values": v.contiguous().double().flatten().tolist(),
        }
    with open(out("dtypes.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    torch.save({"state_dict": d, "epoch": 3, "arch": "x", "best_acc1": 0.5}, out("wrapped_state_dict.pth"))
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(2))], lr=0.1, momentum=0.9)
    torch.save({"model": d, "optimizer": opt.state_dict()}, out("wrapped_model.pth"))


# ---------------------------------------------------------------------------------------------
# Hostile and damaged files. The malicious pickles are assembled from opcodes and never loaded.

def malicious_pickle(module, name, arg):
    """PROTO 2; GLOBAL module.name; (arg,) ; REDUCE; STOP — what pickle.dumps of an object whose
    __reduce__ returns (module.name, (arg,)) produces."""
    a = arg.encode()
    return (b"\x80\x02" + b"c" + module.encode() + b"\n" + name.encode() + b"\n"
            + b"X" + struct.pack("<I", len(a)) + a + b"\x85" + b"R" + b".")


def write_zip(path, folder, members):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in members:
            # a fixed timestamp (as torch.save writes), so that regenerating gives the same bytes
            info = zipfile.ZipInfo(f"{folder}/{name}", date_time=(1980, 1, 1, 0, 0, 0))
            z.writestr(info, data)


def write_hostile():
    # os.system pickles as posix.system on Linux; write the portable name the way the issue states it.
    payload = malicious_pickle("os", "system", "echo pwned > resnet-ts-pwned.txt")
    write_zip(out("malicious_os_system.pth"), "malicious_os_system",
              [("data.pkl", payload), ("version", b"3\n")])
    with open(out("malicious_eval.pkl"), "wb") as f:
        f.write(malicious_pickle("builtins", "eval", "__import__('os').system('echo pwned')"))

    good = open(out("tiny_resnet18_w4.pth"), "rb").read()
    with open(out("truncated_zip.pth"), "wb") as f:
        f.write(good[: int(len(good) * 0.6)])

    with zipfile.ZipFile(out("dtypes.pth")) as z:
        names = z.namelist()
        pkl_name = next(n for n in names if n.endswith("/data.pkl"))
        pkl = z.read(pkl_name)
        members = [(n.split("/", 1)[1], z.read(n)) for n in names if n != pkl_name]
    write_zip(out("truncated_pickle.pth"), "truncated_pickle",
              [("data.pkl", pkl[: len(pkl) // 2])] + members)


# ---------------------------------------------------------------------------------------------
# The photograph and torchvision's evaluation preprocessing

def save_npy_gz(path, array):
    buf = io.BytesIO()
    np.save(buf, array)
    with open(path, "wb") as f:
        # mtime=0: the same bytes on every run
        f.write(gzip.compress(buf.getvalue(), compresslevel=9, mtime=0))


def write_photo(photo):
    shutil.copyfile(photo, out("photo.jpg"))
    image = Image.open(out("photo.jpg"))
    rgb = np.asarray(image.convert("RGB"))
    save_npy_gz(out("photo_pil_rgb.npy.gz"), rgb)
    preprocess = T.Compose([
        T.Resize(256),
        T.CenterCrop(224),
        T.ToTensor(),
        T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
    ])
    save_npy_gz(out("photo_torchvision.npy.gz"), preprocess(image.convert("RGB")).numpy())
    with open(out("photo.jpg"), "rb") as f:
        print("photo.jpg sha256", hashlib.sha256(f.read()).hexdigest(), "size", image.size)


def write_test_views():
    """The photo's 10-crop and multi-scale views as torchvision makes them from the PIL image: the
    bytes of each view (before ToTensor) as sha256 of [h, w, 3] uint8 in C order, with its size."""
    image = Image.open(out("photo.jpg")).convert("RGB")
    digest = lambda view: hashlib.sha256(np.ascontiguousarray(np.asarray(view), dtype=np.uint8).tobytes()).hexdigest()
    ten = T.Compose([T.Resize(256), T.TenCrop(224)])(image)
    views = {
        "tenCrop": {"resize": 256, "crop": 224, "views": [{"height": v.height, "width": v.width, "sha256": digest(v)} for v in ten]},
        "multiScale": {"views": []},
    }
    for side in [224, 256, 384, 480, 640]:
        v = T.Resize(side)(image)
        views["multiScale"]["views"].append({"side": side, "height": v.height, "width": v.width, "sha256": digest(v)})
    with open(out("photo_views.json"), "w") as f:
        json.dump(views, f, indent=1)
        f.write("\n")


def b64(array):
    """[h, w, 3] uint8 -> base64 of the bytes in C order."""
    return base64.b64encode(np.ascontiguousarray(array, dtype=np.uint8).tobytes()).decode("ascii")


def write_resize_cases():
    rng = np.random.default_rng(0)
    cases = []
    # (input h, w) -> list of (output h, w): strong and mild downscales, upscales, mixed, identity rows
    plan = [
        ((37, 53), [(11, 17), (20, 30), (36, 52), (37, 60), (50, 80), (5, 3), (1, 1)]),
        ((64, 48), [(17, 13), (63, 47), (96, 72), (64, 20), (20, 48)]),
        ((9, 300), [(3, 101), (9, 256)]),
    ]
    for (h, w), sizes in plan:
        # A smooth gradient plus noise: exercises both rounding and clipping (values hit 0 and 255).
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([xx * 255 / max(w - 1, 1), yy * 255 / max(h - 1, 1), (xx + yy) % 256], axis=-1)
        img = np.clip(base + rng.normal(0, 40, size=(h, w, 3)), 0, 255).astype(np.uint8)
        outputs = []
        for oh, ow in sizes:
            resized = np.asarray(Image.fromarray(img, "RGB").resize((ow, oh), Image.BILINEAR))
            outputs.append({"height": oh, "width": ow, "rgb": b64(resized)})
        cases.append({"height": h, "width": w, "rgb": b64(img), "resized": outputs})
    with open(out("resize_cases.json"), "w") as f:
        json.dump({"pillow": Image.__version__, "filter": "BILINEAR", "cases": cases}, f)
        f.write("\n")


def write_imagenet_classes():
    categories = torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta["categories"]
    assert len(categories) == 1000
    with open(os.path.join(ROOT, "assets", "imagenet-classes.txt"), "w") as f:
        for c in categories:
            assert "\n" not in c
            f.write(c + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photo", default=DEFAULT_PHOTO)
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(os.path.join(ROOT, "assets"), exist_ok=True)
    print("torch", torch.__version__, "torchvision", torchvision.__version__, "PIL", Image.__version__)
    write_tiny_net()
    write_dtypes()
    write_hostile()
    write_photo(args.photo)
    write_test_views()
    write_resize_cases()
    write_imagenet_classes()


if __name__ == "__main__":
    main()
