"""Keyframe policies: pure objects that say, for each frame, whether to run the full network.

Policy strings (CLI and node parameters):

    per_frame      every frame is a keyframe
    fixed:K        a keyframe every K frames (K >= 1)
    adaptive[:T]   a keyframe when the low-level feature deviation since the last keyframe
                   exceeds T (> 0; without T the bundle's recorded default), or after
                   ``max_interval`` frames
    budget:MS      like adaptive, with the threshold steered online so that the mean latency
                   per frame stays at MS milliseconds (> 0)

Rules that hold for every policy (first frame, scene cut, time jump) live in
``KeyframeScheduler``; a policy only sees ordinary frames.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from vsseg_core.errors import ConfigError

DEFAULT_MAX_INTERVAL = 30
"""Frames after which adaptive and budget policies force a keyframe."""


@dataclass(frozen=True)
class Decision:
    """Whether a frame is a keyframe, and why (a short, stable reason string)."""

    keyframe: bool
    reason: str


class KeyframePolicy(ABC):
    """Decides for frames that no scheduler rule has already decided."""

    spec: str
    """The policy string this object was parsed from, e.g. 'fixed:5'."""

    @abstractmethod
    def decide(self, deviation: float, frames_since_keyframe: int) -> Decision:
        """``deviation``: low-level feature deviation from the last keyframe (>= 0);
        ``frames_since_keyframe``: 1 for the frame right after a keyframe."""

    def observe(self, keyframe: bool, latency_ms: float) -> None:
        """Feedback after a frame was processed (only the budget policy uses it)."""

    def reset(self) -> None:
        """Forget per-stream state (new stream)."""

    def shortfall(self) -> str | None:
        """Why this policy cannot do what it was asked on this stream so far, or None (only
        the budget policy can fall short)."""
        return None


class PerFrame(KeyframePolicy):
    spec = "per_frame"

    def decide(self, deviation: float, frames_since_keyframe: int) -> Decision:
        return Decision(True, "per_frame")


@dataclass
class FixedInterval(KeyframePolicy):
    interval: int

    @property
    def spec(self) -> str:  # type: ignore[override]
        return f"fixed:{self.interval}"

    def decide(self, deviation: float, frames_since_keyframe: int) -> Decision:
        if frames_since_keyframe >= self.interval:
            return Decision(True, "interval")
        return Decision(False, "interval")


@dataclass
class Adaptive(KeyframePolicy):
    threshold: float
    max_interval: int = DEFAULT_MAX_INTERVAL

    @property
    def spec(self) -> str:  # type: ignore[override]
        return f"adaptive:{self.threshold:g}"

    def decide(self, deviation: float, frames_since_keyframe: int) -> Decision:
        if frames_since_keyframe >= self.max_interval:
            return Decision(True, "max_interval")
        if deviation > self.threshold:
            return Decision(True, "deviation")
        return Decision(False, "deviation_below_threshold")


@dataclass
class Budget(Adaptive):
    """Adaptive keyframes whose threshold follows a latency budget.

    After every frame the threshold is multiplied by exp(gain * (mean - budget) / budget), where
    mean is an exponential moving average of the measured latency (ms): over budget -> higher
    threshold -> fewer keyframes. The threshold stays within [min_threshold, max_threshold].
    No threshold can bring the mean below the cost of a propagated frame; ``shortfall()`` says
    when the budget is below it.
    """

    budget_ms: float = 100.0
    gain: float = 0.05
    smoothing: float = 0.1
    min_threshold: float = 1e-4
    max_threshold: float = 1e4
    _initial: float = field(default=0.0, init=False, repr=False)
    _mean_ms: float | None = field(default=None, init=False, repr=False)
    _propagated_ms: float | None = field(default=None, init=False, repr=False)
    _propagated_seen: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        self._initial = self.threshold

    @property
    def spec(self) -> str:  # type: ignore[override]
        return f"budget:{self.budget_ms:g}"

    def observe(self, keyframe: bool, latency_ms: float) -> None:
        if not math.isfinite(latency_ms) or latency_ms < 0:
            return
        self._mean_ms = _moving_average(self._mean_ms, latency_ms, self.smoothing)
        if not keyframe:
            self._propagated_ms = _moving_average(self._propagated_ms, latency_ms, self.smoothing)
            self._propagated_seen += 1
        step = self.gain * (self._mean_ms - self.budget_ms) / self.budget_ms
        self.threshold = min(self.max_threshold,
                             max(self.min_threshold, self.threshold * math.exp(step)))

    def shortfall(self) -> str | None:
        """Why the budget cannot be held, or None: after 10 propagated frames, their moving-
        average latency is above the budget + 10% (a propagated frame is the cheapest kind)."""
        if self._propagated_ms is None or self._propagated_seen < 10:
            return None
        if self._propagated_ms <= self.budget_ms * 1.1:
            return None
        return (f"budget {self.budget_ms:g} ms is below the cost of a propagated frame "
                f"({self._propagated_ms:.1f} ms), so no keyframe rate can hold it; raise the "
                "budget or use a faster backend or device")

    def reset(self) -> None:
        self.threshold, self._mean_ms = self._initial, None
        self._propagated_ms, self._propagated_seen = None, 0


def _moving_average(mean: float | None, value: float, smoothing: float) -> float:
    return value if mean is None else mean + smoothing * (value - mean)


_NUMBER = r"[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?"


def parse_policy(text: str, *, default_threshold: float,
                 max_interval: int = DEFAULT_MAX_INTERVAL) -> KeyframePolicy:
    """Parse a policy string (see the module docstring). Raises ConfigError saying what is
    wrong and what is accepted."""
    accepted = "per_frame, fixed:K (K >= 1), adaptive[:T] (T > 0), budget:MS (MS > 0)"
    spec = text.strip()
    name, _, arg = spec.partition(":")
    if name == "per_frame" and not arg:
        return PerFrame()
    if name == "fixed" and re.fullmatch(r"[0-9]+", arg) and int(arg) >= 1:
        return FixedInterval(int(arg))
    if name == "adaptive" and not _:
        return Adaptive(default_threshold, max_interval)
    if name in ("adaptive", "budget") and re.fullmatch(_NUMBER, arg) and float(arg) > 0:
        if name == "adaptive":
            return Adaptive(float(arg), max_interval)
        return Budget(default_threshold, max_interval, budget_ms=float(arg))
    raise ConfigError(f"keyframe policy {text!r} is not valid; use one of: {accepted}")


@dataclass
class KeyframeScheduler:
    """Per-stream keyframe decisions: the forced rules, then the policy.

    Forced keyframes: the first frame ("first_frame"), a stamp going backwards or jumping by
    more than ``max_gap_s`` seconds ("time_jump"), a frame-to-frame change above
    ``cut_deviation`` ("scene_cut").
    """

    policy: KeyframePolicy
    max_gap_s: float = 0.5
    cut_deviation: float = math.inf
    _last_stamp: float | None = field(default=None, init=False, repr=False)
    _since_keyframe: int = field(default=0, init=False, repr=False)

    def decide(self, stamp_s: float, deviation: float | None, change: float | None = None
               ) -> Decision:
        """Decide for the frame at ``stamp_s`` (seconds). ``deviation``: low-level feature
        deviation from the keyframe, None when there is no keyframe yet; ``change``: deviation
        from the previous frame (the scene-cut cue; None = unknown, no cut rule)."""
        last, self._last_stamp = self._last_stamp, stamp_s
        if last is None or deviation is None:
            decision = Decision(True, "first_frame")
        elif stamp_s < last or stamp_s - last > self.max_gap_s:
            decision = Decision(True, "time_jump")
        elif change is not None and change > self.cut_deviation:
            decision = Decision(True, "scene_cut")
        else:
            decision = self.policy.decide(deviation, self._since_keyframe + 1)
        self._since_keyframe = 0 if decision.keyframe else self._since_keyframe + 1
        return decision

    @property
    def frames_since_keyframe(self) -> int:
        return self._since_keyframe

    def reset(self) -> None:
        self._last_stamp, self._since_keyframe = None, 0
        self.policy.reset()
