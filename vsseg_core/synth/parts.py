"""Flat polygons in road coordinates: the only thing the painter draws.

Every vertex is (s, lat, h) in metres (see the package docstring). A Part carries the
Cityscapes labelId it is labelled with and the colour it is painted in, so the image and the
label map come from the same geometry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vsseg_core.labels import LABEL_ID_BY_NAME


@dataclass(frozen=True)
class Part:
    """One flat polygon.

    vertices: (N, 3) float64 (s, lat, h) in metres; label_id: Cityscapes labelId;
    color: RGB 0..255 floats; texture: amplitude of surface texture (0 = flat colour).
    """

    vertices: np.ndarray
    label_id: int
    color: tuple[float, float, float]
    texture: float = 0.15


def label(name: str) -> int:
    """Cityscapes labelId of a class name, e.g. ``label('car') == 26``."""
    return LABEL_ID_BY_NAME[name]


def quad_along(s0: float, s1: float, lat: float, h0: float, h1: float) -> np.ndarray:
    """Vertical rectangle in the plane lat = const (a facade, a car's side): (4, 3)."""
    return np.array([[s0, lat, h0], [s1, lat, h0], [s1, lat, h1], [s0, lat, h1]], dtype=float)


def quad_across(s: float, lat0: float, lat1: float, h0: float, h1: float) -> np.ndarray:
    """Vertical rectangle in the plane s = const (facing the camera): (4, 3)."""
    return np.array([[s, lat0, h0], [s, lat1, h0], [s, lat1, h1], [s, lat0, h1]], dtype=float)


def ellipse_across(
    s: float, lat: float, h: float, r_lat: float, r_h: float, n: int = 12,
    jitter: np.ndarray | None = None,
) -> np.ndarray:
    """Ellipse (or a noisy blob when ``jitter`` gives n radius factors) in the plane s = const."""
    angle = np.linspace(0, 2 * np.pi, n, endpoint=False)
    scale = np.ones(n) if jitter is None else jitter
    return np.stack(
        [np.full(n, s), lat + r_lat * scale * np.cos(angle), h + r_h * scale * np.sin(angle)],
        axis=1,
    )


def ellipse_along(s: float, lat: float, h: float, r_s: float, r_h: float, n: int = 10) -> np.ndarray:
    """Ellipse in the plane lat = const (a wheel seen from the side)."""
    angle = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack(
        [s + r_s * np.cos(angle), np.full(n, lat), h + r_h * np.sin(angle)], axis=1
    )


def bar(s0: float, lat0: float, h0: float, s1: float, lat1: float, h1: float, width: float) -> np.ndarray:
    """A thin straight bar (pole, bicycle tube, fence rail) of ``width`` metres between two
    points, drawn as a quad facing the camera: (4, 3)."""
    p0 = np.array([s0, lat0, h0])
    p1 = np.array([s1, lat1, h1])
    d = p1 - p0
    # offset perpendicular to the bar within the camera-facing plane (lat, h)
    perp = np.array([0.0, -d[2], d[1]])
    norm = np.hypot(perp[1], perp[2])
    perp = np.array([0.0, 1.0, 0.0]) if norm < 1e-9 else perp / norm
    off = perp * width / 2
    return np.stack([p0 - off, p1 - off, p1 + off, p0 + off])
