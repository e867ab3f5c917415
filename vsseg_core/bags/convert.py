"""Cityscapes-layout sequences (synthetic or real) -> a rosbag2 bag of sensor_msgs/Image.

Stamps start at 1 s and grow by 1/rate per frame; between sequences they jump by
``SEQUENCE_GAP_S`` (more than the scheduler's 0.5 s time-jump limit), so a keyframe policy sees
each new sequence as a cut. With labels, the ground truth (trainIds, mono8, 255 = ignore) goes
on its own topic with the same stamps; real Cityscapes' camera/ calibration becomes CameraInfo.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vsseg_core.bags.io import check_new_bag, open_writer
from vsseg_core.bags.types import IMAGE, header, image_message, typestore
from vsseg_core.data.cityscapes import CityscapesDataset, FrameRecord
from vsseg_core.errors import ConfigError

DEFAULT_TOPIC = "/camera/image_raw"
LABEL_SUFFIX = "/labels"
"""Ground truth goes on ``<topic's namespace>/labels``, e.g. /camera/labels."""
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
FIRST_STAMP_NS = 1_000_000_000
SEQUENCE_GAP_S = 1.0
FRAME_ID = "camera"


def label_topic(image_topic: str) -> str:
    """/camera/image_raw -> /camera/labels."""
    namespace = image_topic.rsplit("/", 1)[0]
    return f"{namespace}{LABEL_SUFFIX}"


def _camera_info(record: FrameRecord, root: Path, split: str, stamp: int, size: tuple[int, int]):
    """CameraInfo from real Cityscapes' camera/{split}/{city}/*_camera.json, else None."""
    fid = record.fid
    path = root / "camera" / split / fid.city / f"{fid.city}_{fid.seq:06d}_{fid.frame:06d}_camera.json"
    if not path.is_file():
        return None
    intrinsic = json.loads(path.read_text())["intrinsic"]
    fx, fy, cx, cy = (float(intrinsic[k]) for k in ("fx", "fy", "u0", "v0"))
    return typestore().types[CAMERA_INFO](
        header=header(stamp, FRAME_ID), height=size[0], width=size[1], distortion_model="plumb_bob",
        d=np.zeros(5), k=np.array([fx, 0, cx, 0, fy, cy, 0, 0, 1.0]),
        r=np.eye(3).reshape(-1), p=np.array([fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1.0, 0]),
        binning_x=0, binning_y=0,
        roi=typestore().types["sensor_msgs/msg/RegionOfInterest"](
            x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))


def dataset_to_bag(data: str | Path, split: str, out: str | Path, *, storage: str = "sqlite3",
                   topic: str = DEFAULT_TOPIC, encoding: str = "rgb8", rate: float = 17.0,
                   with_labels: bool = False, progress: bool = True) -> dict:
    """Write every sequence of ``data``/``split`` into the bag ``out``; returns counts. A
    conversion that fails or is interrupted leaves no bag."""
    check_new_bag(out)
    if encoding not in ("rgb8", "bgr8"):
        raise ConfigError(f"--encoding {encoding!r}: use rgb8 or bgr8")
    if not rate > 0:
        raise ConfigError(f"--rate must be > 0, got {rate}")
    dataset = CityscapesDataset(data, split)
    store = typestore()
    period_ns = int(round(1e9 / rate))
    counts = {"frames": 0, "labels": 0, "camera_info": 0, "sequences": len(dataset.sequences)}
    with open_writer(out, storage, keep_partial=False) as writer, tqdm(total=len(dataset), unit="frame",
                                                   desc="bag from-cityscapes", disable=not progress) as bar:
        images = writer.add_connection(topic, IMAGE, typestore=store)
        labels = writer.add_connection(label_topic(topic), IMAGE, typestore=store) if with_labels else None
        info = None
        stamp = FIRST_STAMP_NS
        for sequence in dataset.sequences:
            for record in sequence:
                rgb = record.load_image()
                message = image_message(rgb, stamp, FRAME_ID, encoding)
                writer.write(images, stamp, store.serialize_cdr(message, IMAGE))
                counts["frames"] += 1
                truth = record.load_labels() if labels is not None else None
                if truth is not None:
                    writer.write(labels, stamp, store.serialize_cdr(
                        image_message(truth, stamp, FRAME_ID), IMAGE))
                    counts["labels"] += 1
                camera = _camera_info(record, Path(data), split, stamp, rgb.shape[:2])
                if camera is not None:
                    info = info or writer.add_connection(topic.rsplit("/", 1)[0] + "/camera_info",
                                                         CAMERA_INFO, typestore=store)
                    writer.write(info, stamp, store.serialize_cdr(camera, CAMERA_INFO))
                    counts["camera_info"] += 1
                stamp += period_ns
                bar.update(1)
            stamp += int(SEQUENCE_GAP_S * 1e9)
    return counts
