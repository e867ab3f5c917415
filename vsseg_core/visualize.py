"""Pictures for people: colour overlays and contact sheets (write them with
``vsseg_core.image_io.write_png_atomic``)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from vsseg_core.labels import colorize


def overlay(rgb: np.ndarray, train_ids: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend the Cityscapes colours of ``train_ids`` (H, W) over ``rgb`` (H, W, 3) uint8."""
    mixed = (1 - alpha) * rgb.astype(np.float32) + alpha * colorize(train_ids).astype(np.float32)
    return mixed.astype(np.uint8)


def contact_sheet(rows: Sequence[tuple[str, Sequence[np.ndarray]]], tile_width: int = 512) -> np.ndarray:
    """One row per (caption, panels): RGB (H, W, 3) uint8 panels side by side, each scaled to
    ``tile_width`` pixels wide; the caption is drawn on the first panel. Returns RGB uint8."""
    if not rows:
        raise ValueError("contact_sheet needs at least one row")
    lines = []
    for caption, panels in rows:
        height = int(round(panels[0].shape[0] * tile_width / panels[0].shape[1]))
        tiles = [cv2.resize(p, (tile_width, height), interpolation=cv2.INTER_AREA) for p in panels]
        line = np.concatenate(tiles, axis=1)
        for color, thickness in (((255, 255, 255), 2), ((0, 0, 0), 1)):
            cv2.putText(line, caption, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, thickness,
                        cv2.LINE_AA)
        lines.append(line)
    width = max(line.shape[1] for line in lines)
    lines = [np.pad(line, ((0, 0), (0, width - line.shape[1]), (0, 0))) for line in lines]
    return np.concatenate(lines, axis=0)
