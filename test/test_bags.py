"""Bag tools on real rosbag2 bags written and read by `rosbags` (sqlite3 and mcap)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from rosbags.rosbag2 import Reader

from vsseg_core.bags.segment import segment_bag
from vsseg_core.bags.types import typestore
from vsseg_core.bundle import Bundle
from vsseg_core.data.cityscapes import CityscapesDataset
from vsseg_core.runtime.onnxruntime_backend import OnnxRuntimeBackend
from vsseg_core.temporal.evaluate import evaluate_policy
from vsseg_core.temporal.video import VideoSegmenter

from conftest import run_cli

EVAL_KEYS = {"policy", "miou", "tc", "per_class_iou", "keyframe_ratio", "fps", "latency_ms",
             "frames", "backend", "machine"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """Two 6-frame sequences at 128x256, every frame labelled."""
    out = tmp_path_factory.mktemp("bagdata") / "D"
    result = run_cli("synth", "--out", out, "--sequences", "2", "--frames", "6", "--size",
                     "128x256", "--seed", "31", "--split", "val", "--quiet")
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def bag(dataset: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bags") / "in"
    result = run_cli("bag", "from-cityscapes", "--data", dataset, "--split", "val", "--out", out,
                     "--with-labels", "--quiet")
    assert result.returncode == 0, result.stderr
    return out


def _read(path: Path) -> dict[str, list[tuple[int, object]]]:
    """Every message by topic, read with rosbags directly (not the project's helpers)."""
    store = typestore()
    messages: dict[str, list] = {}
    with Reader(path) as reader:
        for connection, timestamp, raw in reader.messages(reader.connections):
            messages.setdefault(connection.topic, []).append(
                (timestamp, store.deserialize_cdr(raw, connection.msgtype)))
    return messages


def _pixels(message) -> np.ndarray:
    channels = message.step // message.width
    return np.asarray(message.data).reshape(message.height, message.width, channels).squeeze()


@pytest.mark.parametrize(("storage", "encoding"), [("sqlite3", "rgb8"), ("mcap", "bgr8")])
def test_dataset_round_trip(cli, dataset: Path, tmp_path: Path, storage: str, encoding: str) -> None:
    out = tmp_path / "bag"
    result = cli("bag", "from-cityscapes", "--data", dataset, "--split", "val", "--out", out,
                 "--storage", storage, "--encoding", encoding, "--with-labels", "--quiet")
    assert result.returncode == 0, result.stderr
    messages = _read(out)
    records = list(CityscapesDataset(dataset, "val").frames())
    images, labels = messages["/camera/image_raw"], messages["/camera/labels"]
    assert len(images) == len(labels) == len(records) == 12
    stamps = [t for t, _ in images]
    assert stamps == sorted(stamps) and len(set(stamps)) == 12
    gaps = np.diff(stamps) / 1e9
    assert np.allclose(gaps[:5], 1 / 17, atol=1e-6) and gaps[5] > 0.5  # sequence boundary
    for (stamp, image), (_, label), record in zip(images, labels, records):
        assert image.encoding == encoding and image.header.frame_id == "camera"
        assert image.header.stamp.sec * 10**9 + image.header.stamp.nanosec == stamp
        rgb = _pixels(image) if encoding == "rgb8" else _pixels(image)[:, :, ::-1]
        assert np.array_equal(rgb, record.load_image())
        assert label.encoding == "mono8" and np.array_equal(_pixels(label), record.load_labels())


def test_segment_bag_and_evaluate(cli, bag: Path, dataset: Path, tmp_path: Path) -> None:
    out, report = tmp_path / "seg", tmp_path / "eval.json"
    result = cli("bag", "segment", "--in", bag, "--out", out, "--policy", "fixed:3", "--quiet")
    assert result.returncode == 0, result.stderr
    messages = _read(out)
    inputs = messages["/camera/image_raw"]
    masks, infos = messages["/semantic_mask"], messages["/vsseg_node/info"]
    assert len(masks) == len(infos) == len(messages["/semantic_confidence"]) == 12
    assert [t for t, _ in masks] == [t for t, _ in inputs]
    assert len(messages["/camera/labels"]) == 12 and len(messages["/diagnostics"]) == 1
    for (_, mask), (_, info) in zip(masks, infos):
        assert mask.encoding == "mono8" and (mask.height, mask.width) == (128, 256)
        assert set(np.unique(_pixels(mask)).tolist()) <= set(range(19)) | {255}
        assert info.policy == "fixed:3" and info.header.stamp == mask.header.stamp
    reasons = [info.keyframe_reason for _, info in infos if info.keyframe]
    assert reasons == ["first_frame", "interval", "time_jump", "interval"]  # the gap is a jump
    result = cli("bag", "eval", "--bag", out, "--json", report)
    assert result.returncode == 0, result.stderr
    record = json.loads(report.read_text())
    assert EVAL_KEYS <= set(record) and record["frames"] == record["labelled_frames"] == 12
    assert record["keyframe_ratio"] == pytest.approx(4 / 12)
    # the same frames segmented straight from the directory give the same accuracy
    bundle = Bundle.load()
    with OnnxRuntimeBackend(bundle, device="cpu") as backend:
        direct = evaluate_policy(dataset, "val", bundle, backend, "fixed:3", progress=False)
    assert record["miou"] == pytest.approx(direct["miou"], abs=1e-9)
    assert record["keyframe_ratio"] == direct["keyframe_ratio"]


class _Interrupted(VideoSegmenter):
    """Ctrl-C after ``limit`` frames (KeyboardInterrupt, as the terminal sends it)."""

    limit = 3

    def step(self, image, stamp):
        if self.limit == 0:
            raise KeyboardInterrupt
        self.limit -= 1
        return super().step(image, stamp)


def test_interrupted_segmentation_leaves_a_readable_bag(bag: Path, tmp_path: Path) -> None:
    bundle = Bundle.load()
    out = tmp_path / "partial"
    with OnnxRuntimeBackend(bundle, device="cpu") as backend, \
            _Interrupted(bundle, backend, "per_frame") as segmenter:
        with pytest.raises(KeyboardInterrupt):
            segment_bag(bag, out, segmenter, topic="/camera/image_raw", progress=False)
    messages = _read(out)
    assert len(messages["/semantic_mask"]) == 3 and len(messages["/vsseg_node/info"]) == 3


def test_bad_bags_give_clear_errors(cli, bag: Path, tmp_path: Path) -> None:
    missing = cli("bag", "segment", "--in", tmp_path / "nope", "--out", tmp_path / "o")
    assert missing.returncode == 1 and "nope does not exist" in missing.stderr
    absent = cli("bag", "segment", "--in", bag, "--out", tmp_path / "o", "--topic", "/front/image")
    assert absent.returncode == 1 and "/front/image" in absent.stderr
    assert "/camera/image_raw" in absent.stderr and not (tmp_path / "o").exists()
    exists = cli("bag", "from-cityscapes", "--data", tmp_path, "--out", bag)
    assert exists.returncode == 1 and "exists" in exists.stderr
    broken = tmp_path / "broken"
    broken.mkdir()
    for file in bag.iterdir():
        data = file.read_bytes()
        (broken / file.name).write_bytes(data[: len(data) // 3] if file.suffix == ".db3" else data)
    result = cli("bag", "segment", "--in", broken, "--out", tmp_path / "o2", "--quiet")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert str(broken) in result.stderr
    for result in (missing, absent, exists):
        assert "Traceback" not in result.stderr


def test_evaluating_an_unsegmented_bag_says_to_segment_it_first(cli, bag: Path) -> None:
    result = cli("bag", "eval", "--bag", bag)  # camera images and labels, no masks
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("vsseg bag eval: error: ")
    assert "/semantic_mask" in result.stderr and "vsseg bag segment" in result.stderr


def test_a_conversion_that_fails_part_way_leaves_no_bag(dataset: Path, tmp_path: Path) -> None:
    data = Path(shutil.copytree(dataset, tmp_path / "D"))
    frames = sorted((data / "leftImg8bit_sequence" / "val").rglob("*.png"))
    frames[-1].write_bytes(b"\x89PNG\r\n\x1a\n truncated")  # the last frame, after a whole sequence
    out = tmp_path / "in"
    result = run_cli("bag", "from-cityscapes", "--data", data, "--split", "val", "--out", out, "--quiet")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert frames[-1].name in result.stderr
    assert not out.exists()
