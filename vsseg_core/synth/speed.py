"""Ego speed profiles: how fast the ego car drives, sampled every ``dt`` seconds (m/s).

``cruise`` is the original trajectory (random speed targets, rare stops) and lives in
``road.EgoTrack`` because it shares that generator with the rest of the scene. The other
profiles draw from a generator of their own, so choosing one never changes the scene itself.
"""

from __future__ import annotations

import numpy as np

from vsseg_core.synth.seeding import rng_for

PROFILES = ("cruise", "stop_and_go", "varying", "parked")
"""Profiles a single sequence can have."""
MIXED = "mixed"
"""Each sequence draws one of PROFILES (from the seed and the sequence index)."""
PROFILE_CHOICES = (*PROFILES, MIXED)
_MIXED_PURPOSE = 9
"""rng_for purpose of the per-sequence profile choice (see generator and scene for others)."""


def sequence_profile(profile: str, seed: int, seq: int) -> str:
    """The profile sequence ``seq`` uses: ``profile`` itself, or for ``mixed`` a draw that
    depends only on (seed, seq)."""
    if profile != MIXED:
        return profile
    return PROFILES[int(rng_for(seed, seq, _MIXED_PURPOSE).integers(len(PROFILES)))]


def follow(target: np.ndarray, v0: float, dt: float, *, brake: float, accel: float
           ) -> tuple[np.ndarray, np.ndarray]:
    """Speed (m/s) chasing ``target`` (m/s per step) from ``v0`` with the acceleration limited to
    ``accel`` and the deceleration to ``brake`` (both m/s^2) -> (speed, acceleration m/s^2)."""
    speed = np.empty(target.size)
    acceleration = np.empty(target.size)
    v = v0
    for i in range(target.size):
        dv = np.clip(target[i] - v, -brake * dt, accel * dt)
        acceleration[i] = dv / dt
        v += dv
        speed[i] = v
    return speed, acceleration


def _ramp(v0: float, v1: float, rate: float, dt: float) -> np.ndarray:
    """Speeds (m/s) after each step going from v0 to v1 at ``rate`` m/s^2; ends exactly at v1."""
    steps = int(np.ceil(abs(v1 - v0) / (rate * dt)))
    ramp = v0 + np.sign(v1 - v0) * rate * dt * np.arange(1, steps + 1)
    return np.clip(ramp, min(v0, v1), max(v0, v1))


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Moving average over ``window`` samples, edges padded with the end values."""
    if window <= 1 or values.size == 0:
        return values.copy()
    padded = np.pad(values, (window // 2, window - 1 - window // 2), mode="edge")
    return np.convolve(padded, np.ones(window) / window, mode="valid")


def stop_and_go_speed(rng: np.random.Generator, steps: int, dt: float, max_speed: float
                      ) -> np.ndarray:
    """Stand 1-4 s, accelerate at 1.5-3 m/s^2 to 0.2-0.7 of ``max_speed`` (m/s), hold it
    0.3-2 s, brake at 2-4 m/s^2 to a stop, and again. The cycle starts at a random point, so a
    short sequence may begin standing, moving, braking or pulling away."""
    lead = int(rng.uniform(0.0, 12.0) / dt)
    pieces: list[np.ndarray] = []
    total = 0
    while total < lead + steps:
        cruise = rng.uniform(0.2, 0.7) * max_speed
        pieces += [
            np.zeros(int(round(rng.uniform(1.0, 4.0) / dt))),
            _ramp(0.0, cruise, rng.uniform(1.5, 3.0), dt),
            np.full(int(round(rng.uniform(0.3, 2.0) / dt)), cruise),
            _ramp(cruise, 0.0, rng.uniform(2.0, 4.0), dt),
        ]
        total += sum(p.size for p in pieces[-4:])
    return np.concatenate(pieces)[lead:lead + steps]


def varying_speed(rng: np.random.Generator, steps: int, dt: float, max_speed: float
                  ) -> np.ndarray:
    """Speed (m/s) swinging smoothly between 0.1-0.35 and 0.65-1.0 of ``max_speed``: targets held
    0.8-2.5 s, chased at up to 3 m/s^2, then smoothed over 0.4 s (no jumps in acceleration)."""
    count = int(steps * dt / 0.8) + 2
    durations = rng.uniform(0.8, 2.5, size=count)
    high = (np.arange(count) + rng.integers(2)) % 2 == 1
    targets = np.where(high, rng.uniform(0.65, 1.0, count), rng.uniform(0.1, 0.35, count)) * max_speed
    target = np.repeat(targets, np.ceil(durations / dt).astype(int))
    target = np.concatenate([target, np.full(max(0, steps - target.size), targets[-1])])[:steps]
    speed, _ = follow(target, rng.uniform(0.1, 1.0) * max_speed, dt, brake=3.0, accel=3.0)
    return _smooth(speed, int(round(0.4 / dt)))


def profile_speed(profile: str, rng: np.random.Generator, steps: int, dt: float,
                  max_speed: float) -> np.ndarray:
    """Speed (m/s) per step of ``dt`` s for the profiles other than cruise."""
    if profile == "stop_and_go":
        return stop_and_go_speed(rng, steps, dt, max_speed)
    if profile == "varying":
        return varying_speed(rng, steps, dt, max_speed)
    if profile == "parked":
        return np.zeros(steps)
    raise ValueError(f"no speed profile {profile!r}; choose one of {', '.join(PROFILES[1:])}")


def profile_heading(profile: str, rng: np.random.Generator, clock: np.ndarray) -> np.ndarray:
    """Extra yaw (rad) per step: slow turns of 0.03-0.08 rad over 6-14 s of ``clock`` (s) for
    ``varying``, nothing for the other profiles."""
    if profile != "varying":
        return np.zeros(clock.size)
    amplitude, period = rng.uniform(0.03, 0.08), rng.uniform(6.0, 14.0)
    return amplitude * np.sin(2 * np.pi * clock / period + rng.uniform(0, 2 * np.pi))


def smooth_acceleration(speed: np.ndarray, dt: float) -> np.ndarray:
    """Acceleration (m/s^2) of ``speed`` (m/s per step of ``dt`` s), low-passed over 0.3 s as
    a car's suspension would (the nose dips when braking and rises back after the stop)."""
    acceleration = np.diff(speed, prepend=speed[:1]) / dt
    return _smooth(acceleration, int(round(0.3 / dt)))
