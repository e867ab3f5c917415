"""Contact sheet: frames beside their coloured labels, for a person to look at."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vsseg_core.labels import colorize, label_ids_to_train_ids


def contact_sheet(rows: list[tuple[str, np.ndarray, np.ndarray]], tile_width: int = 512) -> np.ndarray:
    """One row per (caption, RGB (H, W, 3) uint8, labelIds (H, W) uint8): the frame, its
    coloured labels and a 50% overlay side by side. Returns an RGB uint8 image."""
    if not rows:
        raise ValueError("contact_sheet needs at least one frame")
    lines = []
    for caption, rgb, label_ids in rows:
        height = int(round(rgb.shape[0] * tile_width / rgb.shape[1]))
        small = cv2.resize(rgb, (tile_width, height), interpolation=cv2.INTER_AREA)
        color = cv2.resize(colorize(label_ids_to_train_ids(label_ids)), (tile_width, height),
                           interpolation=cv2.INTER_NEAREST)
        overlay = (small.astype(np.uint16) + color) // 2
        line = np.concatenate([small, color, overlay.astype(np.uint8)], axis=1)
        cv2.putText(line, caption, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 2,
                    cv2.LINE_AA)
        cv2.putText(line, caption, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1,
                    cv2.LINE_AA)
        lines.append(line)
    return np.concatenate(lines, axis=0)


def write_png_atomic(path: str | Path, rgb: np.ndarray) -> None:
    """Write an RGB image as PNG via a temporary file, so readers never see half a file."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"{path}: the preview must be a .png file")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial.png")
    if not cv2.imwrite(str(tmp), np.ascontiguousarray(rgb[..., ::-1])):
        raise OSError(f"could not write {path}")
    tmp.replace(path)
