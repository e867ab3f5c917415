"""Where ``vsseg segment --input PATH`` gets its frames.

``open_frames(PATH)`` accepts:

* a Cityscapes-layout root (has ``leftImg8bit_sequence/`` or ``leftImg8bit/``): every split,
  every sequence in frame order, with ground-truth trainIds where labels exist;
* a folder of images (.png .jpg .jpeg .bmp), in natural order (frame2 before frame10);
* a video file (.mp4 .avi .mkv .mov .webm);
* a single image file.

Frames are decoded lazily, one at a time, while iterating.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vsseg_core.data.cityscapes import CITYSCAPES_FPS, CityscapesDataset, dataset_fps
from vsseg_core.data.layout import IMAGE_DIRS
from vsseg_core.errors import VssegError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm")
_CITYSCAPES_TAG = "_leftImg8bit"


class SourceError(VssegError, ValueError):
    """An input path cannot be used as a frame source (missing, empty, unreadable, wrong type)."""


@dataclass(frozen=True)
class InputFrame:
    """One input frame.

    ``rgb`` is (H, W, 3) uint8 RGB; ``labels`` is (H, W) uint8 trainIds (255 = ignore) when
    ground truth exists, else None. Frames of one ``sequence`` are consecutive in a stream;
    ``index`` is the 0-based position in the whole stream; ``stem`` names output files.
    """

    stem: str
    rgb: np.ndarray
    labels: np.ndarray | None
    sequence: str
    index: int


def natural_key(name: str) -> tuple[tuple[str | int, ...], str]:
    """Sort key putting 'frame2' before 'frame10' (case-insensitive, ties by exact name)."""
    parts = re.split(r"(\d+)", name.lower())
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts)), name


def _image_stem(path: Path) -> str:
    """File name without extension and without a trailing ``_leftImg8bit``."""
    stem = path.stem
    return stem[: -len(_CITYSCAPES_TAG)] if stem.endswith(_CITYSCAPES_TAG) else stem


def read_image(path: Path) -> np.ndarray:
    """Decode an 8-bit image file to (H, W, 3) uint8 RGB (grey replicated, alpha dropped)."""
    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise SourceError(f"{path} is not a readable image (corrupt or unsupported format); "
                          "replace it or remove it from the input")
    if pixels.dtype != np.uint8:
        raise SourceError(
            f"{path} is a {pixels.dtype} image (e.g. 16-bit); convert it to 8-bit RGB first"
        )
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if pixels.ndim == 2:
        return np.repeat(pixels[:, :, None], 3, axis=2)
    if pixels.shape[2] == 4:
        return cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGB)
    if pixels.shape[2] == 3:
        return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    raise SourceError(f"{path} has {pixels.shape[2]} channels; expected grey, RGB or RGBA")


class FrameSource:
    """A stream of ``InputFrame``; ``kind`` is "cityscapes", "images", "video" or "image".

    ``len()`` is the number of frames; for a video it is the container's frame count
    (``CAP_PROP_FRAME_COUNT``), an estimate that may differ from the frames actually decoded.
    ``fps``: frames per second of the stream (the container's for a video, synth.json's or
    Cityscapes' 17 for a dataset, 17 for image files).
    """

    def __init__(self, kind: str, path: Path) -> None:
        self.kind = kind
        self.path = path
        self._datasets: tuple[CityscapesDataset, ...] = ()
        self._files: tuple[Path, ...] = ()
        self._video_frames = 0
        self.fps = CITYSCAPES_FPS
        if kind == "cityscapes":
            splits = CityscapesDataset.splits(path)
            if not splits:
                dirs = " or ".join(f"{d}/<split>/" for d in IMAGE_DIRS)
                raise SourceError(f"no {dirs} folder under Cityscapes root {path}")
            self._datasets = tuple(CityscapesDataset(path, split) for split in splits)
            self.fps = dataset_fps(path)
        elif kind == "images":
            self._files = tuple(
                sorted(
                    (p for p in path.iterdir()
                     if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS),
                    key=lambda p: natural_key(p.name),
                )
            )
            if not self._files:
                raise SourceError(f"no .png/.jpg/.jpeg/.bmp images in {path}")
        elif kind == "image":
            self._files = (path,)
        elif kind == "video":
            capture = cv2.VideoCapture(str(path))
            try:
                if not capture.isOpened() or not capture.read()[0]:
                    raise SourceError(
                        f"cannot read video {path}: not openable or no decodable frame; "
                        "check the file or convert it (e.g. to MJPG .avi or H.264 .mp4)"
                    )
                self._video_frames = max(1, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)))
                fps = capture.get(cv2.CAP_PROP_FPS)
                self.fps = float(fps) if fps and fps > 0 else CITYSCAPES_FPS
            finally:
                capture.release()
        else:
            raise ValueError(f"unknown source kind {kind!r}")

    def __len__(self) -> int:
        if self.kind == "cityscapes":
            return sum(len(dataset) for dataset in self._datasets)
        if self.kind == "video":
            return self._video_frames
        return len(self._files)

    def __iter__(self) -> Iterator[InputFrame]:
        if self.kind == "cityscapes":
            return self._iter_cityscapes()
        if self.kind == "video":
            return self._iter_video()
        return self._iter_files()

    def _iter_cityscapes(self) -> Iterator[InputFrame]:
        index = 0
        for dataset in self._datasets:
            for sequence in dataset.sequences:
                name = f"{dataset.split}/{sequence.name}"
                for record in sequence:
                    rgb, labels = record.load_image(), record.load_labels()
                    yield InputFrame(record.fid.stem, rgb, labels, name, index)
                    index += 1

    def _iter_files(self) -> Iterator[InputFrame]:
        sequence = self.path.name if self.kind == "images" else _image_stem(self.path)
        for index, file in enumerate(self._files):
            yield InputFrame(_image_stem(file), read_image(file), None, sequence, index)

    def _iter_video(self) -> Iterator[InputFrame]:
        capture = cv2.VideoCapture(str(self.path))
        stem = self.path.stem
        try:
            index = 0
            while True:
                ok, bgr = capture.read()
                if not ok:
                    break
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                yield InputFrame(f"{stem}_{index:06d}", rgb, None, stem, index)
                index += 1
        finally:
            capture.release()
        if index == 0:
            raise SourceError(f"video {self.path} yielded no frame; check or re-encode the file")


def open_frames(path: str | Path) -> FrameSource:
    """Open ``path`` (Cityscapes root, image folder, video or image) as a ``FrameSource``."""
    path = Path(path)
    if not path.exists():
        raise SourceError(f"input {path} does not exist")
    if path.is_dir():
        if any((path / image_dir).is_dir() for image_dir in IMAGE_DIRS):
            return FrameSource("cityscapes", path)
        return FrameSource("images", path)
    suffix = path.suffix.lower()
    if suffix in VIDEO_EXTENSIONS:
        return FrameSource("video", path)
    if suffix in IMAGE_EXTENSIONS:
        return FrameSource("image", path)
    raise SourceError(
        f"input {path} is not a supported type; give a Cityscapes root folder, a folder of "
        f"images ({' '.join(IMAGE_EXTENSIONS)}), an image file, or a video file "
        f"({' '.join(VIDEO_EXTENSIONS)})"
    )
