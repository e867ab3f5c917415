"""`vsseg import mmseg` against the real mmsegmentation: the fixtures in test/fixtures/mmseg were
written by tools/make_mmseg_fixtures.py with mmsegmentation 1.2.2 (reduced-width ResNetV1c-18
and -50 and torchvision-style ResNet-18 ("b") PSPNets with random weights and BatchNorm statistics, mmseg-format checkpoints and
mmseg's own logits for a fixed image). The imported network, and its exported ONNX graphs, must
give the same logits (max |diff| <= 1e-4, argmax agreement 100%)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

from vsseg_core.bundle import Bundle, sha256_file
from vsseg_core.export import export_bundle
from vsseg_core.importers.mmseg import CheckpointError, config_name, import_mmseg, model_config
from vsseg_core.model.ppm import AdaptivePool
from vsseg_core.model.pspnet import ModelConfig, PSPNet

FIXTURES = Path(__file__).parent / "fixtures" / "mmseg"
CASES = {"pspnet_r18-d8_tiny": "pspnet_r18-d8", "pspnet_r50-d8_tiny": "pspnet_r50-d8",
         "pspnet_r18b-d8_tiny": "pspnet_r18b-d8"}
SIZE = {"input_size": (64, 128), "base_channels": 8, "channels": 32}
"""How tools/make_mmseg_fixtures.py reduced mmseg's configs."""
MAX_DIFF = 1e-4


def _reference(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(image (N, 3, H, W) float32 RGB 0..255, mmseg's logits (N, 19, H, W))."""
    data = np.load(FIXTURES / f"{name}_logits.npz")
    return data["image"].transpose(0, 3, 1, 2).astype(np.float32), data["logits"]


def _assert_same(logits: np.ndarray, expected: np.ndarray) -> None:
    assert np.abs(logits - expected).max() <= MAX_DIFF
    assert (logits.argmax(1) == expected.argmax(1)).all()


@pytest.mark.parametrize("name", CASES)
def test_imported_network_gives_mmseg_logits(name: str) -> None:
    model, meta = import_mmseg(FIXTURES / f"{name}.pth", CASES[name], **SIZE)
    image, expected = _reference(name)
    with torch.no_grad():
        _assert_same(model(torch.from_numpy(image)).numpy(), expected)
    assert meta["mmseg_version"] == "1.2.2"


@pytest.mark.parametrize("name", CASES)
def test_exported_graphs_give_mmseg_logits(name: str, tmp_path: Path) -> None:
    model, _ = import_mmseg(FIXTURES / f"{name}.pth", CASES[name], **SIZE)
    bundle = export_bundle(model, tmp_path / "b", provenance={"test": True})
    image, expected = _reference(name)
    session = {n: ort.InferenceSession(str(bundle.path(s.file)), providers=["CPUExecutionProvider"])
               for n, s in bundle.graphs.items()}
    _assert_same(session["full"].run(None, {"image": image})[0], expected)
    low = session["low"].run(None, {"image": image})[0]
    grid = session["high"].run(None, {"low": low})[1]  # the stream's path: low -> high -> upsample
    up = F.interpolate(torch.from_numpy(grid), size=image.shape[-2:], mode="bilinear",
                       align_corners=False).numpy()
    _assert_same(up, expected)


@pytest.mark.parametrize("change", [{"pooling": "fixed"}, {"dilate_basic_conv2": True}])
def test_vsseg_own_layers_would_not_match(change: dict) -> None:
    """The parity is not trivial: vsseg's own pyramid pooling windows, or dilating both convs
    of a basic block, move the logits well past the tolerance."""
    reference, _ = import_mmseg(FIXTURES / "pspnet_r18-d8_tiny.pth", "pspnet_r18-d8", **SIZE)
    variant = PSPNet(ModelConfig(**{**reference.config.__dict__, **change}))
    variant.load_state_dict(reference.state_dict())
    image, expected = _reference("pspnet_r18-d8_tiny")
    with torch.no_grad():
        assert np.abs(variant.eval()(torch.from_numpy(image)).numpy() - expected).max() > 100 * MAX_DIFF


@pytest.mark.parametrize("size,bins", [((8, 16), 3), ((8, 16), 6), ((12, 20), 6), ((128, 256), 3)])
def test_adaptive_pool_is_adaptive_avg_pool(size: tuple[int, int], bins: int) -> None:
    x = torch.randn(2, 5, *size)
    expected = torch.nn.AdaptiveAvgPool2d(bins)(x)
    assert torch.allclose(AdaptivePool(size, bins)(x), expected, atol=1e-5)


def test_cli_writes_a_bundle_with_provenance(cli, tmp_path: Path) -> None:
    checkpoint = FIXTURES / "pspnet_r18-d8_tiny.pth"
    out = tmp_path / "r18"
    result = cli("import", "mmseg", "--checkpoint", checkpoint, "--config",
                 "configs/pspnet/pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py",
                 "--base-channels", "8", "--channels", "32", "--input-size", "64x128", "--out", out)
    assert result.returncode == 0, result.stderr
    assert "imported pspnet_r18-d8" in result.stdout
    bundle = Bundle.load(out)
    imported = bundle.meta["provenance"]["imported"]
    assert imported["source"] == "mmsegmentation" and imported["config"] == "pspnet_r18-d8"
    assert imported["checkpoint_sha256"] == sha256_file(checkpoint)
    assert imported["checkpoint_meta"]["mmseg_version"] == "1.2.2"
    arch = bundle.meta["architecture"]
    assert (arch["stem"], arch["pooling"], arch["dilate_basic_conv2"]) == ("deep", "adaptive", False)
    frame = tmp_path / "frame.png"
    cv2.imwrite(str(frame), np.load(FIXTURES / "pspnet_r18-d8_tiny_logits.npz")["image"][0, ..., ::-1])
    segmented = cli("segment", "--model", out, "--input", frame, "--out", tmp_path / "masks",
                    "--backend", "onnxruntime", "--policy", "per_frame", "--quiet")
    assert segmented.returncode == 0, segmented.stderr
    mask = cv2.imread(str(tmp_path / "masks" / "frame_labelTrainIds.png"), cv2.IMREAD_UNCHANGED)
    assert (mask == _reference("pspnet_r18-d8_tiny")[1][0].argmax(0)).mean() > 0.999


def test_every_existing_architecture_loads_unchanged() -> None:
    """model.json files written before the import fields existed rebuild the same network."""
    arch = json.loads((Path(__file__).parent.parent / "vsseg_core" / "default_model" /
                       "model.json").read_text())["architecture"]
    old = {k: v for k, v in arch.items()
           if k not in ("stem", "dilate_basic_conv2", "pooling", "ppm_channels")}
    config = ModelConfig.from_json(old)
    assert (config.stem, config.dilate_basic_conv2, config.pooling, config.ppm_channels) == (
        "conv7", True, "fixed", 0)
    assert set(PSPNet(config).state_dict()) == set(PSPNet(ModelConfig.from_json(arch)).state_dict())


def test_config_names() -> None:
    assert config_name("pspnet_r50-d8") == "pspnet_r50-d8"
    assert config_name("pspnet_r101b-d8_4xb2-80k_cityscapes-769x769.py") == "pspnet_r101b-d8"
    with pytest.raises(CheckpointError, match="pspnet_r18-d8"):
        config_name("deeplabv3_r50-d8_4xb2-40k_cityscapes-512x1024")
    assert model_config("pspnet_r18b-d8").stem == "conv7"
    assert model_config("pspnet_r50-d8").ppm_channels == 512


def _import_error(cli, tmp_path: Path, checkpoint: Path, *extra: str) -> str:
    out = tmp_path / "never"
    result = cli("import", "mmseg", "--checkpoint", checkpoint, "--input-size", "64x128",
                 "--out", out, *extra)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert not out.exists()
    return result.stderr


def test_checkpoint_of_another_config_names_keys_and_config(cli, tmp_path: Path) -> None:
    error = _import_error(cli, tmp_path, FIXTURES / "pspnet_r18-d8_tiny.pth", "--config",
                          "pspnet_r50-d8", "--base-channels", "8", "--channels", "32")
    assert "does not fit mmseg config pspnet_r50-d8" in error
    assert "missing keys backbone.layer1.0.conv3.weight" in error
    assert "its layout is that of pspnet_r18-d8" in error


def test_checkpoint_of_other_widths_says_which(cli, tmp_path: Path) -> None:
    error = _import_error(cli, tmp_path, FIXTURES / "pspnet_r18-d8_tiny.pth", "--config",
                          "pspnet_r18-d8")
    assert "shape mismatches backbone.stem.0.weight (4, 3, 3, 3) (config: (32, 3, 3, 3))" in error
    assert "--base-channels 8 --channels 32" in error


def test_extra_and_missing_keys(cli, tmp_path: Path) -> None:
    checkpoint = torch.load(FIXTURES / "pspnet_r18-d8_tiny.pth", weights_only=True)
    state = checkpoint["state_dict"]
    del state["decode_head.conv_seg.bias"]
    state["neck.conv.weight"] = torch.zeros(1)
    torch.save(checkpoint, tmp_path / "edited.pth")
    error = _import_error(cli, tmp_path, tmp_path / "edited.pth", "--config", "pspnet_r18-d8",
                          "--base-channels", "8", "--channels", "32")
    assert "missing keys decode_head.conv_seg.bias" not in error  # named as vsseg never sees it
    assert "missing keys classifier.bias" in error and "unexpected keys neck.conv.weight" in error


def test_unreadable_checkpoints(cli, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes((FIXTURES / "pspnet_r18-d8_tiny.pth").read_bytes()[:50_000])
    assert "truncated or not a PyTorch checkpoint" in _import_error(
        cli, tmp_path, truncated, "--config", "pspnet_r18-d8")
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint\n")
    assert "is not a PyTorch checkpoint" in _import_error(cli, tmp_path, text, "--config",
                                                          "pspnet_r18-d8")
    assert "does not exist" in _import_error(cli, tmp_path, tmp_path / "none.pth", "--config",
                                             "pspnet_r18-d8")


def test_checkpoints_with_objects_need_trust(cli, tmp_path: Path) -> None:
    checkpoint = torch.load(FIXTURES / "pspnet_r18-d8_tiny.pth", weights_only=True)
    checkpoint["meta"]["path"] = Path("work_dirs")  # a class outside the tensor allow-list
    torch.save(checkpoint, tmp_path / "objects.pth")
    args = ("--config", "pspnet_r18-d8", "--base-channels", "8", "--channels", "32")
    assert "--trust-checkpoint" in _import_error(cli, tmp_path, tmp_path / "objects.pth", *args)
    result = cli("import", "mmseg", "--checkpoint", tmp_path / "objects.pth", *args,
                 "--input-size", "64x128", "--out", tmp_path / "trusted", "--trust-checkpoint")
    assert result.returncode == 0, result.stderr


def test_other_class_counts_are_refused(cli, tmp_path: Path) -> None:
    checkpoint = torch.load(FIXTURES / "pspnet_r18-d8_tiny.pth", weights_only=True)
    state = checkpoint["state_dict"]
    state["decode_head.conv_seg.weight"] = torch.zeros(150, 32, 1, 1)
    state["decode_head.conv_seg.bias"] = torch.zeros(150)
    torch.save(checkpoint, tmp_path / "ade.pth")
    error = _import_error(cli, tmp_path, tmp_path / "ade.pth", "--config", "pspnet_r18-d8",
                          "--base-channels", "8", "--channels", "32")
    assert "150 classes" in error and "Cityscapes" in error
