"""The typestore every bag tool uses: ROS 2 Jazzy's types plus this package's msg/ types
(vsseg/msg/SegmentationInfo, ClassMap, SemanticClass), registered from the .msg files."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from vsseg_core import image_encoding
from vsseg_core.errors import VssegError
from vsseg_core.package_files import package_file

IMAGE = "sensor_msgs/msg/Image"
INFO = "vsseg/msg/SegmentationInfo"
DIAGNOSTICS = "diagnostic_msgs/msg/DiagnosticArray"


def _msg_dir() -> Path:
    found = package_file("msg")
    if found is None:
        raise VssegError("the vsseg .msg files are not found (msg/ beside the sources or in the "
                         "vsseg share directory); reinstall vsseg")
    return found


@lru_cache(maxsize=1)
def typestore() -> Typestore:
    """Jazzy typestore with the vsseg types registered (built once)."""
    store = get_typestore(Stores.ROS2_JAZZY)
    types = {}
    for path in sorted(_msg_dir().glob("*.msg")):
        types.update(get_types_from_msg(path.read_text(), f"vsseg/msg/{path.stem}"))
    store.register(types)
    return store


def header(stamp_ns: int, frame_id: str):
    store = typestore()
    Time, Header = store.types["builtin_interfaces/msg/Time"], store.types["std_msgs/msg/Header"]
    return Header(stamp=Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000),
                  frame_id=frame_id)


def stamp_ns(message_header) -> int:
    return message_header.stamp.sec * 1_000_000_000 + message_header.stamp.nanosec


def image_message(pixels: np.ndarray, stamp: int, frame_id: str, encoding: str | None = None):
    """(h, w) uint8 -> mono8, (h, w, 3) uint8 RGB -> rgb8 (or bgr8 with ``encoding``) Image."""
    if encoding == "bgr8":
        pixels = np.ascontiguousarray(pixels[:, :, ::-1])
    name, step, data = image_encoding.encode(pixels)
    return typestore().types[IMAGE](
        header=header(stamp, frame_id), height=pixels.shape[0], width=pixels.shape[1],
        encoding=encoding or name, is_bigendian=0, step=step, data=data)


def image_pixels(message) -> np.ndarray:
    """A rosbags Image -> (h, w, 3) RGB or (h, w) mono8 uint8 (ImageRejected if malformed)."""
    return image_encoding.decode(message.encoding, message.height, message.width, message.step,
                                 message.data)
