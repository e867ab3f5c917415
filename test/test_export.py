"""Export to a bundle: real ONNX graphs checked with onnx and ONNX Runtime against torch."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

from vsseg_core.bundle import BUNDLE_FORMAT, MANIFEST, WEIGHTS, Bundle
from vsseg_core.errors import VssegError
from vsseg_core.export import OPSET, ExportError, export_bundle, graph_specs
from vsseg_core.labels import NUM_CLASSES, TRAIN_CLASSES
from vsseg_core.model.pspnet import ModelConfig, PSPNet
from vsseg_core.synth.config import SynthConfig
from vsseg_core.synth.generator import iter_sequence

PROVENANCE = {"command": "vsseg train --data d", "data": {"frames": 3}, "note": "test"}
FILES = {"low.onnx", "high.onnx", "full.onnx", WEIGHTS}


pytestmark = pytest.mark.usefixtures("one_thread")


def _model(size: tuple[int, int], width: float = 0.25, seed: int = 0, decoder: int = 0) -> PSPNet:
    """A random PSPNet (``decoder`` channels of stride-4 decoder, 0 = none) with non-trivial
    BatchNorm statistics, in eval mode."""
    torch.manual_seed(seed)
    model = PSPNet(ModelConfig(width=width, head_channels=32, input_size=size,
                               decoder_channels=decoder)).train()
    with torch.no_grad():
        model(torch.rand(2, 3, *size) * 255.0)
    return model.eval()


def _frame(size: tuple[int, int]) -> np.ndarray:
    """A real-ish synthetic driving frame (H, W, 3) uint8 at ``size``."""
    config = SynthConfig(sequences=1, frames=1, height=256, width=512, seed=5)
    rgb = next(iter_sequence(config, 0)).rgb
    if rgb.shape[:2] != size:
        rgb = cv2.resize(rgb, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    return rgb


def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _nchw(frame: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(frame.transpose(2, 0, 1)[None].astype(np.float32))


def _check_full_graph_matches_torch(model: PSPNet, bundle: Bundle, frame: np.ndarray) -> None:
    image = _nchw(frame)
    with torch.no_grad():
        expected = model(torch.from_numpy(image)).numpy()
    logits = _session(bundle.path("full.onnx")).run(None, {"image": image})[0]
    assert logits.shape == expected.shape == (1, NUM_CLASSES, *bundle.input_size)
    assert np.abs(logits - expected).max() <= 1e-3
    assert (logits.argmax(1) == expected.argmax(1)).mean() >= 0.999
    assert len(np.unique(expected.argmax(1))) > 1  # a non-degenerate comparison


def _check_parity_meta(bundle: Bundle, frames: int) -> None:
    parity = bundle.meta["parity"]
    assert parity["max_logit_diff"] <= 1e-3
    assert parity["min_argmax_agreement"] >= 0.999
    assert parity["frames"] == frames


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[PSPNet, Bundle, np.ndarray]:
    """The bundle input size 256x512 (OS 8, with the decoder): model, exported bundle and a
    real-ish frame."""
    model = _model((256, 512), decoder=16)
    frame = _frame((256, 512))
    out = tmp_path_factory.mktemp("export") / "bundle"
    bundle = export_bundle(model, out, provenance=PROVENANCE, parity_frames=[frame])
    return model, bundle, frame


def test_export_256x512_matches_torch(exported: tuple[PSPNet, Bundle, np.ndarray]) -> None:
    model, bundle, frame = exported
    _check_parity_meta(bundle, frames=3)
    for name in ("low", "high", "full"):
        onnx.checker.check_model(onnx.load(str(bundle.path(f"{name}.onnx"))), full_check=True)
    _check_full_graph_matches_torch(model, bundle, frame)


def test_export_1024x2048_full_resolution_matches_torch(tmp_path: Path) -> None:
    """SLOW (~15-30 s, ~2 GB): the Cityscapes resolution, where bin 3 does not divide 128x256."""
    size = (1024, 2048)
    model = _model(size, width=0.125)
    frame = _frame(size)
    bundle = export_bundle(model, tmp_path / "big", provenance={}, parity_frames=[frame])
    assert bundle.input_size == size
    assert bundle.graph("high").outputs["deep"] == (1, 32, 128, 256)
    _check_parity_meta(bundle, frames=3)
    _check_full_graph_matches_torch(model, bundle, frame)


def test_model_json_content(exported: tuple[PSPNet, Bundle, np.ndarray]) -> None:
    model, bundle, _ = exported
    meta = json.loads(bundle.path(MANIFEST).read_text())
    assert meta["format"] == BUNDLE_FORMAT
    assert Bundle.load(bundle.root).config == model.config
    assert ModelConfig.from_json(meta["architecture"]) == model.config
    assert meta["input"]["height"] == 256 and meta["input"]["width"] == 512
    assert meta["onnx_opset"] == OPSET
    assert meta["provenance"] == PROVENANCE
    assert [c["name"] for c in meta["classes"]] == [c.name for c in TRAIN_CLASSES]
    assert [c["train_id"] for c in meta["classes"]] == list(range(NUM_CLASSES)) and NUM_CLASSES == 19

    specs = graph_specs(model)
    assert bundle.graphs == specs
    assert specs["low"].inputs == {"image": (1, 3, 256, 512)}
    assert specs["low"].outputs == {"low": (1, model.low_channels, 64, 128)}
    stride = model.logits_stride  # the classifier's own grid: the streaming graphs do not upsample
    assert specs["high"].outputs == {"deep": (1, 32, 32, 64),
                                     "logits": (1, NUM_CLASSES, 256 // stride, 512 // stride)}
    assert specs["full"].outputs == {"logits": (1, NUM_CLASSES, 256, 512)}
    for spec in specs.values():
        graph_model = onnx.load(str(bundle.path(spec.file)))
        assert {o.version for o in graph_model.opset_import if o.domain in ("", "ai.onnx")} == {OPSET}
        for values, expected in ((graph_model.graph.input, spec.inputs),
                                 (graph_model.graph.output, spec.outputs)):
            shapes = {v.name: tuple(d.dim_value if d.HasField("dim_value") else d.dim_param
                                    for d in v.type.tensor_type.shape.dim) for v in values}
            assert shapes == expected  # static: every dimension a number

    assert set(meta["sha256"]) == FILES
    for file, digest in meta["sha256"].items():
        assert hashlib.sha256(bundle.path(file).read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in bundle.root.iterdir()) == sorted(FILES | {MANIFEST})


def test_weights_file_rebuilds_the_model(exported: tuple[PSPNet, Bundle, np.ndarray]) -> None:
    model, bundle, frame = exported
    rebuilt = PSPNet(bundle.config)
    rebuilt.load_state_dict(torch.load(bundle.path(WEIGHTS), map_location="cpu", weights_only=True))
    x = torch.from_numpy(_nchw(frame))
    with torch.no_grad():
        assert torch.equal(rebuilt.eval()(x), model(x))


def test_low_high_chain_equals_full(exported: tuple[PSPNet, Bundle, np.ndarray]) -> None:
    _, bundle, frame = exported
    image = _nchw(frame)
    low = _session(bundle.path("low.onnx")).run(None, {"image": image})[0]
    deep, chained = _session(bundle.path("high.onnx")).run(None, {"low": low})
    full = _session(bundle.path("full.onnx")).run(None, {"image": image})[0]
    assert low.shape == bundle.graph("low").outputs["low"]
    assert deep.shape == bundle.graph("high").outputs["deep"]
    upsampled = F.interpolate(torch.from_numpy(chained), size=full.shape[2:], mode="bilinear",
                              align_corners=False).numpy()  # what full.onnx does inside
    assert (upsampled.argmax(1) == full.argmax(1)).mean() >= 0.999
    assert np.abs(upsampled - full).max() <= 1e-3


def test_non_empty_out_is_refused_and_left_alone(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(VssegError, match="not empty.*--overwrite"):
        export_bundle(_model((64, 128)), out, provenance={})
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no .out.partial


def test_overwrite_replaces_and_leaves_no_staging(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    bundle = export_bundle(_model((64, 128)), out, provenance={"n": 1}, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES | {MANIFEST})
    assert bundle.meta["provenance"] == {"n": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


class _TraceTrap(PSPNet):
    """Data-dependent Python control flow: tracing with zeros freezes the wrong branch, so the
    exported graphs really do differ from PyTorch on ordinary images."""

    def forward_low(self, image: torch.Tensor) -> torch.Tensor:
        low = super().forward_low(image)
        if float(image.mean()) > 1.0:
            low = low + 1.0
        return low


def test_failed_parity_writes_nothing(tiny_bundle: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    trap = _TraceTrap(ModelConfig(width=0.25, head_channels=32, input_size=(64, 128))).eval()
    fresh = tmp_path / "fresh"
    with pytest.raises(ExportError, match="do not match PyTorch"):
        export_bundle(trap, fresh, provenance={})
    assert not fresh.exists()
    existing = Path(shutil.copytree(tiny_bundle, tmp_path / "existing"))
    before = {p.name: p.read_bytes() for p in existing.iterdir()}
    with pytest.raises(ExportError):
        export_bundle(trap, existing, provenance={}, overwrite=True)
    assert {p.name: p.read_bytes() for p in existing.iterdir()} == before
    Bundle.load(existing)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing"]  # no staging left


def test_cli_export_of_a_trained_checkpoint(cli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    data, run, out = tmp_path / "data", tmp_path / "run", tmp_path / "bundle"
    result = cli("synth", "--out", data, "--sequences", "1", "--frames", "3", "--size", "64x128", "--quiet")
    assert result.returncode == 0, result.stderr
    result = cli("train", "--data", data, "--out", run, "--iterations", "2", "--batch-size", "2",
                 "--width", "0.25", "--head-channels", "32", "--size", "64x128", "--quiet")
    assert result.returncode == 0, result.stderr
    result = cli("export", "--checkpoint", run / "checkpoint.pt", "--out", out, "--data", data,
                 "--split", "train")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    bundle = Bundle.load(out)
    assert bundle.input_size == (64, 128)
    assert bundle.config.width == 0.25 and bundle.config.head_channels == 32
    _check_parity_meta(bundle, frames=4)  # 2 random images + 2 frames of --data
    command = bundle.meta["provenance"]["command"]
    assert command.startswith("vsseg train ") and "--iterations 2" in command and str(run) in command
    assert str(out) in result.stdout

    again = cli("export", "--checkpoint", run / "checkpoint.pt", "--out", out)
    assert again.returncode == 1
    assert "--overwrite" in again.stderr and "Traceback" not in again.stderr


def _truncated_checkpoint(path: Path) -> None:
    torch.save({"model": {"w": torch.zeros(1000)}, "config": {}}, path)
    path.write_bytes(path.read_bytes()[:200])


@pytest.mark.parametrize("corrupt", ["missing", "garbage", "empty", "truncated"])
def test_cli_export_bad_checkpoint(cli, tmp_path: Path, monkeypatch, corrupt: str) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    checkpoint = tmp_path / "checkpoint.pt"
    if corrupt == "garbage":
        checkpoint.write_bytes(bytes(range(256)) * 8)
    elif corrupt == "empty":
        checkpoint.write_bytes(b"")
    elif corrupt == "truncated":
        _truncated_checkpoint(checkpoint)
    result = cli("export", "--checkpoint", checkpoint, "--out", tmp_path / "bundle")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(checkpoint) in lines[0], result.stderr
    assert not (tmp_path / "bundle").exists()


def test_an_unsupported_opset_is_refused_before_exporting(tmp_path: Path) -> None:
    with pytest.raises(VssegError, match=r"opset 3 is not supported; choose 11\.\.21"):
        export_bundle(_model((64, 128)), tmp_path / "b", provenance={}, opset=3)
    assert not (tmp_path / "b").exists()
