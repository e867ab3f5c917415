"""Writing PNG files: one place for channel order, parent folders and write errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vsseg_core.staging import OutputError, replacing_file


def write_png(path: str | Path, pixels: np.ndarray) -> None:
    """Write (H, W) grey or (H, W, 3) RGB uint8 ``pixels`` as PNG, creating parent folders.

    Raises OutputError naming the file when it cannot be written.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the folder of {path}: {exc.strerror or exc}; "
                          "choose a writable path") from exc
    data = pixels[..., ::-1] if pixels.ndim == 3 else pixels
    if not cv2.imwrite(str(path), np.ascontiguousarray(data)):
        raise OutputError(f"could not write {path}; check free space and permissions")


def write_png_atomic(path: str | Path, pixels: np.ndarray) -> None:
    """``write_png`` via a temporary file, so readers never see half a picture."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"{path}: pictures are written as .png files")
    with replacing_file(path) as tmp:
        write_png(tmp, pixels)
