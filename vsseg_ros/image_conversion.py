"""sensor_msgs/Image <-> numpy at the node's edge.

Input encodings: rgb8, bgr8, mono8, rgba8, bgra8 (anything else is rejected with the list).
``step`` padding is honoured; 8-bit data has no byte order, so ``is_bigendian`` cannot change
the pixels, but a header that disagrees with the data length is rejected. cv_bridge is used
when it is importable (real ROS installs), otherwise the small converter below.
"""

from __future__ import annotations

import array

import cv2
import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Header

try:  # real ROS installs; not on PyPI
    from cv_bridge import CvBridge
except ImportError:  # pragma: no cover - depends on the installation
    CvBridge = None

CHANNELS = {"rgb8": 3, "bgr8": 3, "mono8": 1, "rgba8": 4, "bgra8": 4}
"""Accepted input encodings and their channel counts (all 8 bits per channel)."""
_TO_RGB = {"bgr8": cv2.COLOR_BGR2RGB, "rgba8": cv2.COLOR_RGBA2RGB, "bgra8": cv2.COLOR_BGRA2RGB}


class ImageRejected(ValueError):
    """An image message that cannot be segmented; the message says why."""


def _raw_pixels(msg: Image) -> np.ndarray:
    """(h, w, c) uint8 view of the message data after checking size, step and length."""
    encoding, height, width = msg.encoding, msg.height, msg.width
    if encoding not in CHANNELS:
        raise ImageRejected(f"encoding {encoding!r} is not supported; publish one of "
                            f"{', '.join(CHANNELS)}")
    channels = CHANNELS[encoding]
    if height <= 0 or width <= 0:
        raise ImageRejected(f"image size {width}x{height} is empty")
    if msg.step < width * channels:
        raise ImageRejected(f"step {msg.step} is smaller than width x channels = "
                            f"{width * channels} for {encoding}")
    if len(msg.data) != msg.step * height:
        raise ImageRejected(f"data has {len(msg.data)} bytes, expected step x height = "
                            f"{msg.step * height}")
    if CvBridge is not None:
        return np.asarray(CvBridge().imgmsg_to_cv2(msg, desired_encoding="passthrough")
                          ).reshape(height, width, channels)
    rows = np.frombuffer(msg.data, dtype=np.uint8).reshape(height, msg.step)
    return rows[:, :width * channels].reshape(height, width, channels)


def image_to_array(msg: Image) -> np.ndarray:
    """Image message -> (h, w, 3) uint8 RGB, or (h, w) uint8 for mono8. Raises ImageRejected."""
    pixels = _raw_pixels(msg)
    if msg.encoding == "mono8":
        return np.ascontiguousarray(pixels[:, :, 0])
    if msg.encoding == "rgb8":
        return np.ascontiguousarray(pixels)
    return cv2.cvtColor(np.ascontiguousarray(pixels), _TO_RGB[msg.encoding])


def array_to_image(pixels: np.ndarray, header: Header) -> Image:
    """(h, w) uint8 -> mono8, (h, w, 3) uint8 RGB -> rgb8 Image with ``header``."""
    if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3):
        raise ValueError(f"expected (h, w) or (h, w, 3) uint8, got {pixels.shape} {pixels.dtype}")
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    msg = Image(header=header, height=pixels.shape[0], width=pixels.shape[1],
                encoding="mono8" if channels == 1 else "rgb8", is_bigendian=0,
                step=pixels.shape[1] * channels)
    msg.data = array.array("B", np.ascontiguousarray(pixels).tobytes())
    return msg


def compressed_to_array(msg) -> np.ndarray:
    """sensor_msgs/CompressedImage (jpeg/png) -> (h, w, 3) uint8 RGB. Raises ImageRejected."""
    encoded = np.frombuffer(msg.data, dtype=np.uint8)
    bgr = cv2.imdecode(encoded, cv2.IMREAD_COLOR) if encoded.size else None
    if bgr is None:
        raise ImageRejected(f"compressed image (format {msg.format!r}, {encoded.size} bytes) "
                            "could not be decoded; publish jpeg or png")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
