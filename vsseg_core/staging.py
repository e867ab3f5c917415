"""Write outputs so that they appear complete or not at all, and refuse unusable output paths
before the work that fills them.

A directory is written into a hidden staging directory beside the target, which replaces the
target only when the block finishes; an error or Ctrl-C removes the staging directory and leaves
any previous target untouched. A file is written the same way through a temporary file.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vsseg_core.errors import VssegError


class OutputError(VssegError, ValueError):
    """An output path cannot be used; the message says what to do."""


def check_output_directory(out_dir: str | Path, *, overwrite: bool) -> None:
    """Raise OutputError unless ``staged_directory`` can write ``out_dir``: not a file, empty or
    ``overwrite``, and not holding the current directory (which replacing it would delete).
    Commands that write it only after long work call this first."""
    out_dir = Path(out_dir)
    if Path.cwd().resolve().is_relative_to(out_dir.resolve()):
        raise OutputError(f"{out_dir} holds the current directory, which would be replaced; "
                          "choose a new directory")
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir} exists and is not a directory; choose another path")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise OutputError(f"{out_dir} is not empty; pass --overwrite to replace it or choose another path")
    _check_can_create(out_dir)


@contextmanager
def staged_directory(out_dir: str | Path, *, overwrite: bool) -> Iterator[Path]:
    """Yield an empty staging directory that becomes ``out_dir`` when the block succeeds.

    Raises OutputError when ``check_output_directory`` refuses ``out_dir`` or its parent cannot
    be written.
    """
    out_dir = Path(out_dir)
    check_output_directory(out_dir, overwrite=overwrite)
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


def check_output_file(path: str | Path) -> None:
    """Raise OutputError unless a file can be written at ``path``: it is not a directory and its
    nearest existing ancestor is a writable directory. Commands call this before their long work,
    so a bad output path fails at once instead of after it."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path} is a directory; give a file path")
    _check_can_create(path)


def _check_can_create(path: Path) -> None:
    """Raise OutputError unless the nearest existing ancestor of ``path`` is a writable directory."""
    ancestor = path.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"{ancestor} is a file, so {path} cannot be created; choose another path")
    if not os.access(ancestor, os.W_OK):
        raise OutputError(f"{ancestor} is not writable, so {path} cannot be created; "
                          "choose another path")


@contextmanager
def replacing_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` that replaces ``path`` when the block succeeds, so
    readers never see half a file; on any error the temporary file is removed. Raises OutputError
    naming the file if it cannot be written."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        tmp.replace(path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}; choose a writable path") from exc
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass  # its folder could not be created: there is nothing to remove


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` via a temporary file beside ``path`` (``replacing_file``)."""
    with replacing_file(path) as tmp:
        tmp.write_text(text)
