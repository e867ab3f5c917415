"""ROS-style raw image encodings <-> numpy, shared by the ROS node (rclpy messages) and the bag
tools (rosbags messages): both carry encoding, height, width, step and data.

Accepted encodings: rgb8, bgr8, mono8, rgba8, bgra8 (8 bits per channel, so ``is_bigendian``
cannot change the pixels). ``step`` padding is honoured.
"""

from __future__ import annotations

import cv2
import numpy as np

from vsseg_core.errors import VssegError

CHANNELS = {"rgb8": 3, "bgr8": 3, "mono8": 1, "rgba8": 4, "bgra8": 4}
"""Accepted input encodings and their channel counts."""
_TO_RGB = {"bgr8": cv2.COLOR_BGR2RGB, "rgba8": cv2.COLOR_RGBA2RGB, "bgra8": cv2.COLOR_BGRA2RGB}


class ImageRejected(VssegError, ValueError):
    """An image message that cannot be segmented; the message says why."""


def raw_pixels(encoding: str, height: int, width: int, step: int, data) -> np.ndarray:
    """(h, w, c) uint8 view of ``data`` (bytes-like or uint8 array) after checking the encoding,
    size, step and length. Raises ImageRejected naming the problem."""
    if encoding not in CHANNELS:
        raise ImageRejected(f"encoding {encoding!r} is not supported; publish one of "
                            f"{', '.join(CHANNELS)}")
    channels = CHANNELS[encoding]
    if height <= 0 or width <= 0:
        raise ImageRejected(f"image size {width}x{height} is empty")
    if step < width * channels:
        raise ImageRejected(f"step {step} is smaller than width x channels = "
                            f"{width * channels} for {encoding}")
    if len(data) != step * height:
        raise ImageRejected(f"data has {len(data)} bytes, expected step x height = {step * height}")
    rows = np.frombuffer(data, dtype=np.uint8).reshape(height, step)
    return rows[:, :width * channels].reshape(height, width, channels)


def to_rgb(pixels: np.ndarray, encoding: str) -> np.ndarray:
    """(h, w, c) uint8 of ``encoding`` -> (h, w, 3) RGB, or (h, w) for mono8 (contiguous)."""
    if encoding == "mono8":
        return np.ascontiguousarray(pixels.reshape(pixels.shape[0], pixels.shape[1]))
    if encoding == "rgb8":
        return np.ascontiguousarray(pixels)
    return cv2.cvtColor(np.ascontiguousarray(pixels), _TO_RGB[encoding])


def decode(encoding: str, height: int, width: int, step: int, data) -> np.ndarray:
    """Raw image fields -> (h, w, 3) uint8 RGB, or (h, w) uint8 for mono8."""
    return to_rgb(raw_pixels(encoding, height, width, step, data), encoding)


def encode(pixels: np.ndarray) -> tuple[str, int, np.ndarray]:
    """(h, w) uint8 -> mono8, (h, w, 3) uint8 RGB -> rgb8: (encoding, step, flat uint8 data)."""
    if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3) or (
            pixels.ndim == 3 and pixels.shape[2] != 3):
        raise ValueError(f"expected (h, w) or (h, w, 3) uint8, got {pixels.shape} {pixels.dtype}")
    channels = 1 if pixels.ndim == 2 else 3
    return ("mono8" if channels == 1 else "rgb8", pixels.shape[1] * channels,
            np.ascontiguousarray(pixels).reshape(-1))
