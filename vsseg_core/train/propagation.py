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

import itertools
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from vsseg_core.data.cityscapes import CityscapesDataset, DatasetError
from vsseg_core.data.sources import InputFrame
from vsseg_core.errors import VssegError
from vsseg_core.labels import IGNORE_ID
from vsseg_core.model.graphs import PROPAGATIONS, Propagation, build_propagation
from vsseg_core.model.kernel_propagation import DEFAULT_KERNEL_SIZE
from vsseg_core.model.pspnet import PSPNet
from vsseg_core.flow import grid_flow
from vsseg_core.train.data import class_weights

DEFAULT_FLOW_SCALE = 0.5
"""DIS runs on the network input downscaled by this factor (see ``grid_flow``)."""
TARGETS = ("labels", "soft", "hard")
"""What a propagated frame is trained towards (see the module docstring)."""


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
    targets: str = "labels"
    """One of TARGETS: ground truth, or the frozen network's soft or hard output (label-free)."""

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
        if self.targets not in TARGETS:
            raise VssegError(f"--targets {self.targets!r}: choose {', '.join(TARGETS)}")

    @property
    def label_free(self) -> bool:
        return self.targets != "labels"

    def options(self) -> dict:
        """The module options model.json records under "temporal" "propagation"."""
        options = {"mode": self.mode, "hidden": self.hidden}
        return {**options, "kernel_size": self.kernel_size} if self.mode == "kernel" else options

    def build(self, model: PSPNet) -> Propagation:
        """A new propagation module of this mode for ``model``."""
        return build_propagation(model, **self.options())


class _Frame:
    """A frame of a source that is not a Cityscapes-layout dataset, kept in memory."""

    def __init__(self, frame: InputFrame, size: tuple[int, int]) -> None:
        self.rgb = _resized(frame.rgb, size, cv2.INTER_AREA)
        self.labels = None if frame.labels is None else _resized(frame.labels, size,
                                                                 cv2.INTER_NEAREST)

    def load_image(self) -> np.ndarray:
        return self.rgb

    def load_labels(self) -> np.ndarray | None:
        return self.labels


def _resized(pixels: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    if pixels.shape[:2] == size:
        return pixels
    return cv2.resize(pixels, (size[1], size[0]), interpolation=interpolation)


class FrameCache:
    """Frames of video sequences at the network input size, loaded once.

    ``image(s, i)``: (H, W, 3) uint8 RGB; ``labels(s, i)``: (H, W) uint8 trainIds, or None for
    an unlabelled frame. ``targets``: the (sequence, index) pairs training may propagate to —
    labelled frames after a sequence's first (``labelled=True``), else every frame after it.
    """

    def __init__(self, sequences: list[tuple], size: tuple[int, int], min_length: int, *,
                 source: str, labelled: bool = True) -> None:
        self.size = size
        self.sequences = [seq for seq in sequences if len(seq) >= min_length]
        if not self.sequences:
            raise DatasetError(f"{source} has no sequence of at least {min_length} frames; "
                               "propagation needs video sequences")
        self.targets = [(s, i) for s, seq in enumerate(self.sequences) for i in range(1, len(seq))
                        if not labelled or _has_labels(seq[i])]
        if not self.targets:
            raise DatasetError(f"{source} has no labelled frame after the first of a sequence; "
                               "training towards labels needs them (gtFine or "
                               "gtFine_sequence); or train label-free with --targets hard")
        self.image = lru_cache(maxsize=None)(self._image)
        self.labels = lru_cache(maxsize=None)(self._labels)

    @classmethod
    def from_dataset(cls, dataset: CityscapesDataset, size: tuple[int, int], min_length: int, *,
                     labelled: bool = True) -> "FrameCache":
        """The sequences of a Cityscapes-layout split (frames read on first use)."""
        return cls([seq.frames for seq in dataset.sequences], size, min_length,
                   source=f"{dataset.root} ({dataset.split})", labelled=labelled)

    @classmethod
    def from_frames(cls, frames: Iterable[InputFrame], size: tuple[int, int], min_length: int, *,
                    source: str, max_frames: int) -> "FrameCache":
        """Unlabelled training frames of any ``data.sources`` stream (a folder of images, a
        video), grouped by sequence, at most ``max_frames`` of them held in memory."""
        grouped: dict[str, list[_Frame]] = {}
        for frame in itertools.islice(frames, max_frames):
            grouped.setdefault(frame.sequence, []).append(_Frame(frame, size))
        return cls([tuple(seq) for seq in grouped.values()], size, min_length, source=source,
                   labelled=False)

    def _image(self, seq: int, index: int) -> np.ndarray:
        return _resized(self.sequences[seq][index].load_image(), self.size, cv2.INTER_AREA)

    def _labels(self, seq: int, index: int) -> np.ndarray | None:
        labels = self.sequences[seq][index].load_labels()
        return None if labels is None else _resized(labels, self.size, cv2.INTER_NEAREST)


def _has_labels(frame: object) -> bool:
    """Whether a FrameRecord (``label_path``) or in-memory _Frame (``labels``) is labelled,
    without reading the label file."""
    return getattr(frame, "label_path", None) is not None or getattr(frame, "labels", None) is not None


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
    uint8 (None when training label-free)). The current frame is one of ``cache.targets``, the
    keyframe 1..max_distance frames before it."""
    keys, currents, flows, labels = [], [], [], []
    for _ in range(config.batch_size):
        seq, current = cache.targets[int(rng.integers(len(cache.targets)))]
        distance = int(rng.integers(1, min(config.max_distance, current) + 1))
        key_rgb, cur_rgb = cache.image(seq, current - distance), cache.image(seq, current)
        keys.append(key_rgb)
        currents.append(cur_rgb)
        if config.mode == "flow":
            flows.append(grid_flow(cur_rgb, key_rgb, low_size, config.flow_scale)[0])
        if not config.label_free:
            labels.append(cache.labels(seq, current))
    return (np.stack(keys), np.stack(currents), np.stack(flows) if flows else None,
            np.stack(labels) if labels else None)


def propagation_loss(model: PSPNet, logits: torch.Tensor, low: torch.Tensor,
                     labels: np.ndarray | None, config: PropagationConfig,
                     weights: torch.Tensor | None) -> torch.Tensor:
    """The loss of propagated ``logits`` (B, classes, H, W) of frames with low-level features
    ``low``: against ``labels`` (B, H, W), or (label-free) the frozen model's own output."""
    if labels is not None:
        return F.cross_entropy(logits, torch.from_numpy(labels).long(), weight=weights,
                               ignore_index=IGNORE_ID)
    with torch.no_grad():
        teacher = model.classify(model.forward_high(low), low)
    target = teacher.softmax(1) if config.targets == "soft" else teacher.argmax(1)
    return F.cross_entropy(logits, target)


def train_propagation(model: PSPNet, config: PropagationConfig, *, progress: bool = True,
                      frames: FrameCache | None = None) -> tuple[Propagation, dict]:
    """Train a propagation module of ``config.mode`` for the frozen ``model`` on ``frames``
    (default: ``config.data``'s split); returns it (eval mode) and a record of the run
    (config, seconds, final loss)."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = model.cpu().eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    cache = frames or FrameCache.from_dataset(CityscapesDataset(config.data, config.split),
                                              model.config.input_size, min_length=2,
                                              labelled=not config.label_free)
    weights = None if config.label_free else class_weights(
        [cache.sequences[s][i] for s, i in cache.targets], config.class_weight_power)
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
            loss = propagation_loss(model, model.classify(deep, low), low, labels, config, weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
    propagation.eval()
    record = {"config": config.__dict__.copy(), "training_seconds": round(time.perf_counter() - start, 1),
              "final_loss": float(np.mean(losses[-50:]))}
    return propagation, record

