"""Camera and weather effects applied to a rendered frame (labels are never touched)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vsseg_core.synth.config import SynthConfig


@dataclass(frozen=True)
class Conditions:
    """Per-sequence imaging conditions, drawn below the config's knobs."""

    visibility_m: float
    haze: tuple[float, float, float]
    tint: tuple[float, float, float]
    exposure_drift: float
    """Amplitude of slow exposure changes (fraction)."""
    exposure_period_s: float
    noise_sigma: float
    """Sensor noise, grey levels (0..255 scale)."""
    rain: int
    """Rain streaks per frame at 1024 px height."""
    blur_sigma: float
    vignette: float
    jpeg_quality: int

    @classmethod
    def random(cls, rng: np.random.Generator, config: SynthConfig) -> "Conditions":
        weather, lighting = config.weather, config.lighting
        haze_level = rng.uniform(160, 215)
        return cls(
            visibility_m=float(rng.uniform(900, 3000) / (1 + 6 * weather * rng.random())),
            haze=(haze_level, haze_level, haze_level + rng.uniform(0, 15)),
            tint=tuple(float(x) for x in 1 + lighting * rng.uniform(-0.08, 0.08, 3)),
            exposure_drift=float(lighting * rng.uniform(0.05, 0.3)),
            exposure_period_s=float(rng.uniform(3, 12)),
            noise_sigma=float(1.0 + weather * rng.uniform(1, 8)),
            rain=int(rng.uniform(0, 400) if weather * rng.random() > 0.35 else 0),
            blur_sigma=float(rng.uniform(0.3, 0.9)),
            vignette=float(rng.uniform(0.0, 0.35)),
            jpeg_quality=int(rng.integers(45, 92)),
        )


def apply_haze(rgb: np.ndarray, depth: np.ndarray, cond: Conditions) -> None:
    """Blend towards the haze colour with distance; depth 0 means 'no haze' (sky)."""
    keep = np.exp(-depth / cond.visibility_m)[..., None]
    rgb *= keep
    rgb += (1 - keep) * np.float32(cond.haze)


def finish(rgb: np.ndarray, cond: Conditions, rng: np.random.Generator, t: float,
           motion_px: float, jpeg: bool) -> np.ndarray:
    """Exposure, blur (optics + horizontal motion of ``motion_px`` pixels), vignette, rain,
    sensor noise, quantisation and JPEG artefacts. Returns (H, W, 3) uint8 RGB."""
    height, width = rgb.shape[:2]
    gain = 1 + cond.exposure_drift * np.sin(2 * np.pi * t / cond.exposure_period_s)
    rgb *= np.float32(gain) * np.float32(cond.tint)
    sigma = cond.blur_sigma * height / 1024
    if sigma > 0.25:
        rgb = cv2.GaussianBlur(rgb, (0, 0), sigma)
    if motion_px >= 2:
        k = int(min(motion_px, width / 20))
        rgb = cv2.blur(rgb, (k, 1))
    if cond.vignette > 0:
        yy = np.linspace(-1, 1, height, dtype=np.float32)[:, None]
        xx = np.linspace(-1, 1, width, dtype=np.float32)[None, :]
        rgb *= (1 - cond.vignette * 0.5 * (xx**2 + yy**2))[..., None]
    for _ in range(int(cond.rain * height / 1024)):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        length = rng.uniform(0.01, 0.04) * height
        cv2.line(rgb, (int(x), int(y)), (int(x + 0.15 * length), int(y + length)),
                 (205.0, 205.0, 210.0), max(1, height // 700))
    rgb += rng.normal(0, cond.noise_sigma, (height, width, 1)).astype(np.float32)
    out = np.clip(rgb, 0, 255).astype(np.uint8)
    if jpeg:
        ok, buf = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, cond.jpeg_quality])
        if not ok:
            raise RuntimeError("OpenCV could not JPEG-encode a frame")
        out = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    return out
