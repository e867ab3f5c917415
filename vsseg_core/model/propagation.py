"""Feature propagation for non-keyframes (Deep Feature Flow + Low-Latency VSS fusion).

    key_deep (1, C_deep, H/os, W/os)   deep features of the keyframe (``forward_high``)
    key_low  (1, C_low, H/4, W/4)      low-level features of the keyframe (``forward_low``)
    low      (1, C_low, H/4, W/4)      low-level features of the current frame
    flow     (1, 2, H/4, W/4)          current -> keyframe flow in pixels of the H/4 grid
      -> deep (1, C_deep, H/os, W/os)  fused features for the current frame (``classify(deep, low)``)

The keyframe's deep features are warped (bilinear GridSample) with the flow averaged down to
the deep grid; the warp error (|low - warped key_low|, channel mean) and an in-view mask say
where the warp cannot be trusted; a small fusion head adds a correction computed from the warped
features, the current low-level features, the error and the mask. Its last convolution starts
at zero, so an untrained head is exactly Deep Feature Flow (pure warping).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vsseg_core.model.warp import warp

LOW_STRIDE = 4
"""Pixels of input per low-level feature cell (``PSPNet.forward_low``)."""
MODE = "flow"
INPUTS = ("key_deep", "key_low", "low", "flow")


def fusion_head(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    """1x1 -> 3x3 -> 1x1 convolutions from ``inputs`` to ``outputs`` channels: the correction
    propagated features get from the current frame. The last convolution starts at zero, so an
    untrained head adds nothing."""
    head = nn.Sequential(
        nn.Conv2d(inputs, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True),
        nn.Conv2d(hidden, hidden, 3, padding=1, bias=False), nn.BatchNorm2d(hidden),
        nn.ReLU(inplace=True),
        nn.Conv2d(hidden, outputs, 1))
    nn.init.zeros_(head[-1].weight)
    nn.init.zeros_(head[-1].bias)
    return head


class FeaturePropagation(nn.Module):
    """Warp + fusion head; see the module docstring for shapes."""

    mode = MODE
    inputs = INPUTS

    def __init__(self, low_channels: int, deep_channels: int, output_stride: int,
                 hidden: int = 64) -> None:
        super().__init__()
        if output_stride % LOW_STRIDE:
            raise ValueError(f"output stride {output_stride} is not a multiple of {LOW_STRIDE}")
        self.ratio = output_stride // LOW_STRIDE
        """Low-level grid cells per deep grid cell along each axis."""
        self.fusion = fusion_head(deep_channels + low_channels + 2, hidden, deep_channels)

    def _to_deep_grid(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.ratio == 1 else F.avg_pool2d(x, self.ratio)

    def forward(self, key_deep: torch.Tensor, key_low: torch.Tensor, low: torch.Tensor,
                flow: torch.Tensor) -> torch.Tensor:
        deep_flow = self._to_deep_grid(flow) / self.ratio
        warped = warp(key_deep, deep_flow)
        in_view = warp(torch.ones_like(deep_flow[:, :1]), deep_flow)
        error = (low - warp(key_low, flow)).abs().mean(dim=1, keepdim=True)
        error = error if self.ratio == 1 else F.max_pool2d(error, self.ratio)
        features = torch.cat([warped, self._to_deep_grid(low), error, in_view], dim=1)
        return F.relu(warped + self.fusion(features))
