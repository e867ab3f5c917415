"""``open_frames``: Cityscapes roots, image folders, videos and single images, on real files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vsseg_core.data.cityscapes import DatasetError
from vsseg_core.data.sources import InputFrame, SourceError, natural_key, open_frames
from vsseg_core.errors import VssegError

H, W = 8, 12


def _rgb(value: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB with distinct channel values derived from ``value``."""
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = value, 100, 200 - value
    return rgb


def _write_rgb(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture
def cityscapes_root(tmp_path: Path) -> Path:
    """train: aachen seq 0 and 1 x 3 frames (labelled); val: bonn seq 3, 1 unlabelled frame."""
    root = tmp_path / "cs"
    for seq in (1, 0):  # written out of order on purpose
        for frame in (12, 2, 7):
            stem = f"aachen_{seq:06d}_{frame:06d}"
            _write_rgb(root / "leftImg8bit_sequence/train/aachen" / f"{stem}_leftImg8bit.png",
                       _rgb(10 * seq + frame))
            label_ids = np.full((H, W), 7, np.uint8)  # road -> trainId 0
            label_ids[0, :] = 26 if seq else 0  # car -> 13, unlabeled -> 255
            label_dir = root / "gtFine_sequence/train/aachen"
            label_dir.mkdir(parents=True, exist_ok=True)
            assert cv2.imwrite(str(label_dir / f"{stem}_gtFine_labelIds.png"), label_ids)
    _write_rgb(root / "leftImg8bit_sequence/val/bonn/bonn_000003_000000_leftImg8bit.png", _rgb(99))
    return root


def test_cityscapes_root_order_stems_labels_sequences(cityscapes_root: Path) -> None:
    source = open_frames(cityscapes_root)
    assert source.kind == "cityscapes" and source.path == cityscapes_root
    assert len(source) == 7
    frames = list(source)
    assert all(isinstance(f, InputFrame) for f in frames)
    assert [f.index for f in frames] == list(range(7))
    assert [f.stem for f in frames] == [
        "aachen_000000_000002", "aachen_000000_000007", "aachen_000000_000012",
        "aachen_000001_000002", "aachen_000001_000007", "aachen_000001_000012",
        "bonn_000003_000000",
    ]
    assert [f.sequence for f in frames] == ["train/aachen_000000"] * 3 + [
        "train/aachen_000001"] * 3 + ["val/bonn_000003"]
    for f in frames[:6]:
        seq, frame = int(f.stem[7:13]), int(f.stem[14:])
        assert f.rgb.shape == (H, W, 3) and f.rgb.dtype == np.uint8
        np.testing.assert_array_equal(f.rgb, _rgb(10 * seq + frame))
        assert f.labels is not None and f.labels.shape == (H, W) and f.labels.dtype == np.uint8
        assert (f.labels[1:] == 0).all()
        assert (f.labels[0] == (13 if seq else 255)).all()
    assert frames[6].labels is None
    np.testing.assert_array_equal(frames[6].rgb, _rgb(99))


def test_cityscapes_corrupt_frame_raises_dataset_error(cityscapes_root: Path) -> None:
    bad = cityscapes_root / "leftImg8bit_sequence/val/bonn/bonn_000003_000000_leftImg8bit.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="bonn_000003_000000"):
        list(open_frames(cityscapes_root))


def test_natural_key() -> None:
    names = ["frame10.png", "frame2.png", "Frame1.png", "frame02b.png"]
    assert sorted(names, key=natural_key) == [
        "Frame1.png", "frame2.png", "frame02b.png", "frame10.png"]


def test_image_folder_natural_order_and_stems(tmp_path: Path) -> None:
    folder = tmp_path / "clip"
    for i in (10, 2, 1):
        _write_rgb(folder / f"frame{i}.png", _rgb(i))
    _write_rgb(folder / "frame3_leftImg8bit.JPG", _rgb(3))
    (folder / "notes.txt").write_text("ignore me")
    _write_rgb(folder / "sub" / "frame0.png", _rgb(0))  # sub-folders are not searched
    (folder / "nested.png").mkdir()  # a folder named like an image is not an image
    source = open_frames(folder)
    assert source.kind == "images" and len(source) == 4
    frames = list(source)
    assert [f.stem for f in frames] == ["frame1", "frame2", "frame3", "frame10"]
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert {f.sequence for f in frames} == {"clip"}
    assert all(f.labels is None for f in frames)
    np.testing.assert_array_equal(frames[3].rgb, _rgb(10))
    np.testing.assert_allclose(frames[2].rgb.astype(int), _rgb(3).astype(int), atol=8)  # JPEG


def test_grey_and_rgba_images(tmp_path: Path) -> None:
    grey = np.arange(H * W, dtype=np.uint8).reshape(H, W)
    assert cv2.imwrite(str(tmp_path / "a_grey.png"), grey)
    rgba = np.dstack([_rgb(5), np.full((H, W), 40, np.uint8)])
    assert cv2.imwrite(str(tmp_path / "b_rgba.png"), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    assert cv2.imread(str(tmp_path / "b_rgba.png"), cv2.IMREAD_UNCHANGED).shape == (H, W, 4)
    first, second = open_frames(tmp_path)
    assert first.rgb.shape == (H, W, 3)
    for channel in range(3):
        np.testing.assert_array_equal(first.rgb[..., channel], grey)
    np.testing.assert_array_equal(second.rgb, _rgb(5))


def test_16_bit_image_rejected(tmp_path: Path) -> None:
    assert cv2.imwrite(str(tmp_path / "deep.png"), np.full((H, W, 3), 1000, np.uint16))
    with pytest.raises(SourceError, match=r"deep\.png.*8-bit"):
        list(open_frames(tmp_path))


def test_corrupt_png_rejected_naming_file(tmp_path: Path) -> None:
    _write_rgb(tmp_path / "ok.png", _rgb(1))
    (tmp_path / "zz_broken.png").write_bytes(b"\x89PNG garbage")
    frames = iter(open_frames(tmp_path))
    assert next(frames).stem == "ok"  # lazy: the good frame decodes before the bad one
    with pytest.raises(SourceError, match=r"zz_broken\.png is not a readable image"):
        next(frames)


def test_folder_without_images(tmp_path: Path) -> None:
    (tmp_path / "readme.md").write_text("x")
    with pytest.raises(SourceError, match=r"no \.png/\.jpg/\.jpeg/\.bmp images in .*"):
        open_frames(tmp_path)


def test_single_image(tmp_path: Path) -> None:
    path = _write_rgb(tmp_path / "shot_leftImg8bit.bmp", _rgb(42))
    source = open_frames(path)
    assert source.kind == "image" and len(source) == 1
    (frame,) = list(source)
    assert frame.stem == "shot" and frame.index == 0 and frame.labels is None
    np.testing.assert_array_equal(frame.rgb, _rgb(42))


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"input .*nowhere does not exist") as info:
        open_frames(tmp_path / "nowhere")
    assert isinstance(info.value, VssegError) and isinstance(info.value, ValueError)


def test_unsupported_file_type(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("1,2")
    with pytest.raises(SourceError, match=r"data\.csv is not a supported type.*\.png.*\.mp4"):
        open_frames(path)


def test_unreadable_video_rejected(tmp_path: Path) -> None:
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(SourceError, match=r"broken\.mp4"):
        open_frames(path)


def test_video_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "drive.AVI"
    h, w, count = 64, 96, 5
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (w, h))
    if not writer.isOpened():
        pytest.skip("OpenCV in this environment cannot write MJPG .avi (no VideoWriter backend)")
    expected = []
    for i in range(count):
        rgb = np.zeros((h, w, 3), np.uint8)
        rgb[..., 0], rgb[..., 1], rgb[..., 2] = 40 * i, 128, 200  # red channel encodes i
        expected.append(rgb)
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    source = open_frames(path)
    assert source.kind == "video" and len(source) == count
    frames = list(source)
    assert len(frames) == count
    assert [f.stem for f in frames] == [f"drive_{i:06d}" for i in range(count)]
    assert {f.sequence for f in frames} == {"drive"}
    for frame, rgb in zip(frames, expected):
        assert frame.rgb.shape == (h, w, 3) and frame.rgb.dtype == np.uint8
        assert frame.labels is None
        np.testing.assert_allclose(frame.rgb.mean(axis=(0, 1)), rgb[0, 0], atol=6)
