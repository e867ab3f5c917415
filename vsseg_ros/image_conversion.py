"""sensor_msgs/Image <-> numpy at the node's edge (the encoding rules live in
``vsseg_core.image_encoding``). cv_bridge is used when it is importable (real ROS installs),
otherwise the project's own decoder."""

from __future__ import annotations

import array

import cv2
import numpy as np
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from vsseg_core.image_encoding import (
    CHANNELS,
    ImageRejected,
    check_raw,
    check_size,
    compressed_size,
    encode,
    raw_pixels,
    to_rgb,
)

try:  # real ROS installs; not on PyPI
    from cv_bridge import CvBridge
    _BRIDGE = CvBridge()
except ImportError:  # pragma: no cover - depends on the installation
    _BRIDGE = None

__all__ = ["CHANNELS", "ImageRejected", "array_to_image", "check_message", "compressed_to_array",
           "image_to_array"]


def image_to_array(msg: Image) -> np.ndarray:
    """Image message -> (h, w, 3) uint8 RGB, or (h, w) uint8 for mono8. Raises ImageRejected."""
    pixels = raw_pixels(msg.encoding, msg.height, msg.width, msg.step, msg.data)  # validates
    if _BRIDGE is not None:
        pixels = np.asarray(_BRIDGE.imgmsg_to_cv2(msg, desired_encoding="passthrough")
                            ).reshape(pixels.shape)
    return to_rgb(pixels, msg.encoding)


def array_to_image(pixels: np.ndarray, header: Header) -> Image:
    """(h, w) uint8 -> mono8, (h, w, 3) uint8 RGB -> rgb8 Image with ``header``."""
    encoding, step, data = encode(pixels)
    msg = Image(header=header, height=pixels.shape[0], width=pixels.shape[1], encoding=encoding,
                is_bigendian=0, step=step)
    payload = array.array("B")  # the one type rclpy takes for uint8[] without a per-byte check
    payload.frombytes(np.ascontiguousarray(data).reshape(-1))  # one copy (tobytes would add one)
    msg.data = payload
    return msg


def check_message(msg: Image | CompressedImage, max_pixels: int | None = None) -> None:
    """The cheap checks of an image message, without decoding its data: a raw image's header
    (``check_raw``), a compressed image's format and size from its header; either at most
    ``max_pixels``. Raises ImageRejected."""
    if isinstance(msg, CompressedImage):
        check_size(*compressed_size(bytes(msg.data)), max_pixels)
    else:
        check_raw(msg.encoding, msg.height, msg.width, msg.step, len(msg.data), max_pixels)


def compressed_to_array(msg: CompressedImage, max_pixels: int | None = None) -> np.ndarray:
    """sensor_msgs/CompressedImage (jpeg/png, at most ``max_pixels`` by its header) -> (h, w, 3)
    uint8 RGB. Raises ImageRejected."""
    check_size(*compressed_size(bytes(msg.data)), max_pixels)  # before decoding: bombs
    encoded = np.frombuffer(msg.data, dtype=np.uint8)
    bgr = cv2.imdecode(encoded, cv2.IMREAD_COLOR) if encoded.size else None
    if bgr is None:
        raise ImageRejected(f"compressed image (format {msg.format!r}, {encoded.size} bytes) "
                            "could not be decoded; publish jpeg or png")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
