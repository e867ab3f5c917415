"""``vsseg segment`` end to end: the real CLI in a subprocess on a tiny bundle."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from vsseg_core.labels import CLASS_NAMES, IGNORE_ID, colorize, label_ids_to_train_ids
from vsseg_core.metrics import ConfusionMatrix
from vsseg_core.temporal.video import STAGES

SUMMARY_KEYS = {"frames", "backend", "device", "precision", "latency_ms", "miou", "per_class_iou"}


def _read(path: Path) -> np.ndarray:
    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert pixels is not None, path
    return pixels


def _assert_one_line_error(result, *fragments: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, (h, w) in {"a": (48, 96), "b": (90, 120), "c": (100, 300)}.items():
        cv2.imwrite(str(folder / f"{name}.png"), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    return folder


def test_image_folder(cli, tiny_bundle: Path, image_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = cli("segment", "--model", tiny_bundle, "--input", image_folder, "--out", out,
                 "--backend", "torch", "--device", "cpu", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "mIoU: n/a (no labels)" in result.stdout
    assert "no propagation graph: every frame is a keyframe" in result.stdout
    for stem, size in {"a": (48, 96), "b": (90, 120), "c": (100, 300)}.items():
        labels = _read(out / f"{stem}_labelTrainIds.png")
        color = _read(out / f"{stem}_color.png")
        confidence = _read(out / f"{stem}_confidence.png")
        assert labels.shape == confidence.shape == size and color.shape == (*size, 3)
        assert labels.dtype == confidence.dtype == color.dtype == np.uint8
        assert labels.max() < 19
        assert confidence.min() >= 255 // 19
    summary = json.loads((out / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(summary)
    assert (summary["frames"], summary["backend"], summary["device"], summary["precision"]) == \
        (3, "torch", "cpu", "fp32")
    # three sizes: each image is its own stream, so each is a keyframe
    assert (summary["policy"], summary["keyframe_ratio"]) == ("per_frame", 1.0)
    assert set(summary["latency_ms"]) == set(STAGES)
    ran = {"preprocess", "low", "high", "postprocess", "total"}  # per_frame: no flow, no prop
    assert all(v["mean"] > 0 and v["p95"] > 0 for k, v in summary["latency_ms"].items() if k in ran)
    assert summary["latency_ms"]["flow"]["mean"] == summary["latency_ms"]["prop"]["mean"] == 0
    assert summary["miou"] is None


def test_cityscapes_layout_with_labels(cli, tiny_bundle: Path, tmp_path: Path) -> None:
    data, out = tmp_path / "synth", tmp_path / "out"
    made = cli("synth", "--out", data, "--sequences", "1", "--frames", "3", "--size", "64x128",
               "--quiet")
    assert made.returncode == 0, made.stderr
    preview = tmp_path / "preview.png"
    result = cli("segment", "--model", tiny_bundle, "--input", data, "--out", out, "--quiet",
                 "--preview", preview)
    assert result.returncode == 0, result.stderr
    # 3 frames, each row: frame | prediction | ground truth, 512 px wide tiles of a 1:2 frame
    assert _read(preview).shape == (3 * 256, 3 * 512, 3)
    stems = sorted(p.name[: -len("_leftImg8bit.png")]
                   for p in (data / "leftImg8bit_sequence").rglob("*_leftImg8bit.png"))
    assert len(stems) == 3
    assert sorted(p.name[: -len("_labelTrainIds.png")]
                  for p in out.glob("*_labelTrainIds.png")) == stems
    color = cv2.cvtColor(_read(out / f"{stems[0]}_color.png"), cv2.COLOR_BGR2RGB)
    assert np.array_equal(color, colorize(_read(out / f"{stems[0]}_labelTrainIds.png")))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["backend"] == "onnxruntime" and summary["frames"] == 3
    # the mIoU is that of the written predictions against the ground truth, recomputed here
    confusion = ConfusionMatrix()
    for stem in stems:
        truth, = (data / "gtFine_sequence").rglob(f"{stem}_gtFine_labelIds.png")
        confusion.update(_read(out / f"{stem}_labelTrainIds.png"),
                         label_ids_to_train_ids(_read(truth)))
    assert isinstance(summary["miou"], float) and summary["miou"] == confusion.miou()
    assert f"mIoU: {confusion.miou() * 100:.2f}% over 3 " in result.stdout
    assert "n/a" not in result.stdout


def test_classes_predicted_but_absent_from_the_labels_are_named(cli, tiny_bundle: Path,
                                                                 tmp_path: Path) -> None:
    data, out = tmp_path / "synth", tmp_path / "out"
    made = cli("synth", "--out", data, "--sequences", "1", "--frames", "3", "--size", "64x128",
               "--quiet")
    assert made.returncode == 0, made.stderr
    road = 7  # labelId of trainId 0: labels that know only road, so the model's other classes
    for path in (data / "gtFine_sequence").rglob("*_labelIds.png"):  # have no ground truth
        label_ids = _read(path)
        label_ids[label_ids_to_train_ids(label_ids) != IGNORE_ID] = road
        cv2.imwrite(str(path), label_ids)
    result = cli("segment", "--model", tiny_bundle, "--input", data, "--out", out, "--quiet")
    assert result.returncode == 0, result.stderr
    gt = np.stack([label_ids_to_train_ids(_read(path)) for path in
                   sorted((data / "gtFine_sequence").rglob("*_labelIds.png"))])
    pred = np.stack([_read(path) for path in sorted(out.glob("*_labelTrainIds.png"))])
    evaluated = pred[gt != IGNORE_ID]
    expected = {name: int((evaluated == index).sum()) for index, name in enumerate(CLASS_NAMES)
                if index != 0 and (evaluated == index).any()}
    assert expected, "the random model was expected to predict more than road"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["predicted_without_ground_truth_px"] == expected
    assert f"{len(expected)} of them are not in these labels" in result.stdout
    assert all(f"{name} {count} px" in result.stdout for name, count in expected.items())


def test_missing_input(cli, tiny_bundle: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nothing_here"
    result = cli("segment", "--model", tiny_bundle, "--input", missing, "--out", tmp_path / "o")
    _assert_one_line_error(result, str(missing))


def test_corrupt_image(cli, tiny_bundle: Path, image_folder: Path, tmp_path: Path) -> None:
    (image_folder / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    result = cli("segment", "--model", tiny_bundle, "--input", image_folder, "--out",
                 tmp_path / "o", "--quiet")
    _assert_one_line_error(result, str(image_folder / "b.png"))


def test_missing_model(cli, image_folder: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no_model"
    result = cli("segment", "--model", missing, "--input", image_folder, "--out", tmp_path / "o")
    _assert_one_line_error(result, str(missing))
    assert not (tmp_path / "o").exists()


def test_non_empty_out_needs_overwrite(cli, tiny_bundle: Path, image_folder: Path,
                                       tmp_path: Path) -> None:
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    args = ("segment", "--model", tiny_bundle, "--input", image_folder, "--out", out, "--quiet")
    _assert_one_line_error(cli(*args), str(out), "--overwrite")
    assert (out / "keep.txt").read_text() == "mine"
    assert cli(*args, "--overwrite").returncode == 0
    assert (out / "a_labelTrainIds.png").is_file() and not (out / "keep.txt").exists()


def test_a_failure_part_way_leaves_no_output_and_the_old_one_untouched(
        cli, tiny_bundle: Path, image_folder: Path, tmp_path: Path) -> None:
    (image_folder / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")  # after a and b
    out = tmp_path / "o"
    args = ("segment", "--model", tiny_bundle, "--input", image_folder, "--out", out, "--quiet")
    _assert_one_line_error(cli(*args), str(image_folder / "c.png"), "replace it or remove it")
    assert not out.exists()
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    _assert_one_line_error(cli(*args, "--overwrite"), str(image_folder / "c.png"))
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "o"]  # no staging left


@pytest.mark.parametrize("preview, problem", [("folder.png", "is a directory"),
                                              ("images/a.png/p.png", "is a file")])
def test_an_unusable_preview_path_is_refused_before_any_work(
        cli, tiny_bundle: Path, image_folder: Path, tmp_path: Path, preview: str, problem: str) -> None:
    (tmp_path / "folder.png").mkdir()
    result = cli("segment", "--model", tiny_bundle, "--input", image_folder, "--out",
                 tmp_path / "o", "--preview", tmp_path / preview)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert problem in result.stderr and "--preview" in result.stderr
    assert not (tmp_path / "o").exists()


def test_out_under_a_file_is_one_clear_error(cli, tiny_bundle: Path, image_folder: Path,
                                             tmp_path: Path) -> None:
    result = cli("segment", "--model", tiny_bundle, "--input", image_folder, "--out",
                 image_folder / "a.png" / "out", "--quiet")
    _assert_one_line_error(result, str(image_folder / "a.png"))


def test_default_policy_is_adaptive_with_the_shipped_model(cli, tmp_path: Path) -> None:
    data, out = tmp_path / "synth", tmp_path / "out"
    made = cli("synth", "--out", data, "--sequences", "1", "--frames", "4", "--size", "256x512",
               "--seed", "99", "--quiet")
    assert made.returncode == 0, made.stderr
    result = cli("segment", "--input", data, "--out", out, "--quiet")
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["policy"].startswith("adaptive:") and 0 < summary["keyframe_ratio"] <= 1
    assert "policy: adaptive:" in result.stdout and "keyframes: " in result.stdout
    assert "ms/frame: " in result.stdout


@pytest.mark.parametrize("policy", ["adaptive:-1", "fixed:0", "budget:abc", "sometimes"])
def test_bad_policy(cli, tiny_bundle: Path, image_folder: Path, tmp_path: Path, policy: str) -> None:
    result = cli("segment", "--model", tiny_bundle, "--input", image_folder, "--out",
                 tmp_path / "o", "--policy", policy)
    assert result.returncode == 2 and policy in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()


def test_policy_needing_propagation_on_a_bundle_without_it(cli, tiny_bundle: Path,
                                                          image_folder: Path, tmp_path: Path) -> None:
    result = cli("segment", "--model", tiny_bundle, "--input", image_folder, "--out",
                 tmp_path / "o", "--policy", "fixed:5", "--quiet")
    _assert_one_line_error(result, "train-propagation", "per_frame")
