"""Per-pixel colour baseline: how far colour alone gets on a dataset.

If a per-pixel colour classifier segments the synthetic data well, the data is too easy to
say anything about a network. ``ColorBaseline`` is Gaussian naive Bayes on RGB + HSV.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from vsseg_core.labels import IGNORE_ID, NUM_CLASSES
from vsseg_core.metrics import ConfusionMatrix


def color_features(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H*W, 6) float64: R, G, B, H, S, V, all scaled to 0..1."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV_FULL)
    return np.concatenate([rgb.reshape(-1, 3), hsv.reshape(-1, 3)], axis=1) / 255.0


class ColorBaseline:
    """Gaussian naive Bayes over color_features, one Gaussian per trainId."""

    def __init__(self) -> None:
        self._sum = np.zeros((NUM_CLASSES, 6))
        self._sq = np.zeros((NUM_CLASSES, 6))
        self._count = np.zeros(NUM_CLASSES)

    def fit(self, frames: Iterable[tuple[np.ndarray, np.ndarray]]) -> "ColorBaseline":
        """Accumulate statistics from (RGB (H, W, 3) uint8, trainIds (H, W) uint8) pairs."""
        for rgb, train_ids in frames:
            feats = color_features(rgb)
            ids = train_ids.reshape(-1)
            keep = ids != IGNORE_ID
            feats, ids = feats[keep], ids[keep].astype(np.int64)
            self._count += np.bincount(ids, minlength=NUM_CLASSES)
            for c in range(6):
                self._sum[:, c] += np.bincount(ids, feats[:, c], minlength=NUM_CLASSES)
                self._sq[:, c] += np.bincount(ids, feats[:, c] ** 2, minlength=NUM_CLASSES)
        return self

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (H, W) uint8 trainIds (classes never seen are never chosen)."""
        seen = self._count > 0
        if not seen.any():
            raise ValueError("ColorBaseline.predict called before fit on any labelled pixel")
        n = self._count[seen, None]
        mean = self._sum[seen] / n
        var = np.maximum(self._sq[seen] / n - mean**2, 1e-4)
        log_prior = np.log(n[:, 0] / n.sum())
        feats = color_features(rgb)
        scores = log_prior - 0.5 * np.log(var).sum(1) - 0.5 * (
            ((feats[:, None, :] - mean[None]) ** 2) / var[None]).sum(2)
        best = np.flatnonzero(seen)[scores.argmax(1)]
        return best.reshape(rgb.shape[:2]).astype(np.uint8)


def color_baseline_miou(train: Iterable[tuple[np.ndarray, np.ndarray]],
                        test: Iterable[tuple[np.ndarray, np.ndarray]]) -> ConfusionMatrix:
    """Fit on ``train`` frames, score on ``test`` frames; returns the confusion matrix."""
    model = ColorBaseline().fit(train)
    confusion = ConfusionMatrix()
    for rgb, train_ids in test:
        confusion.update(model.predict(rgb), train_ids)
    return confusion
