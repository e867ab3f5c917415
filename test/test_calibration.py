"""Calibration frames from directories and bags, recorded graph inputs, batching, and the
engine check's comparison (run here on ONNX Runtime and PyTorch, the same code TensorRT uses)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vsseg_core.bags.convert import dataset_to_bag
from vsseg_core.bags.io import BagError
from vsseg_core.bundle import Bundle, GraphSpec
from vsseg_core.data.sources import SourceError, open_frames
from vsseg_core.engine_check import compare_backends, record_graph_inputs, sample_clips
from vsseg_core.runtime.int8_batches import CalibrationBatches, CalibrationError
from vsseg_core.runtime.onnxruntime_backend import OnnxRuntimeBackend
from vsseg_core.runtime.torch_backend import TorchBackend


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return Bundle.load()


@pytest.fixture(scope="module")
def clips(spec_dataset) -> list[list[np.ndarray]]:
    return sample_clips(spec_dataset[0], frames=12)


@pytest.fixture(scope="module")
def recorded(bundle: Bundle, clips) -> dict:
    with OnnxRuntimeBackend(bundle, device="cpu") as reference:
        return record_graph_inputs(reference, clips)


def test_clips_are_consecutive_frames_spread_over_the_data(spec_dataset, clips) -> None:
    frames = [f.rgb for f in open_frames(spec_dataset[0])]  # 2 sequences x 30 frames
    assert [len(c) for c in clips] == [4, 2, 4]  # the second clip ends with sequence 1
    starts = [next(i for i, f in enumerate(frames) if np.array_equal(f, c[0])) for c in clips]
    assert starts == [0, 28, 56]
    for start, clip in zip(starts, clips):
        for offset, frame in enumerate(clip):
            assert np.array_equal(frame, frames[start + offset])


def test_bag_gives_the_same_clips_as_the_directory(spec_dataset, clips, tmp_path: Path) -> None:
    bag = tmp_path / "calib.bag"
    dataset_to_bag(spec_dataset[0], "train", bag, progress=False)
    from_bag = sample_clips(bag, frames=12)
    assert len(from_bag) == len(clips)
    for a, b in zip(from_bag, clips):
        assert all(np.array_equal(x, y) for x, y in zip(a, b))
    with pytest.raises(BagError, match="no topic /front/image_raw"):
        sample_clips(bag, frames=4, topic="/front/image_raw")


def test_bad_calibration_sources(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        sample_clips(tmp_path / "nothing", frames=8)
    with pytest.raises(CalibrationError, match="at least one frame"):
        sample_clips(tmp_path, frames=0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no .png"):
        sample_clips(tmp_path / "empty", frames=8)


def test_recorded_inputs_are_what_each_graph_sees(bundle: Bundle, recorded: dict) -> None:
    assert {g: len(v) for g, v in recorded.items()} == {"low": 10, "high": 3, "prop": 7, "full": 10}
    for graph, samples in recorded.items():
        spec = bundle.graph(graph)
        for sample in samples:
            assert {k: v.shape for k, v in sample.items()} == spec.inputs
            assert all(v.dtype == np.float32 for v in sample.values())
    # the first frame of each clip is the keyframe: its low features feed high and prop's key_low
    firsts, props = (0, 4, 6), (slice(0, 3), slice(3, 4), slice(4, 7))
    for clip, (first, propagated) in enumerate(zip(firsts, props)):
        assert np.array_equal(recorded["full"][first]["image"], recorded["low"][first]["image"])
        keyframe_low = recorded["high"][clip]["low"]
        for prop in recorded["prop"][propagated]:
            assert np.array_equal(prop["key_low"], keyframe_low)
            assert not np.array_equal(prop["low"], keyframe_low)


def test_batches_in_order_then_none(bundle: Bundle, recorded: dict) -> None:
    batches = CalibrationBatches(bundle.graph("prop"), recorded["prop"])
    assert batches.batch_size == 1 and len(batches) == 7
    seen = []
    while (batch := batches.next()) is not None:
        assert set(batch) == set(bundle.graph("prop").inputs)  # the shipped mode's inputs
        assert all(v.flags["C_CONTIGUOUS"] for v in batch.values())
        seen.append(batch["low"])
    assert len(seen) == 7
    assert all(np.array_equal(a, s["low"]) for a, s in zip(seen, recorded["prop"]))
    assert batches.next() is None


def test_batches_stack_samples_and_drop_a_partial_batch() -> None:
    spec = GraphSpec("g", "g.onnx", {"x": (2, 3)}, {"y": (2, 1)})
    samples = [{"x": np.full((1, 3), i, np.float32)} for i in range(5)]
    batches = CalibrationBatches(spec, samples)
    assert len(batches) == 2
    assert batches.next()["x"].tolist() == [[0, 0, 0], [1, 1, 1]]
    assert batches.next()["x"].tolist() == [[2, 2, 2], [3, 3, 3]]
    assert batches.next() is None


def test_batches_reject_wrong_samples(bundle: Bundle, recorded: dict) -> None:
    with pytest.raises(CalibrationError, match="sample 0 has inputs"):
        CalibrationBatches(bundle.graph("prop"), recorded["high"])
    wrong = [{"low": recorded["high"][0]["low"].astype(np.float64)}]
    with pytest.raises(CalibrationError, match="expected float32"):
        CalibrationBatches(bundle.graph("high"), wrong)


def test_compare_backends(bundle: Bundle, recorded: dict) -> None:
    graphs = ("low", "high", "prop", "full")
    with OnnxRuntimeBackend(bundle, device="cpu") as ort, TorchBackend(bundle, device="cpu") as torch:
        same = compare_backends(ort, ort, recorded, graphs)
        assert all(row["max_abs_diff"] == 0.0 for row in same.values())
        assert all(same[g]["argmax_agreement"] == 1.0 for g in ("high", "prop", "full"))
        report = compare_backends(ort, torch, recorded, graphs)
    assert {g: r["samples"] for g, r in report.items()} == {"low": 10, "high": 3, "prop": 7, "full": 10}
    assert "argmax_agreement" not in report["low"]
    for graph in graphs:
        assert 0 < report[graph]["max_abs_diff"] < 1e-3
    for graph in ("high", "prop", "full"):
        assert report[graph]["argmax_agreement"] >= 0.999
    with pytest.raises(CalibrationError, match="no recorded inputs"):
        compare_backends(ort, ort, {}, ("low",))
