"""The networks of resnet-ts in PyTorch, with torchvision's module and state_dict names: the one
PyTorch twin that the parity fixtures (make_parity_fixtures.py), the PyTorch benchmark
(bench_pytorch.py) and the Fashion-MNIST comparison (fmnist_pytorch.py) build.

  make_net("resnet20")                                   CIFAR ResNet-20, option A (Sec. 4.2)
  make_net("resnet50", shortcut="B", stride_in="3x3")    torchvision's ResNet-50 layout
  make_net("plain20", in_channels=1)                     the plain twin

Shortcuts: "A" identity, subsampled and zero-padded where the shape changes (ShortcutA, no
parameters); "B" a 1x1 projection + BN where the shape changes (`downsample`, as torchvision); "C" a
projection on every block; plain nets have none. `stride_in` is the bottleneck conv that strides:
"1x1" (the paper) or "3x3" (torchvision). Weights are PyTorch's defaults until `init_he`.
"""

import torch
import torch.nn as nn

# Blocks per stage (Table 1; Sec. 4.2: n = (depth - 2) / 6 for the CIFAR nets).
IMAGENET_NETS = {
    "resnet18": ("basic", [2, 2, 2, 2]), "resnet34": ("basic", [3, 4, 6, 3]),
    "resnet50": ("bottleneck", [3, 4, 6, 3]), "resnet101": ("bottleneck", [3, 4, 23, 3]),
    "resnet152": ("bottleneck", [3, 8, 36, 3]),
}


def conv3x3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, kernel_size=1, stride=stride, bias=False)


class ShortcutA(nn.Module):
    """Option A: identity; where the shape changes, subsample x[:, :, ::s, ::s] and append zero
    channels AFTER the identity channels. No parameters."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        assert cout >= cin
        self.extra = cout - cin
        self.stride = stride

    def forward(self, x):
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.extra:
            z = x.new_zeros(x.shape[0], self.extra, x.shape[2], x.shape[3])
            x = torch.cat([x, z], dim=1)
        return x


def make_shortcut(shortcut, cin, cout, stride):
    """Returns (downsample module or None, option-A module or None)."""
    changes = stride != 1 or cin != cout
    if shortcut == "none":
        return None, None
    if shortcut == "C" or (shortcut == "B" and changes):
        return nn.Sequential(conv1x1(cin, cout, stride), nn.BatchNorm2d(cout)), None
    if shortcut == "A" and changes:
        return None, ShortcutA(cin, cout, stride)
    return None, None  # identity


class Block(nn.Module):
    """What the basic and the bottleneck blocks share: the shortcut (chosen by make_shortcut) and the
    addition of the shortcut before the last ReLU."""

    def set_shortcut(self, shortcut, cin, cout, stride):
        # `downsample` is registered only when present, as in torchvision; option A's module has no
        # parameters and is not in the state_dict.
        self.downsample, self.shortcut_a = make_shortcut(shortcut, cin, cout, stride)
        self.plain = shortcut == "none"

    def add_shortcut(self, x, out):
        if not self.plain:
            if self.downsample is not None:
                idt = self.downsample(x)
            elif self.shortcut_a is not None:
                idt = self.shortcut_a(x)
            else:
                idt = x
            out = out + idt
        return self.relu(out)


class BasicBlock(Block):
    expansion = 1

    def __init__(self, cin, planes, stride, shortcut, stride_in="1x1"):
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = conv3x3(cin, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=False)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.set_shortcut(shortcut, cin, cout, stride)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        return self.add_shortcut(x, self.bn2(self.conv2(out)))


class Bottleneck(Block):
    expansion = 4

    def __init__(self, cin, planes, stride, shortcut, stride_in="1x1"):
        super().__init__()
        cout = planes * self.expansion
        s1, s3 = (stride, 1) if stride_in == "1x1" else (1, stride)
        self.conv1 = conv1x1(cin, planes, s1)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, s3)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, cout)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=False)
        self.set_shortcut(shortcut, cin, cout, stride)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.add_shortcut(x, self.bn3(self.conv3(out)))


def make_stage(block, cin, planes, n, stride, shortcut, stride_in):
    layers = []
    for i in range(n):
        layers.append(block(cin, planes, stride if i == 0 else 1, shortcut, stride_in))
        cin = planes * block.expansion
    return nn.Sequential(*layers), cin


class Net(nn.Module):
    """What both nets share after their stem: the stages (`self.stages`), global average pooling
    and fc; `features` also returns each stage's output."""

    def features(self, x):
        x = self.stem(x)
        feats = {}
        for name in self.stages:
            x = getattr(self, name)(x)
            feats[name] = x
        return x, feats

    def forward(self, x):
        x, _ = self.features(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


class ImageNetResNet(Net):
    """Stem 7x7/2 conv + BN + ReLU + maxpool 3x3/2 pad 1; stages layer1..4 (widths w, 2w, 4w, 8w;
    stride 2 at layer2..4); global average pool; fc."""

    def __init__(self, block, layers, width=64, classes=1000, shortcut="B", stride_in="1x1",
                 in_channels=3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=False)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        c = width
        self.layer1, c = make_stage(block, c, width, layers[0], 1, shortcut, stride_in)
        self.layer2, c = make_stage(block, c, width * 2, layers[1], 2, shortcut, stride_in)
        self.layer3, c = make_stage(block, c, width * 4, layers[2], 2, shortcut, stride_in)
        self.layer4, c = make_stage(block, c, width * 8, layers[3], 2, shortcut, stride_in)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(c, classes)
        self.stages = ["layer1", "layer2", "layer3", "layer4"]

    def stem(self, x):
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))


class CifarResNet(Net):
    """Sec. 4.2: 3x3/16 conv stride 1 + BN + ReLU; layer1..3 of n basic blocks with 16/32/64 filters
    (stride 2 at the first block of layer2 and layer3); global average pool; fc."""

    def __init__(self, n, classes=10, shortcut="A", width=16, in_channels=3):
        super().__init__()
        self.conv1 = conv3x3(in_channels, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=False)
        c = width
        self.layer1, c = make_stage(BasicBlock, c, width, n, 1, shortcut, "1x1")
        self.layer2, c = make_stage(BasicBlock, c, width * 2, n, 2, shortcut, "1x1")
        self.layer3, c = make_stage(BasicBlock, c, width * 4, n, 2, shortcut, "1x1")
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(c, classes)
        self.stages = ["layer1", "layer2", "layer3"]

    def stem(self, x):
        return self.relu(self.bn1(self.conv1(x)))


def make_net(name, classes=None, shortcut=None, stride_in="1x1", width=None, in_channels=3):
    """The network `name` of src/models/registry.ts (resnetN / plainN, ImageNet or CIFAR), with the
    paper's defaults: option A on CIFAR, B on ImageNet; plain nets have no shortcut."""
    plain = name.startswith("plain")
    depth = int(name[len("plain" if plain else "resnet"):])
    imagenet = f"resnet{depth}" in IMAGENET_NETS
    if imagenet:
        kind, layers = IMAGENET_NETS[f"resnet{depth}"]
        block = Bottleneck if kind == "bottleneck" else BasicBlock
        return ImageNetResNet(block, layers, width=width or 64, classes=classes or 1000,
                              shortcut="none" if plain else (shortcut or "B"), stride_in=stride_in, in_channels=in_channels)
    assert (depth - 2) % 6 == 0, f"unknown network {name}"
    return CifarResNet((depth - 2) // 6, classes=classes or 10, shortcut="none" if plain else (shortcut or "A"),
                       width=width or 16, in_channels=in_channels)


def init_he(model):
    """He et al.'s initialization as torchvision does it: Kaiming normal (fan_out) convs, BN 1 and 0,
    PyTorch's default for the fc layer."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return model
