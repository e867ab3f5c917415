"""Pyramid pooling module (PSPNet), export- and TensorRT-safe, in two poolings.

``fixed`` (vsseg's own networks): adaptive average pooling exports to ONNX only when the feature map divides by each bin (a
1024x2048 input at stride 8 gives 128x256, which bin 3 does not divide). Here each bin is an
ordinary AvgPool2d whose kernel and stride are computed for the *fixed* feature size the model is
built for, so the graph holds static AveragePool ops that ONNX Runtime and TensorRT both run.
When the size divides by the bin this is exactly adaptive pooling; otherwise the windows cover
the map with a uniform stride (the last window may overlap its neighbour) — a fixed, documented
approximation that training and every backend share.

``adaptive`` (imported networks, e.g. mmseg's PSPHead): exactly ``AdaptiveAvgPool2d`` — bin i of
b covers [floor(i n / b), ceil((i + 1) n / b)) on a side of n — as two matrix products
``P_h @ x @ P_w^T`` with constant averaging matrices, which export as MatMul.
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


POOLINGS = ("fixed", "adaptive")


def adaptive_pool_matrix(size: int, bins: int) -> torch.Tensor:
    """(bins, size) float32: row i averages the pixels AdaptiveAvgPool1d puts in bin i."""
    matrix = torch.zeros(bins, size)
    for i in range(bins):
        start, end = (i * size) // bins, -((-(i + 1) * size) // bins)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


class AdaptivePool(nn.Module):
    """(N, C, h, w) -> (N, C, bins, bins), equal to ``AdaptiveAvgPool2d(bins)`` at ``size``."""

    def __init__(self, size: tuple[int, int], bins: int) -> None:
        super().__init__()
        if min(size) < bins:
            raise ValueError(f"feature map of {min(size)} px cannot be pooled into {bins} bins; "
                             "use a larger input size")
        # not persistent: derived from the architecture, so state dicts stay those of the pools
        self.register_buffer("rows", adaptive_pool_matrix(size[0], bins), persistent=False)
        self.register_buffer("cols_t", adaptive_pool_matrix(size[1], bins).t().contiguous(),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.matmul(torch.matmul(self.rows, x), self.cols_t)


class PyramidPooling(nn.Module):
    """Input (N, C, h, w) at the fixed ``feature_size``; output (N, C + len(bins) * branch, h, w).

    ``branch_ch`` (0 = ``in_ch // len(bins)``) is each bin's 1x1-convolution width; ``pooling``
    one of POOLINGS."""

    def __init__(self, in_ch: int, *, bins: tuple[int, ...] = (1, 2, 3, 6), branch_ch: int = 0,
                 feature_size: tuple[int, int], pooling: str = "fixed") -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}")
        branch_ch = branch_ch or in_ch // len(bins)
        self.feature_size = feature_size
        self.pools = nn.ModuleList()
        for b in bins:
            if pooling == "adaptive":
                self.pools.append(AdaptivePool(feature_size, b))
                continue
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
