"""Pyramid pooling module (PSPNet), export- and TensorRT-safe.

Adaptive average pooling exports to ONNX only when the feature map divides by each bin (a
1024x2048 input at stride 8 gives 128x256, which bin 3 does not divide). Here each bin is an
ordinary AvgPool2d whose kernel and stride are computed for the *fixed* feature size the model is
built for, so the graph holds static AveragePool ops that ONNX Runtime and TensorRT both run.
When the size divides by the bin this is exactly adaptive pooling; otherwise the windows cover
the map with a uniform stride (the last window may overlap its neighbour) — a fixed, documented
approximation that training and every backend share.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def pool_geometry(size: int, bins: int) -> tuple[int, int]:
    """Kernel and stride (pixels) that tile ``size`` into ``bins`` windows: (kernel, stride).

    Raises ValueError when the map is smaller than the number of bins.
    """
    if size < bins:
        raise ValueError(f"feature map of {size} px cannot be pooled into {bins} bins; "
                         "use a larger input size")
    stride = size // bins
    kernel = size - (bins - 1) * stride
    return kernel, stride


class PyramidPooling(nn.Module):
    """Input (N, C, h, w) at the fixed ``feature_size``; output (N, C + len(bins) * branch, h, w)."""

    def __init__(self, in_ch: int, *, bins: tuple[int, ...] = (1, 2, 3, 6), branch_ch: int | None = None,
                 feature_size: tuple[int, int]) -> None:
        super().__init__()
        branch_ch = branch_ch or in_ch // len(bins)
        self.feature_size = feature_size
        self.pools = nn.ModuleList()
        for b in bins:
            (kh, sh), (kw, sw) = pool_geometry(feature_size[0], b), pool_geometry(feature_size[1], b)
            self.pools.append(nn.AvgPool2d((kh, kw), (sh, sw)))
        self.reduce = nn.ModuleList(
            nn.Sequential(nn.Conv2d(in_ch, branch_ch, 1, bias=False), nn.BatchNorm2d(branch_ch),
                          nn.ReLU(inplace=True))
            for _ in bins)
        self.out_channels = in_ch + len(bins) * branch_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != self.feature_size:
            raise ValueError(f"PyramidPooling built for {self.feature_size} features, got "
                             f"{tuple(x.shape[-2:])}; build the model for this input size")
        outs = [x]
        for pool, reduce in zip(self.pools, self.reduce):
            outs.append(F.interpolate(reduce(pool(x)), size=self.feature_size, mode="bilinear",
                                      align_corners=False))
        return torch.cat(outs, dim=1)
