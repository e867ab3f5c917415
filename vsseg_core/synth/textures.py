"""Tileable value-noise textures (seeded, deterministic)."""

from __future__ import annotations

import cv2
import numpy as np

TEXTURE_SIZE = 256


def fractal_noise(rng: np.random.Generator, size: int = TEXTURE_SIZE, octaves: int = 6) -> np.ndarray:
    """Tileable multi-octave noise, (size, size) float32 in about [-1, 1], zero mean."""
    out = np.zeros((size, size), np.float32)
    amp, total = 1.0, 0.0
    for octave in range(octaves):
        cells = 2 ** (octave + 2)
        if cells > size:
            break
        grid = rng.uniform(-1, 1, (cells, cells)).astype(np.float32)
        tiled = np.tile(grid, (3, 3))  # wrap-around interpolation keeps the texture tileable
        big = cv2.resize(tiled, (3 * size, 3 * size), interpolation=cv2.INTER_CUBIC)
        out += amp * big[size:2 * size, size:2 * size]
        total += amp
        amp *= 0.6
    out /= total
    out -= out.mean()
    return out / max(1e-6, float(np.abs(out).max()))
