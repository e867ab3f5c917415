"""Flow-guided warping of feature maps (Deep Feature Flow), as GridSample so that ONNX Runtime
and TensorRT run the same op.

Flow convention (as ``vsseg_core.flow.grid_flow(current, keyframe, ...)``): for pixel p of the
current frame, p + flow[p] is where that content is in the keyframe. Warping the keyframe's
features with that flow aligns them with the current frame.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def flow_to_grid(flow: torch.Tensor) -> torch.Tensor:
    """(N, 2, h, w) flow in grid pixels -> (N, h, w, 2) sampling grid in [-1, 1]
    (align_corners=False convention: pixel centres at (i + 0.5) / size * 2 - 1)."""
    _, _, height, width = flow.shape
    ys = torch.arange(height, dtype=flow.dtype, device=flow.device)
    xs = torch.arange(width, dtype=flow.dtype, device=flow.device)
    base_y, base_x = torch.meshgrid(ys, xs, indexing="ij")
    x = (base_x + flow[:, 0] + 0.5) * (2.0 / width) - 1.0
    y = (base_y + flow[:, 1] + 0.5) * (2.0 / height) - 1.0
    return torch.stack([x, y], dim=-1)


def warp(features: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Bilinearly sample keyframe ``features`` (N, C, h, w) at p + flow[p]; samples outside the
    map are 0. ``flow`` (N, 2, h, w) in grid pixels. Returns (N, C, h, w)."""
    return F.grid_sample(features, flow_to_grid(flow), mode="bilinear", padding_mode="zeros",
                         align_corners=False)
