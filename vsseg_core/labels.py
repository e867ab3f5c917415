"""Cityscapes label conventions, taken from ``cityscapesscripts`` (never retyped).

Three id spaces appear in this project:

* **labelIds** (0..33, ``-1`` for license plate): what Cityscapes ``*_gtFine_labelIds.png`` hold.
* **trainIds** (0..18, 255 = ignore): what the network predicts and what ``/semantic_mask``
  carries.
* colours (RGB uint8): the Cityscapes palette, used for every colour view.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from cityscapesscripts.helpers import labels as _cs

IGNORE_ID = 255
"""trainId of pixels that are not evaluated (void classes, ego vehicle, out of image)."""


@dataclass(frozen=True)
class TrainClass:
    """One of the 19 evaluated Cityscapes classes."""

    train_id: int
    label_id: int
    name: str
    color: tuple[int, int, int]


TRAIN_CLASSES: tuple[TrainClass, ...] = tuple(
    sorted(
        (
            TrainClass(lab.trainId, lab.id, lab.name, tuple(lab.color))
            for lab in _cs.labels
            if 0 <= lab.trainId < IGNORE_ID
        ),
        key=lambda c: c.train_id,
    )
)
NUM_CLASSES = len(TRAIN_CLASSES)
CLASS_NAMES: tuple[str, ...] = tuple(c.name for c in TRAIN_CLASSES)

LABEL_ID_BY_NAME: dict[str, int] = {lab.name: lab.id for lab in _cs.labels if lab.id >= 0}
"""Cityscapes labelId for every named label (including void ones such as 'ego vehicle')."""

VALID_LABEL_IDS: frozenset[int] = frozenset(LABEL_ID_BY_NAME.values())


def _label_to_train_lut() -> np.ndarray:
    lut = np.full(256, IGNORE_ID, dtype=np.uint8)
    for lab in _cs.labels:
        if 0 <= lab.id < 256 and 0 <= lab.trainId < IGNORE_ID:
            lut[lab.id] = lab.trainId
    return lut


def _train_to_label_lut() -> np.ndarray:
    lut = np.zeros(256, dtype=np.uint8)  # ignore -> labelId 0 'unlabeled'
    for c in TRAIN_CLASSES:
        lut[c.train_id] = c.label_id
    return lut


def _train_to_color_lut() -> np.ndarray:
    lut = np.zeros((256, 3), dtype=np.uint8)  # ignore and unknown -> black
    for c in TRAIN_CLASSES:
        lut[c.train_id] = c.color
    return lut


LABEL_TO_TRAIN = _label_to_train_lut()
TRAIN_TO_LABEL = _train_to_label_lut()
TRAIN_TO_COLOR = _train_to_color_lut()
for _lut in (LABEL_TO_TRAIN, TRAIN_TO_LABEL, TRAIN_TO_COLOR):
    _lut.setflags(write=False)


def label_ids_to_train_ids(label_ids: np.ndarray) -> np.ndarray:
    """Map a Cityscapes labelId image (H, W) uint8 to trainIds (H, W) uint8, 255 = ignore."""
    return LABEL_TO_TRAIN[np.asarray(label_ids, dtype=np.uint8)]


def train_ids_to_label_ids(train_ids: np.ndarray) -> np.ndarray:
    """Map trainIds (H, W) uint8 to Cityscapes labelIds (H, W) uint8; 255 -> 0 'unlabeled'."""
    return TRAIN_TO_LABEL[np.asarray(train_ids, dtype=np.uint8)]


def colorize(train_ids: np.ndarray) -> np.ndarray:
    """Colour a trainId image (H, W) uint8 with the Cityscapes palette -> (H, W, 3) uint8 RGB."""
    return TRAIN_TO_COLOR[np.asarray(train_ids, dtype=np.uint8)]


def format_table() -> str:
    """The trainId table as aligned text: trainId, labelId, name, RGB colour."""
    rows = [f"{'trainId':>7}  {'labelId':>7}  {'name':<14} color (RGB)"]
    rows += [
        f"{c.train_id:>7}  {c.label_id:>7}  {c.name:<14} {c.color}" for c in TRAIN_CLASSES
    ]
    rows.append(f"{IGNORE_ID:>7}  {'-':>7}  {'ignore':<14} (0, 0, 0)  void labelIds, not evaluated")
    return "\n".join(rows)
