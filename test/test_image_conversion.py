"""sensor_msgs/Image <-> numpy at the node's edge (real message classes, no DDS)."""

from __future__ import annotations

import array

import cv2
import numpy as np
import pytest

pytest.importorskip("sensor_msgs.msg", reason="ROS 2 wheels not installed: run `make setup`")
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from vsseg_ros.image_conversion import (  # noqa: E402
    ImageRejected,
    array_to_image,
    compressed_to_array,
    image_to_array,
)

RGB = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)


def _message(pixels: np.ndarray, encoding: str, padding: int = 0) -> Image:
    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    rows = pixels.reshape(height, width * channels)
    padded = np.zeros((height, width * channels + padding), np.uint8)
    padded[:, :width * channels] = rows
    msg = Image(height=height, width=width, encoding=encoding, step=width * channels + padding)
    msg.data = array.array("B", padded.tobytes())
    return msg


@pytest.mark.parametrize("padding", [0, 3])
def test_encodings_with_step_padding(padding: int) -> None:
    assert np.array_equal(image_to_array(_message(RGB, "rgb8", padding)), RGB)
    assert np.array_equal(image_to_array(_message(RGB[..., ::-1].copy(), "bgr8", padding)), RGB)
    rgba = np.dstack([RGB, np.full(RGB.shape[:2], 9, np.uint8)])
    assert np.array_equal(image_to_array(_message(rgba, "rgba8", padding)), RGB)
    bgra = np.dstack([RGB[..., ::-1], np.full(RGB.shape[:2], 9, np.uint8)])
    assert np.array_equal(image_to_array(_message(bgra, "bgra8", padding)), RGB)
    grey = RGB[..., 0].copy()
    assert np.array_equal(image_to_array(_message(grey, "mono8", padding)), grey)


def test_big_endian_flag_does_not_change_8_bit_pixels() -> None:
    msg = _message(RGB, "rgb8")
    msg.is_bigendian = 1
    assert np.array_equal(image_to_array(msg), RGB)


def test_rejections_name_the_problem() -> None:
    with pytest.raises(ImageRejected, match="16UC1.*rgb8"):
        image_to_array(_message(RGB[..., 0].copy(), "16UC1"))
    short = _message(RGB, "rgb8")
    short.data = short.data[:-1]
    with pytest.raises(ImageRejected, match="bytes, expected"):
        image_to_array(short)
    narrow = _message(RGB, "rgb8")
    narrow.step = 5
    with pytest.raises(ImageRejected, match="step 5"):
        image_to_array(narrow)
    with pytest.raises(ImageRejected, match="empty"):
        image_to_array(Image(height=0, width=4, encoding="rgb8", step=12))


def test_output_images_keep_the_header() -> None:
    header = Header(frame_id="cam")
    header.stamp.sec, header.stamp.nanosec = 12, 345
    mask = array_to_image(RGB[..., 0].copy(), header)
    assert (mask.encoding, mask.step, mask.header.frame_id, mask.header.stamp.nanosec) == \
        ("mono8", 7, "cam", 345)
    color = array_to_image(RGB, header)
    assert color.encoding == "rgb8" and np.array_equal(image_to_array(color), RGB)


def test_compressed_input() -> None:
    ok, png = cv2.imencode(".png", cv2.cvtColor(RGB, cv2.COLOR_RGB2BGR))
    assert ok
    msg = CompressedImage(format="png")
    msg.data = array.array("B", png.tobytes())
    assert np.array_equal(compressed_to_array(msg), RGB)
    msg.data = array.array("B", b"not an image")
    with pytest.raises(ImageRejected, match="could not be decoded"):
        compressed_to_array(msg)
