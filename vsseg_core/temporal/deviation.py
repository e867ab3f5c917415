"""How much a frame's low-level features changed since the keyframe (Low-Latency VSS cue)."""

from __future__ import annotations

import numpy as np


def feature_deviation(low: np.ndarray, key_low: np.ndarray) -> float:
    """Normalised distance between low-level feature maps of equal shape (1, C, h, w):
    mean over pixels of ||low - key_low|| divided by the mean of ||key_low|| (both L2 over
    channels). 0 for identical maps; about 1 when the change is as large as the features."""
    if low.shape != key_low.shape:
        raise ValueError(f"feature maps differ in shape: {low.shape} vs {key_low.shape}")
    diff = np.sqrt(((low - key_low) ** 2).sum(axis=1)).mean()
    scale = np.sqrt((key_low**2).sum(axis=1)).mean()
    return float(diff / max(float(scale), 1e-6))
