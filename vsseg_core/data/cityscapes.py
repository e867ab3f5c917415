"""Read a dataset in the Cityscapes layout: real Cityscapes or ``vsseg synth`` output.

Frames are found under the first existing folder of ``IMAGE_DIRS``; each frame's labels come
from the first of ``LABEL_DIRS`` that has them (``gtFine_sequence`` for every frame when the
synthetic generator wrote it, else ``gtFine``, which real Cityscapes has only for the frame at
``ANNOTATED_INDEX`` of each snippet). Frames are grouped into sequences by (city, seq).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vsseg_core.data.layout import IMAGE_DIRS, IMAGE_SUFFIX, LABEL_DIRS, FrameId, label_path
from vsseg_core.errors import VssegError
from vsseg_core.labels import label_ids_to_train_ids


CITYSCAPES_FPS = 17.0
"""Frame rate of Cityscapes sequences (and the default when synth.json does not say)."""


def dataset_fps(root: str | Path) -> float:
    """Frames per second of a dataset: synth.json's fps for `vsseg synth` output, else 17."""
    manifest = Path(root) / "synth.json"
    if manifest.is_file():
        return float(json.loads(manifest.read_text()).get("config", {}).get("fps", CITYSCAPES_FPS))
    return CITYSCAPES_FPS


class DatasetError(VssegError, ValueError):
    """A dataset folder or file is missing, empty or unreadable."""


def _read_png(path: Path, flags: int) -> np.ndarray:
    """``cv2.imread(path, flags)``, raising DatasetError instead of returning None."""
    pixels = cv2.imread(str(path), flags)
    if pixels is None:
        raise DatasetError(f"cannot read image {path}: file is missing, corrupt or not an image")
    return pixels


@dataclass(frozen=True)
class FrameRecord:
    """One frame on disk: its id, RGB image file and labelIds file (None when unlabelled)."""

    fid: FrameId
    image_path: Path
    label_path: Path | None

    def load_image(self) -> np.ndarray:
        """The image as (H, W, 3) uint8 RGB."""
        bgr = _read_png(self.image_path, cv2.IMREAD_COLOR)
        if bgr.dtype != np.uint8:
            raise DatasetError(f"image {self.image_path} is {bgr.dtype}; expected 8-bit RGB")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def load_labels(self) -> np.ndarray | None:
        """The labels as (H, W) uint8 trainIds (255 = ignore), or None when unlabelled."""
        if self.label_path is None:
            return None
        label_ids = _read_png(self.label_path, cv2.IMREAD_UNCHANGED)
        if label_ids.ndim != 2 or label_ids.dtype != np.uint8:
            raise DatasetError(
                f"label file {self.label_path} has shape {label_ids.shape} {label_ids.dtype}; "
                "expected a single-channel 8-bit labelIds PNG (*_gtFine_labelIds.png)"
            )
        return label_ids_to_train_ids(label_ids)


@dataclass(frozen=True)
class Sequence:
    """The frames of one (city, seq) in one split, ordered by frame number."""

    city: str
    seq: int
    split: str
    frames: tuple[FrameRecord, ...]

    @property
    def name(self) -> str:
        """``{city}_{seq:06d}``."""
        return f"{self.city}_{self.seq:06d}"

    def __len__(self) -> int:
        return len(self.frames)

    def __iter__(self) -> Iterator[FrameRecord]:
        return iter(self.frames)


class CityscapesDataset:
    """All frames of one split under ``root``, grouped into sequences sorted by (city, seq)."""

    def __init__(self, root: str | Path, split: str = "train") -> None:
        self.root = Path(root)
        self.split = split
        self.image_dir = self._find_image_dir()
        records = sorted(self._scan_frames(), key=lambda record: record.fid)
        if not records:
            raise DatasetError(
                f"no *{IMAGE_SUFFIX} frames under {self.root / self.image_dir / split}/<city>/; "
                "check the dataset root and split"
            )
        self._sequences = tuple(
            Sequence(city, seq, split, tuple(frames))
            for (city, seq), frames in itertools.groupby(
                records, key=lambda record: (record.fid.city, record.fid.seq)
            )
        )

    @staticmethod
    def splits(root: str | Path) -> tuple[str, ...]:
        """Split names (e.g. 'train', 'val') that have a folder under any of ``IMAGE_DIRS``."""
        return tuple(
            sorted(
                {
                    split_dir.name
                    for image_dir in IMAGE_DIRS
                    if (Path(root) / image_dir).is_dir()
                    for split_dir in (Path(root) / image_dir).iterdir()
                    if split_dir.is_dir()
                }
            )
        )

    @property
    def sequences(self) -> tuple[Sequence, ...]:
        """Sequences sorted by (city, seq)."""
        return self._sequences

    def __len__(self) -> int:
        """Number of frames."""
        return sum(len(sequence) for sequence in self._sequences)

    def frames(self) -> Iterator[FrameRecord]:
        """Every frame, sequence by sequence, each sequence in frame order."""
        for sequence in self._sequences:
            yield from sequence

    def labelled_frames(self) -> Iterator[FrameRecord]:
        """The frames that have a labels file, in the order of ``frames()``."""
        return (record for record in self.frames() if record.label_path is not None)

    def _find_image_dir(self) -> str:
        """The first of ``IMAGE_DIRS`` that has a folder for this split."""
        if not self.root.is_dir():
            raise DatasetError(f"dataset {self.root} does not exist or is not a directory; pass a "
                               "Cityscapes-layout root (e.g. written by `vsseg synth`)")
        for image_dir in IMAGE_DIRS:
            if (self.root / image_dir / self.split).is_dir():
                return image_dir
        looked_for = " or ".join(f"{image_dir}/{self.split}" for image_dir in IMAGE_DIRS)
        present = ", ".join(self.splits(self.root)) or "none"
        raise DatasetError(f"no {looked_for} under {self.root}; splits present: {present}")

    def _scan_frames(self) -> Iterator[FrameRecord]:
        """A record for every file named like a frame in ``<image_dir>/<split>/<city>/``."""
        for city_dir in (self.root / self.image_dir / self.split).iterdir():
            if not city_dir.is_dir():
                continue
            for image_file in city_dir.iterdir():
                fid = FrameId.parse(image_file.name, IMAGE_SUFFIX)
                if fid is not None:
                    yield FrameRecord(fid, image_file, self._find_label(fid))

    def _find_label(self, fid: FrameId) -> Path | None:
        """The labelIds file of ``fid`` in the first of ``LABEL_DIRS`` that has one."""
        candidates = (label_path(self.root, d, self.split, fid) for d in LABEL_DIRS)
        return next((path for path in candidates if path.is_file()), None)
