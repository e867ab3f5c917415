"""Pinhole camera riding with the ego vehicle over a curved, flat road.

Small-angle model: pitch moves the horizon row, heading shifts points laterally. Inverse and
forward projection use the same formulas, so ground pixels and projected objects agree exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vsseg_core.synth.road import EgoPose, Road

CAMERA_HEIGHT_M = 1.22  # Cityscapes' camera height
NEAR_M = 0.8
"""Points closer than this (metres ahead) are clipped."""


@dataclass(frozen=True)
class Camera:
    """Intrinsics for an image of ``height`` x ``width`` pixels (Cityscapes-like field of view)."""

    height: int
    width: int

    @property
    def focal(self) -> float:
        """Focal length in pixels (Cityscapes: 2262 px at 2048 px width)."""
        return 1.1 * self.width

    @property
    def cx(self) -> float:
        return self.width / 2.0

    def horizon_row(self, pose: EgoPose) -> float:
        """Image row (pixels, may be fractional) of the horizon for this pose's pitch."""
        return self.height * 0.42 - self.focal * pose.pitch

    def ground_rows(self, pose: EgoPose, max_distance_m: float) -> tuple[np.ndarray, np.ndarray]:
        """Rows that see the ground within ``max_distance_m`` and their forward distance Z (m).

        Returns (rows int array, z float64 array) for rows below the horizon.
        """
        v_h = self.horizon_row(pose)
        first = max(0, int(np.floor(v_h + self.focal * CAMERA_HEIGHT_M / max_distance_m)) + 1)
        rows = np.arange(first, self.height)
        z = self.focal * CAMERA_HEIGHT_M / (rows + 0.5 - v_h)
        return rows, z

    def project(
        self, road: Road, pose: EgoPose, s: np.ndarray, lat: np.ndarray, h: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Project road-coordinate points (metres) to pixels.

        Returns (u, v, z): column and row in pixels (float64), forward distance z in metres.
        Points with z < NEAR_M are not meaningful; callers clip before projecting.
        """
        z = s - pose.s
        x = self.lateral_in_camera(road, pose, z, lat)
        u = self.cx + self.focal * x / z
        v = self.horizon_row(pose) + self.focal * (CAMERA_HEIGHT_M - h) / z
        return u, v, z

    @staticmethod
    def lateral_in_camera(road: Road, pose: EgoPose, z: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Camera-frame lateral coordinate (m, right positive) of points ``z`` m ahead at ``lat``."""
        return road.centre_offset(pose.s, z) + lat - pose.lat - pose.heading * z
