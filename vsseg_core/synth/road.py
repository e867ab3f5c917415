"""Road shape (curvature along the arc) and the ego vehicle's trajectory over time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Road:
    """Road whose curvature is a sum of sinusoids in arc length s (metres).

    ``amplitudes`` are curvatures in 1/m, ``wavenumbers`` in rad/m, ``phases`` in rad.
    """

    amplitudes: np.ndarray
    wavenumbers: np.ndarray
    phases: np.ndarray

    @classmethod
    def random(cls, rng: np.random.Generator, turn: float) -> "Road":
        """A road with bends; ``turn`` scales the curvature (0 = straight)."""
        amplitudes = turn * rng.uniform(0.002, 0.012, size=2) * rng.choice([-1, 1], size=2)
        wavenumbers = 2 * np.pi / rng.uniform(60.0, 250.0, size=2)
        return cls(amplitudes, wavenumbers, rng.uniform(0, 2 * np.pi, size=2))

    def heading(self, s: np.ndarray | float) -> np.ndarray:
        """Road heading (rad) at arc length s, relative to its heading at s = 0 (+ constant)."""
        arg = np.multiply.outer(np.asarray(s, dtype=np.float64), self.wavenumbers) + self.phases
        return (-self.amplitudes / self.wavenumbers * np.cos(arg)).sum(axis=-1)

    def _integrated_heading(self, s: np.ndarray | float) -> np.ndarray:
        arg = np.multiply.outer(np.asarray(s, dtype=np.float64), self.wavenumbers) + self.phases
        return (-self.amplitudes / self.wavenumbers**2 * np.sin(arg)).sum(axis=-1)

    def centre_offset(self, s_ego: float, z: np.ndarray) -> np.ndarray:
        """Lateral offset (m) of the road centre ``z`` metres ahead of ``s_ego``, measured from
        the tangent line at ``s_ego`` (positive: the road bends to the right)."""
        z = np.asarray(z, dtype=np.float64)
        return (
            self._integrated_heading(s_ego + z)
            - self._integrated_heading(s_ego)
            - self.heading(s_ego) * z
        )


@dataclass(frozen=True)
class EgoPose:
    """Ego camera pose in road coordinates at one instant.

    s: arc length (m); lat: lateral offset from the road centre (m, right positive);
    heading: yaw relative to the road tangent (rad, right positive); pitch: rad (nose down
    positive, moves the horizon up); speed: m/s; yaw_rate: rad/s (drives motion blur).
    """

    s: float
    lat: float
    heading: float
    pitch: float
    speed: float
    yaw_rate: float


class EgoTrack:
    """Deterministic ego trajectory: speed changes, lane keeping sway, pitch jitter.

    ``pose(t)`` is defined for any time t (seconds), negative included (extrapolated at the
    initial speed), so agents spawned "before" the sequence start are placed consistently.
    """

    def __init__(
        self, rng: np.random.Generator, *, duration_s: float, max_speed: float, lane_lat: float,
        road: Road, dt: float = 0.02,
    ) -> None:
        self._dt = dt
        steps = int(np.ceil(duration_s / dt)) + 2
        # speed targets held for 0.6..2.5 s each; occasional stops
        durations = rng.uniform(0.6, 2.5, size=int(duration_s / 0.6) + 2)
        targets = rng.uniform(0.2, 1.0, size=durations.size) * max_speed
        targets[rng.random(targets.size) < 0.08] = 0.0
        target_at = np.repeat(targets, np.ceil(durations / dt).astype(int))
        target_at = np.concatenate([target_at, np.full(max(0, steps - target_at.size), targets[-1])])
        speed = np.empty(steps)
        accel = np.empty(steps)
        v = rng.uniform(0.2, 1.0) * max_speed
        for i in range(steps):
            dv = np.clip(target_at[i] - v, -4.0 * dt, 2.5 * dt)
            accel[i] = dv / dt
            v += dv
            speed[i] = v
        self._speed = speed
        self._s = np.concatenate([[0.0], np.cumsum(speed[:-1] * dt)])
        self._accel = accel
        t = np.arange(steps) * dt
        sway = rng.uniform(0.05, 0.35)
        self._lat = lane_lat + sway * np.sin(2 * np.pi * t / rng.uniform(4, 9) + rng.uniform(0, 6))
        yaw_amp = rng.uniform(0.004, 0.02)
        self._heading = yaw_amp * np.sin(2 * np.pi * t / rng.uniform(3, 8) + rng.uniform(0, 6))
        # road-following heading error grows a little where the road bends
        self._heading += 0.15 * (road.heading(self._s + 8.0) - road.heading(self._s))
        jitter = np.convolve(rng.normal(0, 1, steps), np.ones(5) / 5, mode="same")
        self._pitch = (
            0.004 * jitter * (0.3 + speed / max(max_speed, 1.0))
            + 0.003 * np.sin(2 * np.pi * t / rng.uniform(1.5, 4))
            - 0.0025 * accel
        )

    def pose(self, t: float) -> EgoPose:
        """Pose at time t (s)."""
        if t < 0:
            return EgoPose(
                self._s[0] + self._speed[0] * t, self._lat[0], self._heading[0], self._pitch[0],
                self._speed[0], 0.0,
            )
        i = min(int(round(t / self._dt)), self._s.size - 2)
        yaw_rate = (self._heading[i + 1] - self._heading[i]) / self._dt
        return EgoPose(
            float(self._s[i]), float(self._lat[i]), float(self._heading[i]),
            float(self._pitch[i]), float(self._speed[i]), float(yaw_rate),
        )
