"""The temporal core end to end on real files: `vsseg train-propagation` on a tiny bundle and a
generated video dataset, prop.onnx parity, the VideoSegmenter for every policy, `vsseg eval`
and `vsseg bench`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from vsseg_core.bundle import Bundle, BundleError
from vsseg_core.data.cityscapes import CityscapesDataset, dataset_fps
from vsseg_core.metrics import ConfusionMatrix, TemporalConsistency
from vsseg_core.model.propagation import FeaturePropagation
from vsseg_core.runtime.onnxruntime_backend import OnnxRuntimeBackend
from vsseg_core.runtime.torch_backend import TorchBackend
from vsseg_core.temporal.evaluate import TC_FLOW_SCALE
from vsseg_core.temporal.video import STAGES, FrameSizeChanged, StreamError, VideoSegmenter
from vsseg_core.model.warp import warp

from conftest import run_cli

EVAL_KEYS = {"policy", "miou", "tc", "per_class_iou", "keyframe_ratio", "fps", "latency_ms",
             "frames", "backend", "machine"}


@pytest.fixture(scope="module")
def video_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 12-frame synthetic sequences at the tiny bundle's 64x128, every frame labelled."""
    out = tmp_path_factory.mktemp("video") / "D"
    result = run_cli("synth", "--out", out, "--sequences", "2", "--frames", "12", "--size",
                     "64x128", "--seed", "5", "--split", "val")
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def temporal_bundle(tiny_bundle: Path, video_data: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("temporal") / "bundle"
    result = run_cli("train-propagation", "--data", video_data, "--split", "val", "--model",
                     tiny_bundle, "--out", out, "--iterations", "4", "--batch-size", "2",
                     "--max-distance", "3", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "calibrated on" in result.stdout
    return out


@pytest.fixture(scope="module")
def frames(video_data: Path) -> list[np.ndarray]:
    return [r.load_image() for r in CityscapesDataset(video_data, "val").sequences[0]]


def test_train_propagation_extends_the_bundle(temporal_bundle: Path, tiny_bundle: Path) -> None:
    bundle = Bundle.load(temporal_bundle)
    assert {"low", "high", "full", "prop"} <= set(bundle.graphs)
    assert (temporal_bundle / "prop.onnx").is_file() and (temporal_bundle / "propagation.pt").is_file()
    temporal = bundle.temporal
    assert temporal is not None and temporal["default_threshold"] > 0
    assert temporal["calibration"]["pairs"] > 0
    assert -1 <= temporal["calibration"]["spearman_deviation_disagreement"] <= 1
    provenance = bundle.meta["provenance"]
    assert provenance["test"] is True  # the original provenance is kept
    assert provenance["propagation"]["command"].startswith("vsseg train-propagation")
    assert Bundle.load(tiny_bundle).temporal is None  # --out left the source alone


def test_prop_graph_matches_torch(temporal_bundle: Path) -> None:
    bundle = Bundle.load(temporal_bundle)
    spec = bundle.graph("prop")
    rng = np.random.default_rng(1)
    inputs = {k: rng.uniform(0, 2, v).astype(np.float32) for k, v in spec.inputs.items()}
    inputs["flow"] = rng.uniform(-3, 3, spec.inputs["flow"]).astype(np.float32)
    with OnnxRuntimeBackend(bundle, device="cpu") as ort_backend, \
            TorchBackend(bundle, device="cpu") as torch_backend:
        a, b = ort_backend.run("prop", inputs), torch_backend.run("prop", inputs)
    assert np.abs(a["logits"] - b["logits"]).max() <= 1e-3
    assert (a["logits"].argmax(1) == b["logits"].argmax(1)).mean() >= 0.999


def test_untrained_fusion_is_pure_warping_on_a_known_shift() -> None:
    """Zero-initialised fusion = Deep Feature Flow: the keyframe's deep features moved by the
    flow; a shift of 4 low-level pixels is one deep cell at output stride 16."""
    torch.manual_seed(0)
    propagation = FeaturePropagation(low_channels=8, deep_channels=6, output_stride=16).eval()
    key_deep = torch.rand(1, 6, 4, 8)
    low = torch.rand(1, 8, 16, 32)
    flow = torch.zeros(1, 2, 16, 32)
    flow[:, 0] = -4.0  # content moved one deep cell to the right since the keyframe
    with torch.no_grad():
        out = propagation(key_deep, low, low, flow)
    assert torch.allclose(out[..., 1:], key_deep[..., :-1], atol=1e-5)
    assert torch.all(out[..., 0] == 0)
    assert torch.allclose(out, torch.relu(warp(key_deep, flow[..., ::4, ::4] / 4)), atol=1e-5)


def _run(bundle: Bundle, policy: str, frames: list[np.ndarray], stamps=None, **kwargs):
    stamps = stamps if stamps is not None else [i / 17 for i in range(len(frames))]
    with OnnxRuntimeBackend(bundle, device="cpu") as backend, \
            VideoSegmenter(bundle, backend, policy, **kwargs) as segmenter:
        return [segmenter.step(f, s) for f, s in zip(frames, stamps)]


@pytest.mark.parametrize("policy", ["per_frame", "fixed:3", "adaptive", "adaptive:1000", "budget:5"])
def test_video_segmenter_outputs_for_each_policy(temporal_bundle: Path, frames, policy: str) -> None:
    results = _run(Bundle.load(temporal_bundle), policy, frames)
    for result in results:
        assert result.labels.shape == result.confidence.shape == frames[0].shape[:2]
        assert result.labels.dtype == np.uint8 and result.labels.max() < 19
        assert np.isfinite(result.confidence).all()
        assert 0 <= result.confidence.min() and result.confidence.max() <= 1
        assert set(result.timings_ms) == set(STAGES) and result.timings_ms["total"] > 0
        assert result.served_by == ("network" if result.keyframe else "propagation")
    assert results[0].keyframe and results[0].reason == "first_frame" and results[0].deviation is None
    assert all(r.deviation is not None and r.deviation >= 0 for r in results[1:])
    keys = [r.keyframe for r in results]
    if policy == "per_frame":
        assert all(keys)
    if policy == "fixed:3":
        assert keys == [i % 3 == 0 for i in range(len(frames))]
        assert {r.reason for r in results[1:] if r.keyframe} == {"interval"}
    if policy == "adaptive:1000":  # nothing deviates that much: only the first frame
        assert keys == [True] + [False] * (len(frames) - 1)


def test_time_jumps_force_keyframes(temporal_bundle: Path, frames) -> None:
    stamps = [0.0, 0.05, 0.1, 2.0, 2.05, 1.0, 1.05]
    results = _run(Bundle.load(temporal_bundle), "adaptive:1000", frames[:7], stamps)
    assert [r.reason for r in results if r.keyframe] == ["first_frame", "time_jump", "time_jump"]
    assert [i for i, r in enumerate(results) if r.keyframe] == [0, 3, 5]


def test_low_latency_answers_keyframes_by_propagation(temporal_bundle: Path, frames) -> None:
    bundle = Bundle.load(temporal_bundle)
    normal = _run(bundle, "fixed:3", frames)
    fast = _run(bundle, "fixed:3", frames, low_latency=True)
    assert [r.keyframe for r in fast] == [r.keyframe for r in normal]
    assert fast[0].served_by == "network"
    assert all(r.served_by == "propagation" for r in fast[1:])
    # the deviation at the next keyframe is measured against the previous keyframe in both modes
    for i in (6, 9):
        assert fast[i].deviation == pytest.approx(normal[i].deviation, rel=1e-5)


def test_stream_input_errors(temporal_bundle: Path, frames) -> None:
    bundle = Bundle.load(temporal_bundle)
    with OnnxRuntimeBackend(bundle, device="cpu") as backend, \
            VideoSegmenter(bundle, backend, "fixed:2") as segmenter:
        segmenter.step(frames[0], 0.0)
        with pytest.raises(StreamError, match="frame size changed mid-stream.*reset"):
            segmenter.step(cv2.resize(frames[1], (64, 32)), 0.05)
        with pytest.raises(ValueError, match="uint8"):
            segmenter.step(frames[1].astype(np.uint16) * 256, 0.05)
        with pytest.raises(StreamError, match="stamp"):
            segmenter.step(frames[1], float("nan"))
        grey = segmenter.step(cv2.cvtColor(frames[1], cv2.COLOR_RGB2GRAY), 0.05)
        assert grey.labels.shape == frames[1].shape[:2] and not grey.keyframe
        segmenter.reset()
        small = segmenter.step(cv2.resize(frames[1], (64, 32)), 0.1)
        assert small.keyframe and small.reason == "first_frame" and small.labels.shape == (32, 64)


def test_restart_on_resize_starts_a_new_stream(temporal_bundle: Path, frames) -> None:
    """The one rule for a camera that changes resolution (node, bag segment, vsseg segment):
    the frame starts a new stream; a bad stamp is still an error, not a restart."""
    bundle = Bundle.load(temporal_bundle)
    with OnnxRuntimeBackend(bundle, device="cpu") as backend, \
            VideoSegmenter(bundle, backend, "fixed:4", restart_on_resize=True) as segmenter:
        assert segmenter.step(frames[0], 0.0).keyframe
        assert not segmenter.step(frames[1], 0.05).keyframe
        small = segmenter.step(cv2.resize(frames[2], (64, 32)), 0.1)
        assert small.keyframe and small.reason == "first_frame" and small.labels.shape == (32, 64)
        assert segmenter.frame_size == (32, 64)
        with pytest.raises(StreamError, match="stamp"):
            segmenter.step(frames[3], float("inf"))
        assert segmenter.frame_size == (32, 64)  # refused before the restart
    with OnnxRuntimeBackend(bundle, device="cpu") as backend, \
            VideoSegmenter(bundle, backend, "fixed:4") as strict:
        strict.step(frames[0], 0.0)
        with pytest.raises(FrameSizeChanged):
            strict.step(cv2.resize(frames[1], (64, 32)), 0.05)


def test_policies_other_than_per_frame_need_the_prop_graph(tiny_bundle: Path, frames) -> None:
    bundle = Bundle.load(tiny_bundle)
    with OnnxRuntimeBackend(bundle, device="cpu") as backend:
        with pytest.raises(BundleError, match="train-propagation"):
            VideoSegmenter(bundle, backend, "fixed:5")
        with VideoSegmenter(bundle, backend, "per_frame") as segmenter:
            assert segmenter.step(frames[0], 0.0).keyframe


def test_eval_json(cli, temporal_bundle: Path, video_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    result = cli("eval", "--data", video_data, "--model", temporal_bundle, "--policy", "fixed:2",
                 "--backend", "onnxruntime", "--device", "cpu", "--json", out, "--quiet")
    assert result.returncode == 0, result.stderr
    record = json.loads(out.read_text())
    assert EVAL_KEYS <= set(record)
    assert record["policy"] == "fixed:2" and record["frames"] == 24
    assert record["keyframe_ratio"] == 0.5  # frames 0, 2, ..., 10 of each 12-frame sequence
    # mIoU and TC are those of the same streams segmented here, scored with the project's metrics
    bundle, fps = Bundle.load(temporal_bundle), dataset_fps(video_data)
    confusion, consistency = ConfusionMatrix(), TemporalConsistency(flow_scale=TC_FLOW_SCALE)
    with OnnxRuntimeBackend(bundle, device="cpu") as backend, \
            VideoSegmenter(bundle, backend, "fixed:2") as segmenter:
        for sequence in CityscapesDataset(video_data, "val").sequences:
            segmenter.reset()
            consistency.reset()
            for frame in sequence:
                rgb = frame.load_image()
                labels = segmenter.step(rgb, frame.fid.frame / fps).labels
                confusion.update(labels, frame.load_labels())
                consistency.push(rgb, labels)
    assert record["miou"] == confusion.miou() and record["tc"] == consistency.value()
    assert record["fps"] == pytest.approx(1000.0 / record["latency_ms"]["mean"])  # frames / total s
    assert set(record["latency_ms"]) == {"mean", "p50", "p95", "p99"}
    assert record["latency_ms"]["p50"] <= record["latency_ms"]["p99"]
    assert record["latency_ms_by_type"]["keyframe"] and record["latency_ms_by_type"]["propagated"]


def test_bench_table_json_and_plot(cli, temporal_bundle: Path, video_data: Path, tmp_path: Path) -> None:
    out, plot = tmp_path / "bench.json", tmp_path / "curve.png"
    result = cli("bench", "--data", video_data, "--model", temporal_bundle, "--policies",
                 "per_frame,fixed:4", "--device", "cpu", "--json", out, "--plot", plot, "--quiet")
    assert result.returncode == 0, result.stderr
    assert "per_frame" in result.stdout and "fixed:4" in result.stdout
    record = json.loads(out.read_text())
    assert [r["policy"] for r in record["policies"]] == ["per_frame", "fixed:4"]
    assert all(EVAL_KEYS <= set(r) for r in record["policies"])
    assert record["policies"][0]["keyframe_ratio"] == 1.0
    picture = cv2.imread(str(plot))
    assert picture is not None and picture.shape[0] > 300 and picture.shape[1] > 600


@pytest.mark.parametrize("policy", ["adaptive:-1", "fixed:0", "budget:abc"])
def test_invalid_policy_strings(cli, video_data: Path, policy: str) -> None:
    result = cli("eval", "--data", video_data, "--policy", policy)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert policy in result.stderr and "fixed:K" in result.stderr


def test_train_propagation_with_labels_needs_labelled_frames(cli, tiny_bundle: Path,
                                                            video_data: Path, tmp_path: Path) -> None:
    data = tmp_path / "D"
    shutil.copytree(video_data, data)
    shutil.rmtree(data / "gtFine_sequence")
    shutil.rmtree(data / "gtFine", ignore_errors=True)
    result = cli("train-propagation", "--data", data, "--split", "val", "--model", tiny_bundle,
                 "--out", tmp_path / "b", "--iterations", "1", "--quiet")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "no labelled frame" in result.stderr and "--targets hard" in result.stderr
    assert not (tmp_path / "b").exists()


def test_sparse_labels_train_on_the_labelled_frames_only(video_data: Path, tmp_path: Path) -> None:
    """Cityscapes labels one frame per snippet: the Deep Feature Flow protocol propagates to
    that frame from 1..max_distance frames before it."""
    from vsseg_core.train.propagation import FrameCache, PropagationConfig, pair_batch

    data = tmp_path / "D"
    shutil.copytree(video_data, data)
    for label in (data / "gtFine_sequence").rglob("*_labelIds.png"):
        if "_000008_" not in label.name:  # one labelled frame per sequence, as in Cityscapes
            label.unlink()
    labelled = sorted(p.name for p in data.rglob("*_labelIds.png"))
    cache = FrameCache.from_dataset(CityscapesDataset(data, "val"), (64, 128), min_length=2)
    targets = sorted(cache.sequences[s][i].label_path.name for s, i in cache.targets)
    assert targets == labelled and len(targets) == 2
    config = PropagationConfig(data=str(data), split="val", batch_size=4, max_distance=3)
    keys, currents, _, labels = pair_batch(cache, np.random.default_rng(0), config, (16, 32))
    assert labels is not None and labels.shape == (4, 64, 128)


def test_train_propagation_label_free_on_a_folder_of_frames(cli, tiny_bundle: Path, frames,
                                                            video_data: Path, tmp_path: Path) -> None:
    """--targets soft trains on unlabelled frames (here a folder of PNGs), calibrates on
    unlabelled sequences, and says the mIoU columns are n/a."""
    folder, plain = tmp_path / "drive", tmp_path / "plain"
    folder.mkdir()
    for i, rgb in enumerate(frames):
        cv2.imwrite(str(folder / f"frame{i}.png"), rgb[..., ::-1])
    shutil.copytree(video_data, plain)
    shutil.rmtree(plain / "gtFine_sequence")
    result = cli("train-propagation", "--data", folder, "--targets", "soft", "--model",
                 tiny_bundle, "--out", tmp_path / "b", "--iterations", "2", "--batch-size", "2",
                 "--max-distance", "3", "--propagation", "kernel", "--val-data", plain, "--quiet")
    assert result.returncode == 0, result.stderr
    assert "n/a (unlabelled)" in result.stdout
    bundle = Bundle.load(tmp_path / "b")
    assert bundle.meta["provenance"]["propagation"]["config"]["targets"] == "soft"
    assert bundle.temporal["calibration"]["keyframe_miou"] is None
    refused = cli("train-propagation", "--data", folder, "--model", tiny_bundle, "--out",
                  tmp_path / "c", "--iterations", "1", "--val-data", plain, "--quiet")
    assert refused.returncode == 1 and "--targets hard" in refused.stderr
    one_sequence = cli("train-propagation", "--data", folder, "--targets", "soft", "--model",
                       tiny_bundle, "--out", tmp_path / "d", "--iterations", "1", "--quiet")
    assert one_sequence.returncode == 1 and "--val-data" in one_sequence.stderr
    assert not (tmp_path / "c").exists() and not (tmp_path / "d").exists()


def test_spearman_handles_ties() -> None:
    from vsseg_core.train.keyframe_rules import spearman

    assert spearman(np.array([1, 2, 3, 4.0]), np.array([2, 4, 6, 9.0])) == pytest.approx(1.0)
    assert spearman(np.array([1, 1, 2, 2.0]), np.array([1, 2, 3, 4.0])) == pytest.approx(0.8944, abs=1e-4)
    assert spearman(np.array([1, 2, 3.0]), np.array([3, 2, 1.0])) == pytest.approx(-1.0)


def test_train_propagation_refuses_a_used_out_before_training(cli, tiny_bundle: Path, video_data: Path,
                                                              tmp_path: Path) -> None:
    used = tmp_path / "b"
    used.mkdir()
    (used / "keep.txt").write_text("mine")
    result = cli("train-propagation", "--data", video_data, "--split", "val", "--model", tiny_bundle,
                 "--out", used, "--iterations", "1")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "not empty; pass --overwrite" in result.stderr
    assert "trained the fusion head" not in result.stdout  # refused before the training
    assert [p.name for p in used.iterdir()] == ["keep.txt"]
