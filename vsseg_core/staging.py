"""Write a directory so that it appears complete or not at all.

Everything is written into a hidden staging directory beside the target, which replaces the
target only when the block finishes; an error or Ctrl-C removes the staging directory and leaves
any previous target untouched.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vsseg_core.errors import VssegError


class OutputError(VssegError, ValueError):
    """An output directory cannot be used; the message says what to do."""


@contextmanager
def staged_directory(out_dir: str | Path, *, overwrite: bool) -> Iterator[Path]:
    """Yield an empty staging directory that becomes ``out_dir`` when the block succeeds.

    Raises OutputError when ``out_dir`` is a file, is non-empty without ``overwrite``, or its
    parent cannot be written.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir} exists and is not a directory; choose another --out")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise OutputError(f"{out_dir} is not empty; pass --overwrite to replace it or choose another --out")
    staging = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir()
    except OSError as exc:
        raise OutputError(f"cannot write under {out_dir.parent}: {exc.strerror or exc}; "
                          "choose a writable --out") from exc
    try:
        yield staging
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` via a temporary file beside ``path``, so readers never see half of it.
    Raises OutputError naming the file if it cannot be written."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}; choose a writable path") from exc
