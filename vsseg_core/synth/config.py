"""Options of the synthetic driving-video generator, validated in one place."""

from __future__ import annotations

import re
from dataclasses import dataclass

from vsseg_core.errors import ConfigError
from vsseg_core.synth.speed import PROFILE_CHOICES

_SIZE_RE = re.compile(r"^(\d+)x(\d+)$")


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``HxW`` (e.g. ``1024x2048``) into (height, width) pixels.

    The generator supports H:W = 1:2 with H a multiple of 32 (the Cityscapes aspect ratio, and
    what the network's stride needs). Raises ConfigError (a ValueError) saying what to pass instead.
    """
    match = _SIZE_RE.match(text.strip())
    if match is None:
        raise ConfigError(f"size {text!r} is not HxW, e.g. 512x1024")
    height, width = int(match[1]), int(match[2])
    if height <= 0 or width <= 0:
        raise ConfigError(f"size {text!r} must be positive, e.g. 512x1024")
    if width != 2 * height:
        raise ConfigError(
            f"size {text!r} is not H:W = 1:2; use e.g. {height}x{2 * height} or 512x1024"
        )
    if height % 32:
        lower = max(32, height // 32 * 32)
        raise ConfigError(
            f"size {text!r}: height must be a multiple of 32; use e.g. {lower}x{2 * lower}"
        )
    return height, width


@dataclass(frozen=True)
class SynthConfig:
    """Everything that determines a generated dataset (same config -> identical bytes).

    Condition knobs are upper bounds: each sequence draws its own conditions below them.
    """

    sequences: int = 10
    frames: int = 30
    height: int = 1024
    width: int = 2048
    split: str = "train"
    city: str = "synth"
    seed: int = 0
    fps: float = 17.0
    speed: float = 14.0
    """Maximum ego speed, m/s."""
    turn: float = 1.0
    """Road curvature and steering scale; 0 = straight road, 1 = city bends, 2 = sharp."""
    lighting: float = 1.0
    """Lighting variation: 0 = constant, 1 = sun/overcast, shade from buildings, exposure drift."""
    weather: float = 0.5
    """Haze, rain streaks and sensor noise scale; 0 = clear and clean, 1 = heavy."""
    cut_rate: float = 0.0
    """Probability per frame of an abrupt scene cut (new place, same sequence)."""
    jpeg: bool = True
    """Simulate compression artefacts (JPEG round trip before saving the PNG)."""
    profile: str = "cruise"
    """Ego speed profile (``speed.PROFILE_CHOICES``): cruise, stop_and_go, varying, parked, or
    mixed (each sequence draws one of the others)."""

    def __post_init__(self) -> None:
        checks = [
            (self.sequences >= 1, f"--sequences must be >= 1 (got {self.sequences})"),
            (self.frames >= 1, f"--frames must be >= 1 (got {self.frames})"),
            (self.fps > 0, f"--fps must be > 0 (got {self.fps})"),
            (self.speed >= 0, f"--speed must be >= 0 m/s (got {self.speed})"),
            (0 <= self.turn <= 3, f"--turn must be in [0, 3] (got {self.turn})"),
            (0 <= self.lighting <= 1, f"--lighting must be in [0, 1] (got {self.lighting})"),
            (0 <= self.weather <= 1, f"--weather must be in [0, 1] (got {self.weather})"),
            (0 <= self.cut_rate <= 1, f"--cut-rate must be in [0, 1] (got {self.cut_rate})"),
            (
                self.profile in PROFILE_CHOICES,
                f"--profile must be one of {', '.join(PROFILE_CHOICES)} (got {self.profile!r})",
            ),
            (self.seed >= 0, f"--seed must be >= 0 (got {self.seed})"),
            (
                re.fullmatch(r"[a-z]+", self.city) is not None,
                f"--city must be lower-case letters only (got {self.city!r})",
            ),
            (
                re.fullmatch(r"[A-Za-z0-9]+", self.split) is not None,
                f"--split must be letters/digits, e.g. train or val (got {self.split!r})",
            ),
        ]
        parse_size(f"{self.height}x{self.width}")
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
