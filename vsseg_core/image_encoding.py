"""ROS-style raw image encodings <-> numpy, shared by the ROS node (rclpy messages) and the bag
tools (rosbags messages): both carry encoding, height, width, step and data.

Accepted encodings: rgb8, bgr8, mono8, rgba8, bgra8 (8 bits per channel, so ``is_bigendian``
cannot change the pixels). ``step`` padding is honoured.
"""

from __future__ import annotations

import io
import warnings

import cv2
import numpy as np
import PIL.Image

from vsseg_core.errors import VssegError

CHANNELS = {"rgb8": 3, "bgr8": 3, "mono8": 1, "rgba8": 4, "bgra8": 4}
"""Accepted input encodings and their channel counts."""
COMPRESSED_FORMATS = ("PNG", "JPEG")
"""What sensor_msgs/CompressedImage inputs may hold (image_transport's png and jpeg)."""
_TO_RGB = {"bgr8": cv2.COLOR_BGR2RGB, "rgba8": cv2.COLOR_RGBA2RGB, "bgra8": cv2.COLOR_BGRA2RGB}


class ImageRejected(VssegError, ValueError):
    """An image message that cannot be segmented; the message says why."""


def check_size(width: int, height: int, max_pixels: int | None) -> None:
    """ImageRejected for an empty image or one of more than ``max_pixels`` (None: no bound)."""
    if height <= 0 or width <= 0:
        raise ImageRejected(f"image size {width}x{height} is empty")
    if max_pixels is not None and width * height > max_pixels:
        raise ImageRejected(f"image size {width}x{height} ({width * height} pixels) is above "
                            f"max_input_pixels = {max_pixels}; send smaller frames or raise "
                            "max_input_pixels")


def check_raw(encoding: str, height: int, width: int, step: int, length: int,
              max_pixels: int | None = None) -> None:
    """The header checks of a raw image, without touching its data: encoding, size (at most
    ``max_pixels``), step and ``length`` (bytes of data). Raises ImageRejected naming the
    problem."""
    if encoding not in CHANNELS:
        raise ImageRejected(f"encoding {encoding!r} is not supported; publish one of "
                            f"{', '.join(CHANNELS)}")
    channels = CHANNELS[encoding]
    check_size(width, height, max_pixels)
    if step < width * channels:
        raise ImageRejected(f"step {step} is smaller than width x channels = "
                            f"{width * channels} for {encoding}")
    if length != step * height:
        raise ImageRejected(f"data has {length} bytes, expected step x height = {step * height}")


def compressed_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG or JPEG from its header, without decoding it (a small file can
    hold a huge image). Raises ImageRejected if the header is not one of them."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PIL.Image.DecompressionBombWarning)
            with PIL.Image.open(io.BytesIO(data), formats=COMPRESSED_FORMATS) as image:
                return image.size
    except (PIL.Image.DecompressionBombError, PIL.Image.DecompressionBombWarning) as exc:
        raise ImageRejected(f"compressed image of {len(data)} bytes declares a huge size ({exc}); "
                            "send smaller frames") from None
    except (OSError, ValueError, SyntaxError):
        raise ImageRejected(f"compressed image ({len(data)} bytes) is neither a readable png nor "
                            "jpeg; publish jpeg or png") from None


def raw_pixels(encoding: str, height: int, width: int, step: int, data) -> np.ndarray:
    """(h, w, c) uint8 view of ``data`` (bytes-like or uint8 array) after checking the encoding,
    size, step and length (``check_raw``). Raises ImageRejected naming the problem."""
    check_raw(encoding, height, width, step, len(data))
    channels = CHANNELS[encoding]
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
