"""`vsseg train`: learns, resumes exactly, refuses bad input."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from vsseg_core.data.cityscapes import CityscapesDataset, DatasetError
from vsseg_core.errors import VssegError
from vsseg_core.metrics import ConfusionMatrix
from vsseg_core.model.pspnet import ModelConfig
from vsseg_core.synth.config import SynthConfig
from vsseg_core.synth.generator import generate
from vsseg_core.train.data import Augment, make_sample
from vsseg_core.train.loop import CHECKPOINT, TrainConfig, learning_rate, train

TINY_MODEL = ModelConfig(width=0.25, head_channels=32, input_size=(64, 128), output_stride=8)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("train") / "data"
    generate(SynthConfig(sequences=2, frames=3, height=64, width=128, seed=5), root)
    return root


def _config(data: Path, **kw) -> TrainConfig:
    return TrainConfig(data=str(data), **{"model": TINY_MODEL, "batch_size": 2,
                                          "checkpoint_every": 2, "warmup": 2, **kw})


def test_resume_continues_exactly(tiny_data: Path, tmp_path: Path) -> None:
    config = _config(tiny_data, iterations=4)
    straight, _ = train(config, tmp_path / "a", progress=False)
    _, provenance = train(config, tmp_path / "b", stop_after=2, progress=False)
    assert provenance is None
    assert json.loads((tmp_path / "b" / "train_log.jsonl").read_text().splitlines()[-1])["iteration"] == 2
    resumed, provenance = train(config, tmp_path / "b", resume=True, progress=False)
    assert provenance is not None and provenance["train_config"]["iterations"] == 4
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_data_loading_workers_do_not_change_the_weights(tiny_data: Path, tmp_path: Path) -> None:
    config = _config(tiny_data, iterations=3)
    inline, _ = train(config, tmp_path / "inline", progress=False, workers=0)
    parallel, _ = train(config, tmp_path / "parallel", progress=False, workers=2)
    for (name, a), b in zip(inline.state_dict().items(), parallel.state_dict().values()):
        assert torch.equal(a, b), name


def test_a_corrupt_frame_read_by_a_worker_is_one_clear_error(tiny_data: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    broken = sorted(data.glob("leftImg8bit*/train/*/*.png"))[0]
    broken.write_bytes(broken.read_bytes()[:100])
    with pytest.raises(DatasetError, match=broken.name) as caught:
        train(_config(data, iterations=3), tmp_path / "run", progress=False, workers=1)
    assert "Traceback" not in str(caught.value)
    with pytest.raises(VssegError, match="--workers"):
        train(_config(data, iterations=3), tmp_path / "bad", progress=False, workers=-1)


def test_training_lowers_the_loss(tiny_data: Path, tmp_path: Path) -> None:
    train(_config(tiny_data, iterations=30, lr=5e-3), tmp_path / "run", progress=False)
    losses = [json.loads(line)["loss"] for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert len(losses) == 30
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5]), losses


def test_validation_miou_is_reported(tiny_data: Path, tmp_path: Path) -> None:
    model, provenance = train(_config(tiny_data, iterations=2, val_data=str(tiny_data),
                                      val_split="train"), tmp_path / "run", progress=False)
    assert provenance is not None
    # the reported mIoU is that of the returned model on every labelled frame, recomputed here
    # (the frames are at the network's input size: no resizing on either side)
    confusion, frames = ConfusionMatrix(), 0
    with torch.no_grad():
        for sequence in CityscapesDataset(tiny_data, "train").sequences:
            for record in sequence:
                rgb, truth = record.load_image(), record.load_labels()
                image = torch.from_numpy(rgb.transpose(2, 0, 1)[None].astype(np.float32))
                confusion.update(model(image)[0].argmax(0).numpy(), truth)
                frames += 1
    assert frames == 6
    assert provenance["val"]["miou"] == confusion.miou()
    assert provenance["data"]["synth"]["config"]["seed"] == 5


def test_existing_run_and_bad_resume_are_refused(tiny_data: Path, tmp_path: Path) -> None:
    with pytest.raises(VssegError, match="--resume"):
        train(_config(tiny_data, iterations=2), tmp_path / "none", resume=True, progress=False)
    train(_config(tiny_data, iterations=2), tmp_path / "run", progress=False)
    with pytest.raises(VssegError, match="exists"):
        train(_config(tiny_data, iterations=2), tmp_path / "run", progress=False)
    with pytest.raises(VssegError, match=r"other options \(iterations: 2 -> 3\)"):
        train(_config(tiny_data, iterations=3), tmp_path / "run", resume=True, progress=False)
    with pytest.raises(VssegError, match=r"other options \(model.head_channels: 32 -> 7\)"):
        train(_config(tiny_data, iterations=2, model=replace(TINY_MODEL, head_channels=7)),
              tmp_path / "run", resume=True, progress=False)


def test_resume_refuses_a_checkpoint_trained_with_another_loss(tiny_data: Path, tmp_path: Path) -> None:
    config = _config(tiny_data, iterations=2)
    train(config, tmp_path / "run", stop_after=1, progress=False)
    path = tmp_path / "run" / CHECKPOINT
    state = torch.load(path, weights_only=False)
    del state["loss_version"]  # as written before the auxiliary loss moved to the stride-4 grid
    torch.save(state, path)
    with pytest.raises(VssegError, match="training loss differs.*another --out"):
        train(config, tmp_path / "run", resume=True, progress=False)


def test_poly_schedule_with_warmup() -> None:
    config = TrainConfig(data="", iterations=100, warmup=10, lr=1.0)
    assert learning_rate(config, 0) == pytest.approx(0.1)
    assert learning_rate(config, 9) == pytest.approx(1.0)
    assert learning_rate(config, 55) == pytest.approx(0.5 ** 0.9)
    assert learning_rate(config, 100) == 0.0


def test_augmented_sample_keeps_pixels_and_labels_aligned() -> None:
    rng = np.random.default_rng(0)
    labels = np.zeros((64, 128), np.uint8)
    labels[:, 64:] = 1
    rgb = np.where(labels[..., None] == 1, 200, 30).astype(np.uint8).repeat(3, axis=2)
    image, lab = make_sample(rgb, labels, (64, 128), rng, Augment(jitter=0.0, hue=0.0))
    assert image.shape == (3, 64, 128) and lab.shape == (64, 128) and lab.dtype == np.int64
    valid = lab != 255
    bright = image.mean(axis=0) > 115
    assert (bright[valid] == (lab[valid] == 1)).mean() > 0.98


def test_cli_rejects_missing_data(cli, tmp_path: Path) -> None:
    result = cli("train", "--data", tmp_path / "nope", "--out", tmp_path / "run", "--quiet")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "nope" in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("option, value, named", [("--decoder-channels", "-1", "decoder channels -1"),
                                                  ("--width", "5", "width multiplier")])
def test_cli_rejects_a_bad_architecture_before_reading_data(cli, tmp_path: Path, option: str,
                                                            value: str, named: str) -> None:
    result = cli("train", "--data", tmp_path / "nope", "--out", tmp_path / "run", option, value,
                 "--quiet")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert named in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("option, value, named", [("--lr", "nan", "--lr must be a positive number"),
                                                  ("--seed", "-1", "--seed must be >= 0"),
                                                  ("--head-channels", "0", "head channels 0"),
                                                  ("--stop-after", "0", "--stop-after must be >= 1")])
def test_cli_rejects_bad_numbers_before_writing_anything(cli, tiny_data: Path, tmp_path: Path,
                                                         option: str, value: str, named: str) -> None:
    result = cli("train", "--data", tiny_data, "--out", tmp_path / "run", option, value, "--quiet")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert named in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_missing_data_leaves_no_run_directory(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        train(_config(tmp_path / "nope"), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("option", ["--out", "--export"])
def test_an_output_that_is_a_file_is_refused_before_training(cli, tiny_data: Path, tmp_path: Path,
                                                             option: str) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("mine")
    outputs = {"--out": tmp_path / "run", "--export": tmp_path / "bundle", option: blocker}
    result = cli("train", "--data", tiny_data, "--iterations", "1", "--quiet",
                 *(str(a) for pair in outputs.items() for a in pair))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert str(blocker) in result.stderr and "not a directory" in result.stderr
    assert not (tmp_path / "run" / CHECKPOINT).exists() and blocker.read_text() == "mine"


def test_init_starts_from_a_bundle_at_another_output_stride(tiny_data: Path, tmp_path: Path) -> None:
    """Fine-tuning: a stride-8 bundle's weights start a stride-16 run (same shapes, other
    dilation); before the first step the network equals the bundle's, apart from the auxiliary
    head bundles do not keep."""
    from vsseg_core.export import export_bundle
    from vsseg_core.model.pspnet import PSPNet
    from vsseg_core.train.loop import load_initial_weights

    torch.manual_seed(1)
    stride_8 = replace(TINY_MODEL, input_size=(128, 256))  # stride 16 needs >= 6 cells for the pyramid
    source = PSPNet(stride_8).eval()
    bundle = export_bundle(source, tmp_path / "bundle", provenance={})
    target = PSPNet(replace(stride_8, output_stride=16))
    load_initial_weights(target, bundle.root)
    expected = source.inference_state_dict()
    for name, value in target.inference_state_dict().items():
        assert torch.equal(value, expected[name]), name
    _, provenance = train(_config(tiny_data, iterations=1, init=str(bundle.root),
                                  model=replace(stride_8, output_stride=16)),
                          tmp_path / "run", progress=False)
    assert provenance["train_config"]["init"] == str(bundle.root)


def test_init_with_weights_of_another_architecture_is_one_clear_error(cli, tiny_data: Path,
                                                                       tmp_path: Path) -> None:
    from vsseg_core.export import export_bundle
    from vsseg_core.model.pspnet import PSPNet

    bundle = export_bundle(PSPNet(TINY_MODEL).eval(), tmp_path / "bundle", provenance={})
    result = cli("train", "--data", tiny_data, "--out", tmp_path / "run", "--init", bundle.root,
                 "--width", "0.5", "--size", "64x128", "--iterations", "1", "--quiet")
    assert result.returncode == 1
    assert "do not fit this architecture" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    missing = cli("train", "--data", tiny_data, "--out", tmp_path / "run2", "--init",
                  tmp_path / "nothing", "--iterations", "1", "--quiet")
    assert missing.returncode == 1 and "no weights file" in missing.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "run2").exists()
