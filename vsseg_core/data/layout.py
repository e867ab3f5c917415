"""Cityscapes directory and file naming, in one place for writers and readers.

Layout under a dataset root::

    leftImg8bit_sequence/{split}/{city}/{city}_{seq:06d}_{frame:06d}_leftImg8bit.png
    gtFine_sequence/{split}/{city}/{city}_{seq:06d}_{frame:06d}_gtFine_labelIds.png
    leftImg8bit/{split}/{city}/...        (annotated frames only; real Cityscapes)
    gtFine/{split}/{city}/...             (annotated frames only)

Real Cityscapes snippets have 30 frames; the annotated one has index 19 within its snippet.
``gtFine_sequence`` (a label for every frame) is what ``vsseg synth`` adds; readers fall back
to ``gtFine`` for frames that have no sequence label.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

IMAGE_DIRS = ("leftImg8bit_sequence", "leftImg8bit")
"""Image folders, most complete first: a reader uses the first one that exists."""
LABEL_DIRS = ("gtFine_sequence", "gtFine")
"""Label folders, most complete first."""
IMAGE_SUFFIX = "_leftImg8bit.png"
LABEL_SUFFIX = "_gtFine_labelIds.png"
SNIPPET_LENGTH = 30
ANNOTATED_INDEX = 19
"""Index of the annotated frame within a 30-frame Cityscapes snippet."""

_STEM_RE = re.compile(r"^(?P<city>.+)_(?P<seq>\d{6})_(?P<frame>\d{6})$")


@dataclass(frozen=True, order=True)
class FrameId:
    """Identity of one frame: city, sequence number and frame number."""

    city: str
    seq: int
    frame: int

    @property
    def stem(self) -> str:
        """``{city}_{seq:06d}_{frame:06d}``, the name shared by an image and its labels."""
        return f"{self.city}_{self.seq:06d}_{self.frame:06d}"

    @classmethod
    def parse(cls, file_name: str, suffix: str) -> "FrameId | None":
        """Parse a file name ending in ``suffix``; None when it does not follow the layout."""
        if not file_name.endswith(suffix):
            return None
        match = _STEM_RE.match(file_name[: -len(suffix)])
        if match is None:
            return None
        return cls(match["city"], int(match["seq"]), int(match["frame"]))


def image_path(root: Path, image_dir: str, split: str, fid: FrameId) -> Path:
    """Path of the RGB image of ``fid`` under ``root/image_dir/split``."""
    return Path(root) / image_dir / split / fid.city / f"{fid.stem}{IMAGE_SUFFIX}"


def label_path(root: Path, label_dir: str, split: str, fid: FrameId) -> Path:
    """Path of the labelIds PNG of ``fid`` under ``root/label_dir/split``."""
    return Path(root) / label_dir / split / fid.city / f"{fid.stem}{LABEL_SUFFIX}"
