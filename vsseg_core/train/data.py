"""Training samples from a Cityscapes-layout dataset: random scale, crop, flip, colour jitter.

Every sample is a pure function of (seed, epoch, position), so training is reproducible and
``--resume`` continues exactly where it stopped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from vsseg_core.data.cityscapes import CityscapesDataset, DatasetError, FrameRecord
from vsseg_core.errors import VssegError
from vsseg_core.labels import IGNORE_ID, NUM_CLASSES


@dataclass(frozen=True)
class Augment:
    """Augmentation ranges. scale: resize factor range; jitter: +-fraction for brightness,
    contrast and saturation; hue: +-degrees."""

    scale: tuple[float, float] = (0.75, 1.5)
    flip: bool = True
    jitter: float = 0.3
    hue: float = 8.0


def labelled_frames(dataset: CityscapesDataset) -> list[FrameRecord]:
    frames = list(dataset.labelled_frames())
    if not frames:
        raise DatasetError(f"{dataset.root} ({dataset.split}) has no labelled frames; training needs "
                           "gtFine or gtFine_sequence labelIds PNGs")
    return frames


def _colour_jitter(rgb: np.ndarray, rng: np.random.Generator, aug: Augment) -> np.ndarray:
    img = rgb.astype(np.float32)
    img *= 1 + rng.uniform(-aug.jitter, aug.jitter)  # brightness
    mean = img.mean()
    img = (img - mean) * (1 + rng.uniform(-aug.jitter, aug.jitter)) + mean  # contrast
    grey = img.mean(axis=2, keepdims=True)
    img = (img - grey) * (1 + rng.uniform(-aug.jitter, aug.jitter)) + grey  # saturation
    img = np.clip(img, 0, 255).astype(np.uint8)
    if aug.hue:
        hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
        shift = int(round(rng.uniform(-aug.hue, aug.hue) / 2))  # OpenCV hue unit is 2 degrees
        hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + shift) % 180).astype(np.uint8)
        img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return img


def make_sample(rgb: np.ndarray, labels: np.ndarray, size: tuple[int, int],
                rng: np.random.Generator, aug: Augment | None) -> tuple[np.ndarray, np.ndarray]:
    """One training pair at ``size`` (H, W): image (3, H, W) float32 RGB 0..255 and labels
    (H, W) int64 trainIds (255 ignored). Without ``aug`` the frame is only resized."""
    height, width = size
    if aug is None:
        img = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_LINEAR)
        lab = cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST)
    else:
        base = min(height / rgb.shape[0], width / rgb.shape[1])
        factor = base * rng.uniform(*aug.scale)
        new_h, new_w = max(1, round(rgb.shape[0] * factor)), max(1, round(rgb.shape[1] * factor))
        img = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        lab = cv2.resize(labels, (new_w, new_h), interpolation=cv2.INTER_NEAREST)
        pad_h, pad_w = max(0, height - new_h), max(0, width - new_w)
        if pad_h or pad_w:
            img = cv2.copyMakeBorder(img, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT, value=(0, 0, 0))
            lab = cv2.copyMakeBorder(lab, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT, value=IGNORE_ID)
        top = int(rng.integers(0, img.shape[0] - height + 1))
        left = int(rng.integers(0, img.shape[1] - width + 1))
        img = img[top:top + height, left:left + width]
        lab = lab[top:top + height, left:left + width]
        if aug.flip and rng.random() < 0.5:
            img, lab = img[:, ::-1], lab[:, ::-1]
        img = _colour_jitter(np.ascontiguousarray(img), rng, aug)
    return (np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32),
            np.ascontiguousarray(lab, dtype=np.int64))


class TrainBatches:
    """Deterministic batches over labelled frames: ``batch(iteration)`` -> (images, labels)
    tensors of shape (B, 3, H, W) float32 and (B, H, W) int64."""

    def __init__(self, frames: list[FrameRecord], size: tuple[int, int], batch_size: int,
                 seed: int, aug: Augment | None = Augment()) -> None:
        self.frames, self.size, self.batch_size, self.seed, self.aug = frames, size, batch_size, seed, aug

    def _order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.frames))

    def batch(self, iteration: int) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = [], []
        for k in range(self.batch_size):
            position = iteration * self.batch_size + k
            epoch, offset = divmod(position, len(self.frames))
            record = self.frames[int(self._order(epoch)[offset])]
            rng = np.random.default_rng([self.seed, epoch, offset, 7])
            gt = record.load_labels()
            assert gt is not None  # labelled_frames() only
            img, lab = make_sample(record.load_image(), gt, self.size, rng, self.aug)
            images.append(img)
            labels.append(lab)
        return torch.from_numpy(np.stack(images)), torch.from_numpy(np.stack(labels))


class _BatchesByIteration(Dataset):
    """Item i is ``batches.batch(start + i)``; a user error comes back as a value, so the main
    process raises it with its own one-line message (a DataLoader would wrap it in a
    worker traceback)."""

    def __init__(self, batches: TrainBatches, start: int, end: int) -> None:
        self.batches, self.start, self.end = batches, start, end

    def __len__(self) -> int:
        return self.end - self.start

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor] | VssegError:
        try:
            return self.batches.batch(self.start + index)
        except VssegError as exc:
            return exc


def _single_threaded_worker(_: int) -> None:
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def iterate_batches(batches: TrainBatches, start: int, end: int, *, workers: int = 0,
                    pin_memory: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``batches.batch(i)`` for i in [start, end), in order. With ``workers`` > 0 the batches
    are decoded and augmented ahead of time in that many processes (2 batches each); since a
    batch is a pure function of its iteration, the sequence is the same for any ``workers``."""
    if workers == 0:
        return (batches.batch(iteration) for iteration in range(start, end))
    loader = DataLoader(_BatchesByIteration(batches, start, end), batch_size=None, shuffle=False,
                        num_workers=workers, pin_memory=pin_memory, prefetch_factor=2,
                        worker_init_fn=_single_threaded_worker,
                        # fresh interpreters: forking after torch's or OpenCV's thread pools
                        # have started can deadlock the workers
                        multiprocessing_context="spawn",
                        generator=torch.Generator())  # leaves the global RNG (dropout) untouched
    return _raising_user_errors(loader)


def _raising_user_errors(loader: DataLoader) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for item in loader:
        if isinstance(item, VssegError):
            raise item
        yield item


def class_weights(frames: list[FrameRecord], power: float = 0.5) -> torch.Tensor:
    """Per-class loss weights (NUM_CLASSES,) float32: (median frequency / frequency) ** power,
    clipped to [0.25, 8]; classes absent from the data get weight 1 (they never occur)."""
    counts = np.zeros(256, np.int64)
    for record in frames:
        gt = record.load_labels()
        if gt is not None:
            counts += np.bincount(gt.ravel(), minlength=256)
    freq = counts[:NUM_CLASSES].astype(np.float64)
    present = freq > 0
    weights = np.ones(NUM_CLASSES)
    if present.any():
        weights[present] = np.clip((np.median(freq[present]) / freq[present]) ** power, 0.25, 8.0)
    return torch.tensor(weights, dtype=torch.float32)
