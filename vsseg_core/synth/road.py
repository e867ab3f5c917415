"""Road shape (curvature along the arc) and the ego vehicle's trajectory over time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vsseg_core.synth.speed import follow, profile_heading, profile_speed, smooth_acceleration


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
    ``profile`` (``speed.PROFILES``) shapes the speed; ``cruise`` draws everything from ``rng``,
    the others draw their speed (m/s) and turns from ``profile_rng``, and their sway and bumps
    advance with the distance driven, so a standing car stands still.
    """

    def __init__(
        self, rng: np.random.Generator, *, duration_s: float, max_speed: float, lane_lat: float,
        road: Road, dt: float = 0.02, profile: str = "cruise",
        profile_rng: np.random.Generator | None = None,
    ) -> None:
        self._dt = dt
        steps = int(np.ceil(duration_s / dt)) + 2
        speed, accel = _cruise_speed(rng, duration_s, steps, dt, max_speed)
        # sway and bumps follow time (s), or for the other profiles the distance driven over a
        # reference speed, so they stand still with the car
        clock = np.arange(steps) * dt
        cruise = profile == "cruise"
        turns = np.zeros(steps)
        if not cruise:
            if profile_rng is None:
                raise ValueError(f"EgoTrack(profile={profile!r}) needs a profile_rng")
            speed = profile_speed(profile, profile_rng, steps, dt, max_speed)
            accel = smooth_acceleration(speed, dt)
            clock = _distance(speed, dt) / max(0.6 * max_speed, 1.0)
            turns = profile_heading(profile, profile_rng, clock)
        self._speed = speed
        self._s = _distance(speed, dt)
        self._accel = accel
        sway = rng.uniform(0.05, 0.35)
        self._lat = lane_lat + sway * np.sin(2 * np.pi * clock / rng.uniform(4, 9) + rng.uniform(0, 6))
        yaw_amp = rng.uniform(0.004, 0.02)
        self._heading = yaw_amp * np.sin(2 * np.pi * clock / rng.uniform(3, 8) + rng.uniform(0, 6))
        # road-following heading error grows a little where the road bends
        self._heading += 0.15 * (road.heading(self._s + 8.0) - road.heading(self._s))
        if not cruise:
            self._heading += turns
        jitter = np.convolve(rng.normal(0, 1, steps), np.ones(5) / 5, mode="same")
        idle = 0.3 if cruise else 0.0  # the original profile bumps even while standing
        self._pitch = (
            0.004 * jitter * (idle + speed / max(max_speed, 1.0))
            + 0.003 * np.sin(2 * np.pi * clock / rng.uniform(1.5, 4))
            - 0.0025 * accel
        )

    @property
    def speeds(self) -> np.ndarray:
        """Speed (m/s) at every step of ``dt`` seconds from t = 0 (a copy)."""
        return self._speed.copy()

    @property
    def dt(self) -> float:
        """Time step (s) of ``speeds``."""
        return self._dt

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


def _cruise_speed(rng: np.random.Generator, duration_s: float, steps: int, dt: float,
                  max_speed: float) -> tuple[np.ndarray, np.ndarray]:
    """The cruise profile: speed targets held 0.6-2.5 s each, occasional stops, chased at up to
    2.5 m/s^2 (braking 4 m/s^2) -> (speed m/s, acceleration m/s^2) per step of ``dt`` s.

    Every profile draws this from ``rng`` so the rest of the scene stays the same."""
    durations = rng.uniform(0.6, 2.5, size=int(duration_s / 0.6) + 2)
    targets = rng.uniform(0.2, 1.0, size=durations.size) * max_speed
    targets[rng.random(targets.size) < 0.08] = 0.0
    target_at = np.repeat(targets, np.ceil(durations / dt).astype(int))
    target_at = np.concatenate([target_at, np.full(max(0, steps - target_at.size), targets[-1])])
    return follow(target_at[:steps], rng.uniform(0.2, 1.0) * max_speed, dt, brake=4.0, accel=2.5)


def _distance(speed: np.ndarray, dt: float) -> np.ndarray:
    """Arc length (m) at every step of ``dt`` s, from speed (m/s) per step; starts at 0."""
    return np.concatenate([[0.0], np.cumsum(speed[:-1] * dt)])
