"""CityscapesDataset on tiny real PNG trees: real-Cityscapes style and ``vsseg synth`` style."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vsseg_core.data.cityscapes import CityscapesDataset, DatasetError, FrameRecord, Sequence
from vsseg_core.data.layout import ANNOTATED_INDEX, SNIPPET_LENGTH, FrameId, image_path, label_path

HEIGHT, WIDTH = 8, 16


def write_image(root: Path, fid: FrameId, image_dir: str = "leftImg8bit_sequence",
                split: str = "train", bgr: np.ndarray | None = None) -> Path:
    """Write a (HEIGHT, WIDTH, 3) BGR PNG for ``fid``; returns its path."""
    path = image_path(root, image_dir, split, fid)
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.zeros((HEIGHT, WIDTH, 3), np.uint8) if bgr is None else bgr
    assert cv2.imwrite(str(path), pixels)
    return path


def write_labels(root: Path, fid: FrameId, label_dir: str, label_id: int = 7,
                 split: str = "train", label_ids: np.ndarray | None = None) -> Path:
    """Write a labelIds PNG for ``fid`` (constant ``label_id`` unless ``label_ids``)."""
    path = label_path(root, label_dir, split, fid)
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full((HEIGHT, WIDTH), label_id, np.uint8) if label_ids is None else label_ids
    assert cv2.imwrite(str(path), pixels)
    return path


@pytest.fixture
def real_root(tmp_path: Path) -> Path:
    """Real-Cityscapes style: a 30-frame aachen snippet labelled only at ANNOTATED_INDEX in
    gtFine, two short bochum sequences without labels, written out of order, plus noise files."""
    root = tmp_path / "real"
    for frame in reversed(range(SNIPPET_LENGTH)):
        write_image(root, FrameId("aachen", 0, frame))
    write_labels(root, FrameId("aachen", 0, ANNOTATED_INDEX), "gtFine")
    for seq, frames in ((7, (102, 100, 101)), (2, (6, 5))):
        for frame in frames:
            write_image(root, FrameId("bochum", seq, frame))
    city_dir = root / "leftImg8bit_sequence" / "train" / "aachen"
    (city_dir / "README.txt").write_text("not a frame")
    (city_dir / "aachen_000000_000001_leftImg8bit.jpg").write_bytes(b"x")
    (city_dir / "aachen_0_1_leftImg8bit.png").write_bytes(b"x")
    (root / "leftImg8bit_sequence" / "train" / "stray_file.png").write_bytes(b"x")
    (root / "leftImg8bit_sequence" / "train" / "empty_city").mkdir()
    return root


def test_sequences_sorted_by_city_and_seq_with_frames_in_order(real_root: Path) -> None:
    dataset = CityscapesDataset(real_root, "train")
    assert [s.name for s in dataset.sequences] == [
        "aachen_000000", "bochum_000002", "bochum_000007"]
    assert [(s.city, s.seq, s.split, len(s)) for s in dataset.sequences] == [
        ("aachen", 0, "train", 30), ("bochum", 2, "train", 2), ("bochum", 7, "train", 3)]
    assert [r.fid.frame for r in dataset.sequences[0]] == list(range(SNIPPET_LENGTH))
    assert [r.fid.frame for r in dataset.sequences[2]] == [100, 101, 102]
    assert len(dataset) == 35
    assert [r.fid for r in dataset.frames()] == [
        r.fid for s in dataset.sequences for r in s.frames]


def test_frame_ids_and_paths_come_from_file_names(real_root: Path) -> None:
    record = CityscapesDataset(real_root).sequences[2].frames[0]
    assert record.fid == FrameId("bochum", 7, 100)
    assert record.image_path == image_path(real_root, "leftImg8bit_sequence", "train", record.fid)
    assert record.image_path.is_file()


def test_only_annotated_frame_has_gtfine_labels_in_real_layout(real_root: Path) -> None:
    labelled = list(CityscapesDataset(real_root).labelled_frames())
    annotated = FrameId("aachen", 0, ANNOTATED_INDEX)
    assert [r.fid for r in labelled] == [annotated]
    assert labelled[0].label_path == label_path(real_root, "gtFine", "train", annotated)
    unlabelled = CityscapesDataset(real_root).sequences[0].frames[0]
    assert unlabelled.label_path is None and unlabelled.load_labels() is None


def test_gtfine_sequence_preferred_and_gtfine_used_as_fallback(tmp_path: Path) -> None:
    """Synthetic style: gtFine_sequence for every frame (but one), gtFine mirrors index 19."""
    fids = [FrameId("synth", 1, frame) for frame in range(SNIPPET_LENGTH)]
    for fid in fids:
        write_image(tmp_path, fid)
        if fid.frame != 3:
            write_labels(tmp_path, fid, "gtFine_sequence", label_id=26)
    write_labels(tmp_path, fids[ANNOTATED_INDEX], "gtFine", label_id=7)
    write_labels(tmp_path, fids[3], "gtFine", label_id=7)
    records = list(CityscapesDataset(tmp_path).labelled_frames())
    assert len(records) == SNIPPET_LENGTH
    dirs = {r.fid.frame: r.label_path.relative_to(tmp_path).parts[0] for r in records}
    assert dirs[ANNOTATED_INDEX] == "gtFine_sequence"
    assert dirs[3] == "gtFine"
    assert set(dirs.values()) == {"gtFine_sequence", "gtFine"}
    assert records[ANNOTATED_INDEX].load_labels()[0, 0] == 13  # car from gtFine_sequence
    assert records[3].load_labels()[0, 0] == 0  # road from gtFine


def test_load_image_returns_rgb(tmp_path: Path) -> None:
    bgr = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    bgr[2, 5] = (255, 10, 0)  # blue in BGR
    write_image(tmp_path, FrameId("c", 0, 0), bgr=bgr)
    rgb = next(CityscapesDataset(tmp_path).frames()).load_image()
    assert rgb.shape == (HEIGHT, WIDTH, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[2, 5]) == (0, 10, 255)
    assert tuple(rgb[0, 0]) == (0, 0, 0)


def test_load_labels_converts_label_ids_to_train_ids(tmp_path: Path) -> None:
    fid = FrameId("c", 0, 0)
    write_image(tmp_path, fid)
    label_ids = np.zeros((HEIGHT, WIDTH), np.uint8)
    label_ids[0, :] = 7  # road
    label_ids[1, :] = 26  # car
    write_labels(tmp_path, fid, "gtFine", label_ids=label_ids)
    train_ids = next(CityscapesDataset(tmp_path).frames()).load_labels()
    assert train_ids.shape == (HEIGHT, WIDTH) and train_ids.dtype == np.uint8
    assert set(train_ids[0]) == {0}
    assert set(train_ids[1]) == {13}
    assert set(train_ids[2:].ravel()) == {255}


def test_non_sequence_layout_groups_annotated_frames_by_city_and_seq(tmp_path: Path) -> None:
    for fid in (FrameId("c", 4, 19), FrameId("c", 4, 50), FrameId("c", 1, 19)):
        write_image(tmp_path, fid, image_dir="leftImg8bit", split="val")
        write_labels(tmp_path, fid, "gtFine", split="val")
    dataset = CityscapesDataset(tmp_path, "val")
    assert dataset.image_dir == "leftImg8bit"
    assert [(s.name, [r.fid.frame for r in s]) for s in dataset.sequences] == [
        ("c_000001", [19]), ("c_000004", [19, 50])]
    assert len(list(dataset.labelled_frames())) == 3


def test_splits_lists_split_folders_of_all_image_dirs(tmp_path: Path) -> None:
    write_image(tmp_path, FrameId("c", 0, 0), split="train")
    write_image(tmp_path, FrameId("c", 0, 0), image_dir="leftImg8bit", split="val")
    assert CityscapesDataset.splits(tmp_path) == ("train", "val")
    assert CityscapesDataset.splits(tmp_path / "nowhere") == ()


def test_missing_split_names_what_was_looked_for_and_what_exists(real_root: Path) -> None:
    with pytest.raises(DatasetError) as error:
        CityscapesDataset(real_root, "val")
    message = str(error.value)
    assert "leftImg8bit_sequence/val or leftImg8bit/val" in message
    assert str(real_root) in message
    assert "splits present: train" in message


def test_empty_split_raises(tmp_path: Path) -> None:
    split_dir = tmp_path / "leftImg8bit_sequence" / "train"
    (split_dir / "aachen").mkdir(parents=True)
    (split_dir / "aachen" / "notes.txt").write_text("no frames here")
    with pytest.raises(DatasetError, match="no .* frames under") as error:
        CityscapesDataset(tmp_path)
    assert str(split_dir) in str(error.value)


def test_corrupt_png_raises_naming_file(tmp_path: Path) -> None:
    fid = FrameId("c", 0, 0)
    bad_image = write_image(tmp_path, fid)
    bad_image.write_bytes(b"this is not a png")
    bad_labels = write_labels(tmp_path, fid, "gtFine")
    bad_labels.write_bytes(b"\x89PNG garbage")
    record = next(CityscapesDataset(tmp_path).frames())
    with pytest.raises(DatasetError) as image_error:
        record.load_image()
    assert str(bad_image) in str(image_error.value)
    with pytest.raises(DatasetError) as label_error:
        record.load_labels()
    assert str(bad_labels) in str(label_error.value)


def test_three_channel_label_file_raises_naming_file(tmp_path: Path) -> None:
    fid = FrameId("c", 0, 0)
    write_image(tmp_path, fid)
    colour_labels = write_labels(
        tmp_path, fid, "gtFine", label_ids=np.zeros((HEIGHT, WIDTH, 3), np.uint8))
    record = next(CityscapesDataset(tmp_path).frames())
    with pytest.raises(DatasetError, match="single-channel") as error:
        record.load_labels()
    assert str(colour_labels) in str(error.value)


def test_records_and_sequences_are_frozen(real_root: Path) -> None:
    sequence = CityscapesDataset(real_root).sequences[0]
    assert isinstance(sequence, Sequence) and isinstance(sequence.frames[0], FrameRecord)
    with pytest.raises(AttributeError):
        sequence.frames[0].label_path = None  # type: ignore[misc]
    assert list(sequence) == list(sequence.frames)
