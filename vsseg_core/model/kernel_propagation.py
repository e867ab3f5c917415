"""Spatially variant convolution propagation (Low-Latency Video Semantic Segmentation, CVPR 2018).

    key_deep (1, C_deep, h, w)      deep features of the keyframe (h, w = H/os, W/os)
    key_low  (1, C_low, H/4, W/4)   low-level features of the keyframe
    low      (1, C_low, H/4, W/4)   low-level features of the current frame
      -> deep (1, C_deep, h, w)     features for the current frame (``grid_logits(deep, low)``)

No optical flow: a small weight predictor looks at both frames' low-level features (pooled to the
deep grid) and outputs, for every deep-grid location, a K x K kernel (softmax-normalised, so a
convex combination); the keyframe's deep features are moved by that per-location convolution,
so content within ``K // 2`` cells of where it was can follow the motion. Then a fusion head adds
a correction from the moved features, the current low-level features, the matching error and the
in-view weight, as in the flow mode (``FeaturePropagation``).

The predictor's base term is the correlation of the current cell's low-level features with the
keyframe's at each of the K x K displacements (a local cost volume), scaled by a learned
sharpness; a learned residual from both frames' features refines it and starts at zero. So an
untrained predictor already moves a textured translation (within reach) to where it went, and
training adapts the weights to the deep features.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

from vsseg_core.model.propagation import LOW_STRIDE, fusion_head

MODE = "kernel"
INPUTS = ("key_deep", "key_low", "low")
DEFAULT_KERNEL_SIZE = 9
BLOCK_WIDTH = 32
"""Columns per block of the band matrix products (``local_correlation``, ``local_filter``): a
row of w cells costs w x (BLOCK_WIDTH + 2r) multiply-adds per channel and kernel row instead of
w x (w + 2r). The shipped model's 32-wide deep grid is one block."""
INITIAL_SHARPNESS = 20.0
"""Softmax scale of the correlations before training (a 0.1 higher correlation weighs e^2 = 7.4x
more)."""


def _band(values: torch.Tensor, padded_width: int) -> torch.Tensor:
    """(..., w, K) -> (..., w, W') with row x holding ``values[x]`` at columns x .. x + K - 1
    and zeros elsewhere (W' = ``padded_width`` >= w + K - 1): pad each row to W' + 1, flatten,
    cut the flat array after w * W' entries and fold it back (each row then starts one column
    further right than the row above)."""
    *batch, width, taps = values.shape
    skewed = F.pad(values, (0, padded_width + 1 - taps)).reshape(*batch, width * (padded_width + 1))
    return skewed[..., :width * padded_width].reshape(*batch, width, padded_width)


def _unband(matrix: torch.Tensor, taps: int) -> torch.Tensor:
    """Inverse of ``_band``: (..., w, W') -> (..., w, K) with entry (x, j) = matrix[x, x + j]."""
    *batch, width, padded_width = matrix.shape
    flat = F.pad(matrix.reshape(*batch, width * padded_width), (0, width))
    return flat.reshape(*batch, width, padded_width + 1)[..., :taps]


def _column_blocks(width: int) -> tuple[int, int]:
    """(blocks, block): ``width`` columns split into the fewest blocks of at most BLOCK_WIDTH
    columns, all ``block`` wide (a 33-wide map: 2 blocks of 17; zero columns pad the rest)."""
    width = int(width)  # a traced shape during ONNX export; the graphs have static sizes
    blocks = math.ceil(width / BLOCK_WIDTH)
    return blocks, math.ceil(width / blocks)


def _row_windows(x: torch.Tensor, radius: int, blocks: int, block: int) -> list[torch.Tensor]:
    """``x`` (N, C, h, w) -> per kernel row dy in 0..2r, (N, h, blocks, C, block + 2r): the
    columns of rows y + dy - r that each block of ``block`` output columns reads (zero outside
    the map; neighbouring windows overlap by 2r columns)."""
    height, width = x.shape[-2:]
    span = block + 2 * radius
    padded = F.pad(x, (radius, radius + blocks * block - width, radius, radius))
    rows = [padded[:, :, dy:dy + height].permute(0, 2, 1, 3) for dy in range(2 * radius + 1)]
    return [torch.stack([r[..., b * block:b * block + span] for b in range(blocks)], dim=2)
            for r in rows]


def local_correlation(key: torch.Tensor, current: torch.Tensor, radius: int) -> torch.Tensor:
    """Correlation of each cell of ``current`` (N, C, h, w) with the cells of ``key`` (N, C, h, w)
    displaced by (dy, dx) in [-r, r]^2 -> (N, K*K, h, w), K = 2r + 1, row-major over (dy, dx);
    displacements outside the map correlate 0.

    Per kernel row dy, one batched matrix product over image rows and blocks of BLOCK_WIDTH
    columns: each block's cells against the block + 2r keyframe columns they can reach, of which
    the K-wide band is kept. So the ONNX graph has O(K) products, and their cost grows with w
    (w x (block + 2r) per row), not w^2."""
    batch, channels, height, width = key.shape
    blocks, block = _column_blocks(width)
    here = F.pad(current, (0, blocks * block - width)).permute(0, 2, 3, 1).reshape(
        batch, height, blocks, block, channels)
    scores = [_unband(torch.matmul(here, window), 2 * radius + 1)  # (N, h, blocks, block, K)
              .reshape(batch, height, blocks * block, -1)[:, :, :width]
              for window in _row_windows(key, radius, blocks, block)]
    return torch.stack(scores, dim=1).permute(0, 1, 4, 2, 3).flatten(1, 2)


def local_filter(x: torch.Tensor, kernels: torch.Tensor, radius: int) -> torch.Tensor:
    """Per-location convolution: ``x`` (N, C, h, w), ``kernels`` (N, K*K, h, w) in
    ``local_correlation``'s order -> (N, C, h, w) with out[:, :, y, x] = sum over (dy, dx) of
    kernels[:, (dy, dx), y, x] * x[:, :, y + dy, x + dx] (0 outside the map). Per kernel row, one
    batched matrix product over image rows and column blocks against the band matrices holding
    that row's weights (cost linear in w, as in ``local_correlation``)."""
    batch, channels, height, width = x.shape
    size = 2 * radius + 1
    blocks, block = _column_blocks(width)
    weights = F.pad(kernels, (0, blocks * block - width)).view(
        batch, size, size, height, blocks, block)
    # (N, K, h, blocks, block + 2r, block): row dy's weights of each block as band matrices
    bands = _band(weights.permute(0, 1, 3, 4, 5, 2), block + 2 * radius).transpose(-1, -2)
    terms = (torch.matmul(window, bands[:, dy])  # (N, h, blocks, C, block)
             for dy, window in enumerate(_row_windows(x, radius, blocks, block)))
    out = functools.reduce(torch.add, terms).permute(0, 3, 1, 2, 4)
    return out.reshape(batch, channels, height, blocks * block)[..., :width]


def _unit_pattern(cells: torch.Tensor) -> torch.Tensor:
    """(N, C, h, w) -> each cell's channel vector minus its mean, unit length: dot products are
    then correlations in [-1, 1], with no bias from features that are all positive (ReLU)."""
    return F.normalize(cells - cells.mean(dim=1, keepdim=True), dim=1)


class KernelPropagation(nn.Module):
    """Weight predictor + per-location K x K convolution + fusion head (module docstring)."""

    mode = MODE
    inputs = INPUTS

    def __init__(self, low_channels: int, deep_channels: int, output_stride: int,
                 hidden: int = 64, kernel_size: int = DEFAULT_KERNEL_SIZE) -> None:
        super().__init__()
        if output_stride % LOW_STRIDE:
            raise ValueError(f"output stride {output_stride} is not a multiple of {LOW_STRIDE}")
        if kernel_size < 3 or kernel_size % 2 == 0 or kernel_size > 15:
            raise ValueError(f"kernel size {kernel_size}: must be odd, 3..15")
        self.ratio = output_stride // LOW_STRIDE
        self.radius = kernel_size // 2
        self.kernel_size = kernel_size
        taps = kernel_size * kernel_size
        self.sharpness = nn.Parameter(torch.tensor(INITIAL_SHARPNESS))
        self.refine = nn.Sequential(
            nn.Conv2d(taps + 2 * low_channels, hidden, 3, padding=1, bias=False),
            nn.BatchNorm2d(hidden), nn.ReLU(inplace=True), nn.Conv2d(hidden, taps, 1))
        nn.init.zeros_(self.refine[-1].weight)
        nn.init.zeros_(self.refine[-1].bias)
        self.fusion = fusion_head(deep_channels + low_channels + 2, hidden, deep_channels)

    def _to_deep_grid(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.ratio == 1 else F.avg_pool2d(x, self.ratio)

    def kernels(self, key_cells: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
        """Low-level features of the keyframe and the current frame on the deep grid
        (N, C_low, h, w) each -> per-location kernels (N, K*K, h, w), non-negative, summing to 1
        over K*K (``local_correlation``'s order)."""
        key_unit, unit = _unit_pattern(key_cells), _unit_pattern(cells)
        similarity = local_correlation(key_unit, unit, self.radius)
        scores = self.sharpness * similarity + self.refine(torch.cat([similarity, cells, key_cells], 1))
        return torch.softmax(scores, dim=1)

    def move(self, x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
        """Apply per-location ``kernels`` (N, K*K, h, w) to ``x`` (N, C, h, w) -> (N, C, h, w)."""
        return local_filter(x, kernels, self.radius)

    def forward(self, key_deep: torch.Tensor, key_low: torch.Tensor, low: torch.Tensor
                ) -> torch.Tensor:
        key_cells, cells = self._to_deep_grid(key_low), self._to_deep_grid(low)
        kernels = self.kernels(key_cells, cells)
        ones = torch.ones_like(key_cells[:, :1])
        moved = self.move(torch.cat([key_deep, key_cells, ones], dim=1), kernels)
        deep_channels = key_deep.shape[1]
        warped, warped_cells = moved[:, :deep_channels], moved[:, deep_channels:-1]
        error = (cells - warped_cells).abs().mean(dim=1, keepdim=True)
        features = torch.cat([warped, cells, error, moved[:, -1:]], dim=1)
        return F.relu(warped + self.fusion(features))
