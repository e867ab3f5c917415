"""`vsseg synth` writes the Cityscapes layout that every reader in the project expects."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from vsseg_core.data.cityscapes import CityscapesDataset
from vsseg_core.data.layout import (
    ANNOTATED_INDEX, IMAGE_SUFFIX, LABEL_SUFFIX, SNIPPET_LENGTH, FrameId,
)
from vsseg_core.labels import VALID_LABEL_IDS


def check_synth_layout(root: Path, *, split: str, city: str, sequences: int, frames: int,
                       size: tuple[int, int]) -> None:
    """Assert the complete file set, image and label formats, and the gtFine mirror."""
    expected = {FrameId(city, s, f).stem for s in range(sequences) for f in range(frames)}
    image_dir = root / "leftImg8bit_sequence" / split / city
    label_dir = root / "gtFine_sequence" / split / city
    mirror_dir = root / "gtFine" / split / city
    assert {p.name for p in image_dir.iterdir()} == {s + IMAGE_SUFFIX for s in expected}
    assert {p.name for p in label_dir.iterdir()} == {s + LABEL_SUFFIX for s in expected}
    mirrored = {FrameId(city, s, f).stem for s in range(sequences) for f in range(frames)
                if f % SNIPPET_LENGTH == ANNOTATED_INDEX}
    assert {p.name for p in mirror_dir.iterdir()} == {s + LABEL_SUFFIX for s in mirrored}
    for stem in sorted(expected):
        image = cv2.imread(str(image_dir / (stem + IMAGE_SUFFIX)), cv2.IMREAD_UNCHANGED)
        labels = cv2.imread(str(label_dir / (stem + LABEL_SUFFIX)), cv2.IMREAD_UNCHANGED)
        assert image.shape == (*size, 3) and image.dtype == np.uint8, stem
        assert labels.shape == size and labels.dtype == np.uint8, stem
        assert set(np.unique(labels).tolist()) <= VALID_LABEL_IDS, stem
    for stem in mirrored:
        mirror = (mirror_dir / (stem + LABEL_SUFFIX)).read_bytes()
        assert mirror == (label_dir / (stem + LABEL_SUFFIX)).read_bytes(), stem


def test_spec_dataset_has_the_cityscapes_layout(spec_dataset: tuple[Path, Path]) -> None:
    root, _ = spec_dataset
    check_synth_layout(root, split="train", city="synth", sequences=2, frames=30, size=(256, 512))
    manifest = json.loads((root / "synth.json").read_text())
    assert manifest["config"]["seed"] == 7 and manifest["frames"] == 60
    assert not list(root.parent.glob(".*partial*")), "staging directory left behind"


def test_reader_reads_generated_sequences_in_order(spec_dataset: tuple[Path, Path]) -> None:
    dataset = CityscapesDataset(spec_dataset[0], "train")
    assert [s.name for s in dataset.sequences] == ["synth_000000", "synth_000001"]
    for sequence in dataset.sequences:
        assert [r.fid.frame for r in sequence] == list(range(30))
        assert all(r.label_path is not None and r.label_path.parent.parent.parent.name ==
                   "gtFine_sequence" for r in sequence)
    record = dataset.sequences[1].frames[ANNOTATED_INDEX]
    assert record.load_image().shape == (256, 512, 3)
    train_ids = record.load_labels()
    assert train_ids is not None and train_ids.max() == 255  # the ego hood is ignored
    assert len(np.unique(train_ids)) >= 6


def test_preview_is_a_contact_sheet(spec_dataset: tuple[Path, Path]) -> None:
    _, preview = spec_dataset
    sheet = cv2.imread(str(preview), cv2.IMREAD_COLOR)
    assert sheet is not None
    # 2 sequences x 4 frames, each row: frame | colour labels | overlay, 512 px wide tiles
    assert sheet.shape == (8 * 256, 3 * 512, 3)
