"""sensor_msgs/Image <-> numpy at the node's edge (real message classes, no DDS)."""

from __future__ import annotations

import array
import resource

import cv2
import numpy as np
import pytest

pytest.importorskip("sensor_msgs.msg", reason="ROS 2 wheels not installed: run `make setup`")
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from vsseg_ros.image_conversion import (  # noqa: E402
    ImageRejected,
    array_to_image,
    check_message,
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
    with pytest.raises(ImageRejected, match="neither a readable png nor jpeg"):
        compressed_to_array(msg)
    msg.data = array.array("B", png.tobytes()[:60])  # a valid header, the pixels cut off
    with pytest.raises(ImageRejected, match="could not be decoded"):
        compressed_to_array(msg)


def _png(height: int, width: int) -> CompressedImage:
    ok, encoded = cv2.imencode(".png", np.zeros((height, width), np.uint8))
    assert ok
    return CompressedImage(header=Header(), format="png", data=encoded.tobytes())


def test_a_decompression_bomb_is_refused_from_its_header() -> None:
    """A 16384 x 16384 PNG is 0.3 MB on the wire and 805 MB decoded: refused unread."""
    bomb = _png(16384, 16384)
    assert len(bomb.data) < 400_000
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for call in (lambda: check_message(bomb, 16_777_216),
                 lambda: compressed_to_array(bomb, 16_777_216)):
        with pytest.raises(ImageRejected, match="huge size|above max_input_pixels"):
            call()
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_kib < 100_000  # never decoded


def test_max_input_pixels_bounds_raw_and_compressed_frames() -> None:
    large = _png(2000, 3000)  # 6 MP: below PIL's own bomb limit, above ours
    with pytest.raises(ImageRejected, match=r"3000x2000 \(6000000 pixels\) is above max_input_pixels = 5000000"):
        check_message(large, 5_000_000)
    assert compressed_to_array(large, 6_000_000).shape == (2000, 3000, 3)
    raw = _message(np.zeros((100, 200, 3), np.uint8), "rgb8")
    check_message(raw, 20_000)
    with pytest.raises(ImageRejected, match="200x100 .* above max_input_pixels = 19999"):
        check_message(raw, 19_999)


def test_header_checks_need_no_data() -> None:
    """check_message judges a raw image from its fields: a short data field is named."""
    raw = _message(np.zeros((4, 6), np.uint8), "mono8")
    raw.data = array.array("B", bytes(10))
    with pytest.raises(ImageRejected, match="data has 10 bytes, expected step x height = 24"):
        check_message(raw)
    garbage = CompressedImage(header=Header(), format="png", data=b"not an image")
    with pytest.raises(ImageRejected, match="neither a readable png nor jpeg"):
        check_message(garbage)
