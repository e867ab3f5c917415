"""Train a propagation module (``--propagation flow``: the fusion head of
``FeaturePropagation``; ``kernel``: ``KernelPropagation``'s weight predictor and fusion head)
with the segmentation network frozen.

A sample is a (keyframe, current frame) pair of one sequence at distance 1..``max_distance``
frames; the keyframe's deep features are propagated to the current frame (warped with DIS flow,
or moved by predicted per-location kernels), fused with the current frame's low-level features
and classified; the loss is the class-weighted
cross-entropy against the current frame's labels (so every frame must be labelled, as in
`vsseg synth` output's gtFine_sequence).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from vsseg_core.data.cityscapes import CityscapesDataset, DatasetError, FrameRecord
from vsseg_core.errors import VssegError
from vsseg_core.labels import IGNORE_ID
from vsseg_core.model.graphs import PROPAGATIONS, Propagation, build_propagation
from vsseg_core.model.kernel_propagation import DEFAULT_KERNEL_SIZE
from vsseg_core.model.pspnet import PSPNet
from vsseg_core.flow import grid_flow
from vsseg_core.train.data import class_weights

DEFAULT_FLOW_SCALE = 0.5
"""DIS runs on the network input downscaled by this factor (see ``grid_flow``)."""


@dataclass(frozen=True)
class PropagationConfig:
    """Everything that determines a fusion-head training run (with the data and the bundle)."""

    data: str
    split: str = "train"
    max_distance: int = 10
    iterations: int = 600
    batch_size: int = 8
    lr: float = 1e-3
    hidden: int = 64
    mode: str = "flow"
    """Propagation mode: "flow" (DIS flow + warp) or "kernel" (spatially variant convolution)."""
    kernel_size: int = DEFAULT_KERNEL_SIZE
    """Kernel mode: K of the K x K kernels (deep-grid cells; reach K // 2 cells)."""
    flow_scale: float = DEFAULT_FLOW_SCALE
    class_weight_power: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("max_distance", "iterations", "batch_size", "hidden"):
            if getattr(self, name) < 1:
                raise VssegError(f"--{name.replace('_', '-')} must be >= 1")
        if not 0 < self.lr < math.inf:
            raise VssegError(f"--lr must be a positive number, got {self.lr}")
        if self.seed < 0:
            raise VssegError(f"--seed must be >= 0, got {self.seed}")
        if not 0 < self.flow_scale <= 1:
            raise VssegError(f"--flow-scale must be in (0, 1], got {self.flow_scale}")
        if self.mode not in PROPAGATIONS:
            raise VssegError(f"--propagation {self.mode!r}: choose {' or '.join(PROPAGATIONS)}")
        if not (3 <= self.kernel_size <= 15 and self.kernel_size % 2):
            raise VssegError(f"--kernel-size must be odd, 3..15, got {self.kernel_size}")

    def options(self) -> dict:
        """The module options model.json records under "temporal" "propagation"."""
        options = {"mode": self.mode, "hidden": self.hidden}
        return {**options, "kernel_size": self.kernel_size} if self.mode == "kernel" else options

    def build(self, model: PSPNet) -> Propagation:
        """A new propagation module of this mode for ``model``."""
        return build_propagation(model, **self.options())


class FrameCache:
    """Frames of labelled sequences at the network input size, loaded once.

    ``image(s, i)``: (H, W, 3) uint8 RGB; ``labels(s, i)``: (H, W) uint8 trainIds.
    """

    def __init__(self, dataset: CityscapesDataset, size: tuple[int, int], min_length: int) -> None:
        self.size = size
        self.sequences: list[tuple[FrameRecord, ...]] = [
            seq.frames for seq in dataset.sequences if len(seq) >= min_length]
        if not self.sequences:
            raise DatasetError(f"{dataset.root} ({dataset.split}) has no sequence of at least "
                               f"{min_length} frames; propagation needs video sequences")
        unlabelled = [r.image_path for seq in self.sequences for r in seq if r.label_path is None]
        if unlabelled:
            raise DatasetError(f"{unlabelled[0]} has no labels: propagation training needs every "
                               "frame labelled (gtFine_sequence), e.g. `vsseg synth` output")
        self.image = lru_cache(maxsize=None)(self._image)
        self.labels = lru_cache(maxsize=None)(self._labels)

    def _image(self, seq: int, index: int) -> np.ndarray:
        rgb = self.sequences[seq][index].load_image()
        if rgb.shape[:2] != self.size:
            rgb = cv2.resize(rgb, (self.size[1], self.size[0]), interpolation=cv2.INTER_AREA)
        return rgb

    def _labels(self, seq: int, index: int) -> np.ndarray:
        labels = self.sequences[seq][index].load_labels()
        assert labels is not None  # checked in __init__
        if labels.shape != self.size:
            labels = cv2.resize(labels, (self.size[1], self.size[0]),
                                interpolation=cv2.INTER_NEAREST)
        return labels


@torch.no_grad()
def low_features(model: PSPNet, rgb: np.ndarray) -> torch.Tensor:
    """(B, H, W, 3) uint8 RGB -> low-level features (B, C_low, H/4, W/4) of the frozen model."""
    return model.forward_low(torch.from_numpy(rgb).permute(0, 3, 1, 2).float())


def propagate(propagation: Propagation, key_deep: torch.Tensor, key_low: torch.Tensor,
              low: torch.Tensor, flow: torch.Tensor | np.ndarray | None) -> torch.Tensor:
    """Deep features (B, C_deep, h, w) of the current frames; ``flow`` (B, 2, H/4, W/4) is
    passed only to a mode that takes it (None is fine otherwise)."""
    if "flow" not in propagation.inputs:
        return propagation(key_deep, key_low, low)
    if flow is None:
        raise ValueError("the flow propagation mode needs the flow")
    return propagation(key_deep, key_low, low, torch.as_tensor(flow))


def pair_batch(cache: FrameCache, rng: np.random.Generator, config: PropagationConfig,
               low_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """Random pairs: (key RGB (B, H, W, 3), current RGB (B, H, W, 3), flow (B, 2, h, w) on the
    low-level grid (None in the kernel mode, which needs none), current labels (B, H, W)
    uint8)."""
    keys, currents, flows, labels = [], [], [], []
    for _ in range(config.batch_size):
        seq = int(rng.integers(len(cache.sequences)))
        length = len(cache.sequences[seq])
        distance = int(rng.integers(1, min(config.max_distance, length - 1) + 1))
        current = int(rng.integers(distance, length))
        key_rgb, cur_rgb = cache.image(seq, current - distance), cache.image(seq, current)
        keys.append(key_rgb)
        currents.append(cur_rgb)
        if config.mode == "flow":
            flows.append(grid_flow(cur_rgb, key_rgb, low_size, config.flow_scale)[0])
        labels.append(cache.labels(seq, current))
    return np.stack(keys), np.stack(currents), np.stack(flows) if flows else None, np.stack(labels)


def train_propagation(model: PSPNet, config: PropagationConfig, *, progress: bool = True
                      ) -> tuple[Propagation, dict]:
    """Train a propagation module of ``config.mode`` for the frozen ``model``; returns it (eval
    mode) and a record of the run (config, seconds, final loss)."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = model.cpu().eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    dataset = CityscapesDataset(config.data, config.split)
    cache = FrameCache(dataset, model.config.input_size, min_length=2)
    weights = class_weights([r for seq in cache.sequences for r in seq], config.class_weight_power)
    propagation = config.build(model)
    optimizer = torch.optim.AdamW(propagation.parameters(), lr=config.lr, weight_decay=1e-4)
    start, losses = time.perf_counter(), []
    propagation.train()
    with tqdm(range(config.iterations), desc="train-propagation", unit="it", disable=not progress,
              mininterval=2.0) as bar:
        for iteration in bar:
            for group in optimizer.param_groups:
                group["lr"] = config.lr * (1 - iteration / config.iterations) ** 0.9
            keys, currents, flows, labels = pair_batch(cache, rng, config, model.config.low_size)
            key_low, low = low_features(model, keys), low_features(model, currents)
            with torch.no_grad():
                key_deep = model.forward_high(key_low)
            deep = propagate(propagation, key_deep, key_low, low, flows)
            loss = F.cross_entropy(model.classify(deep, low), torch.from_numpy(labels).long(),
                                   weight=weights, ignore_index=IGNORE_ID)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
    propagation.eval()
    record = {"config": config.__dict__.copy(), "training_seconds": round(time.perf_counter() - start, 1),
              "final_loss": float(np.mean(losses[-50:]))}
    return propagation, record

