"""ResNet backbones (18/34 basic blocks, 50 bottleneck) with a width multiplier and dilation.

Written here because there is no CPU torchvision on the project's machines; layer names follow
the usual ResNet convention (conv1/bn1, layer1..layer4) so weights are easy to reason about.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

SPECS: dict[str, tuple[str, tuple[int, int, int, int]]] = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
    "resnet101": ("bottleneck", (3, 4, 23, 3)),
}
STEMS = ("conv7", "deep")
"""``conv7``: one 7x7 stride-2 convolution (torchvision, mmseg's ``ResNet``); ``deep``: three 3x3
convolutions, the first of stride 2 (ResNet-C, mmseg's ``ResNetV1c``), keys ``stem.{0,3,6}``
with BatchNorm ``stem.{1,4,7}``."""


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_ch: int, width: int, *, stride: int = 1, dilation: int = 1,
                 dilate_conv2: bool = True) -> None:
        super().__init__()
        out_ch = width * self.expansion
        self.conv1 = nn.Conv2d(in_ch, width, 3, stride, dilation, dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        second = dilation if dilate_conv2 else 1  # mmseg's BasicBlock dilates conv1 only
        self.conv2 = nn.Conv2d(width, out_ch, 3, 1, second, second, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(in_ch, out_ch, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_ch: int, width: int, *, stride: int = 1, dilation: int = 1,
                 dilate_conv2: bool = True) -> None:
        super().__init__()
        del dilate_conv2  # the 3x3 convolution is always dilated (torchvision and mmseg agree)
        out_ch = width * self.expansion
        self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, dilation, dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(in_ch, out_ch, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


def _shortcut(in_ch: int, out_ch: int, stride: int) -> nn.Module | None:
    if stride == 1 and in_ch == out_ch:
        return None
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))


@dataclass(frozen=True)
class BackboneChannels:
    """Output channels of the stem+layer1 (stride 4), layer3 (aux head input) and layer4."""

    low: int
    mid: int
    high: int


def _deep_stem(channels: int) -> nn.Sequential:
    half = channels // 2
    layers: list[nn.Module] = []
    for i, (cin, cout) in enumerate(((3, half), (half, half), (half, channels))):
        layers += [nn.Conv2d(cin, cout, 3, 2 if i == 0 else 1, 1, bias=False),
                   nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class ResNet(nn.Module):
    """Dilated ResNet. ``output_stride`` 8 dilates layer3 (2) and layer4 (4); 16 only layer4;
    the first block of a dilated layer has half its dilation (mmseg's ``contract_dilation``).

    ``stem`` is one of STEMS; ``dilate_basic_conv2=False`` leaves the second 3x3 convolution of
    basic blocks undilated, as mmseg's ResNet does (vsseg's own networks dilate both).
    Input (N, 3, H, W) normalised float; ``forward_low`` returns stride-4 features,
    ``forward_high`` returns (layer3, layer4) features at stride ``output_stride``.
    """

    def __init__(self, *, depth: str = "resnet18", width: float = 1.0, output_stride: int = 8,
                 stem: str = "conv7", dilate_basic_conv2: bool = True) -> None:
        super().__init__()
        if stem not in STEMS:
            raise ValueError(f"unknown stem {stem!r}; choose one of {', '.join(STEMS)}")
        if depth not in SPECS:
            raise ValueError(f"unknown backbone {depth!r}; choose one of {sorted(SPECS)}")
        if output_stride not in (8, 16):
            raise ValueError(f"output_stride must be 8 or 16, got {output_stride}")
        if not 0.1 <= width <= 2.0:
            raise ValueError(f"width multiplier must be in [0.1, 2], got {width}")
        kind, blocks = SPECS[depth]
        block = BasicBlock if kind == "basic" else Bottleneck
        widths = [max(8, int(round(c * width))) for c in (64, 128, 256, 512)]
        self.stem = _deep_stem(widths[0]) if stem == "deep" else None
        if self.stem is None:
            self.conv1 = nn.Conv2d(3, widths[0], 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        dil3, dil4 = (2, 4) if output_stride == 8 else (1, 2)
        strides_dil = [(1, 1), (2, 1), (1 if dil3 > 1 else 2, dil3), (1, dil4)]
        in_ch = widths[0]
        layers = []
        for w, n, (stride, dil) in zip(widths, blocks, strides_dil):
            blocks_here = []
            for i in range(n):
                blocks_here.append(block(in_ch, w, stride=stride if i == 0 else 1,
                                         dilation=max(1, dil // 2) if i == 0 else dil,
                                         dilate_conv2=dilate_basic_conv2))
                in_ch = w * block.expansion
            layers.append(nn.Sequential(*blocks_here))
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.channels = BackboneChannels(widths[0] * block.expansion, widths[2] * block.expansion,
                                         widths[3] * block.expansion)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_low(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, low, H/4, W/4)."""
        x = self.relu(self.bn1(self.conv1(x))) if self.stem is None else self.stem(x)
        return self.layer1(self.maxpool(x))

    def forward_high(self, low: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, low, H/4, W/4) -> layer3 (N, mid, H/os, W/os), layer4 (N, high, H/os, W/os)."""
        mid = self.layer3(self.layer2(low))
        return mid, self.layer4(mid)
