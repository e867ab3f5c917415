"""Type-check the TensorRT backend against `tensorrt-stubs` with mypy.

TensorRT cannot be installed without NVIDIA's package index, so the calls our backend makes
into it (names, argument counts and types, enum members) are checked against the stubs
instead. ``make setup`` installs the stubs into ``.venv/typing`` (see requirements-typing.txt).

The published stubs (10.13.0.35.1) are not valid Python in three places; this tool copies them
into a temporary directory, repairs exactly those, and runs mypy with the copy on MYPYPATH:

* parameters named ``in`` (a keyword) become ``in_``;
* ``add_scale_nd(..., channel_axis: int)`` follows parameters with defaults: it gets ``= ...``;
* ``import tensorrt_libs`` (NVIDIA's library wheel, not stubbed) is dropped.

Errors inside the stubs themselves are not reported (``ignore_errors`` for their modules; e.g.
they define a module-level ``bool`` that shadows the builtin in their own annotations, which
makes those return types Any); every error in the checked files is. Exit status: mypy's (0 = clean).

    .venv/bin/python tools/typecheck_tensorrt.py [FILE ...]   (default: the TensorRT files)
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STUBS = ROOT / ".venv" / "typing"
CHECKED = (
    "vsseg_core/runtime/tensorrt_backend.py",
    "vsseg_core/runtime/engine_cache.py",
    "vsseg_core/runtime/engine_bindings.py",
    "vsseg_core/runtime/int8_batches.py",
    "vsseg_core/cli/build_engine.py",
)
PACKAGES = ("tensorrt", "tensorrt_bindings")
REPAIRS = (
    (re.compile(r"(?<=[(,\s])in(?=: )"), "in_"),
    (re.compile(r"(channel_axis: int)\)"), r"\1 = ...)"),
    (re.compile(r"^import tensorrt_libs.*$", re.MULTILINE), ""),
)
MYPY_CONFIG = """[mypy]
python_version = 3.11
follow_imports = silent
disallow_untyped_defs = True
disallow_incomplete_defs = True
warn_unused_ignores = True
warn_redundant_casts = True
strict_equality = True

[mypy-tensorrt.*,tensorrt_bindings.*]
ignore_errors = True
"""


def repaired_stubs(stubs: Path, out: Path) -> Path:
    """Copy the tensorrt stub packages from ``stubs`` to ``out`` with the repairs applied;
    SystemExit naming the file and line if a copy still does not parse."""
    for package in PACKAGES:
        source = stubs / package
        if not source.is_dir():
            raise SystemExit(f"typecheck: {source} is missing; run `make setup` (it installs "
                             "requirements-typing.txt into .venv/typing)")
        shutil.copytree(source, out / package)
        for stub in (out / package).glob("*.pyi"):
            text = stub.read_text()
            for pattern, replacement in REPAIRS:
                text = pattern.sub(replacement, text)
            try:
                ast.parse(text)
            except SyntaxError as exc:
                raise SystemExit(f"typecheck: {stub.relative_to(out)} line {exc.lineno} still does "
                                 f"not parse after the repairs ({exc.msg}); the stubs changed, "
                                 "update REPAIRS in this tool") from exc
            stub.write_text(text)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="files to check (default: the TensorRT files)")
    parser.add_argument("--stubs", type=Path, default=DEFAULT_STUBS,
                        help="directory holding the installed tensorrt-stubs (default: .venv/typing)")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".mypy_cache",
                        help="mypy's cache (default: .mypy_cache at the repository root)")
    args = parser.parse_args(argv)
    files = [str(f) for f in args.files] or [str(ROOT / f) for f in CHECKED]
    with tempfile.TemporaryDirectory(prefix="vsseg-stubs-") as tmp:
        stubs = repaired_stubs(args.stubs, Path(tmp) / "stubs")
        config = Path(tmp) / "mypy.ini"
        config.write_text(MYPY_CONFIG)
        command = [sys.executable, "-m", "mypy", "--config-file", str(config),
                   "--cache-dir", str(args.cache_dir), *files]
        result = subprocess.run(command, cwd=ROOT, env={**os.environ, "MYPYPATH": str(stubs)},
                                check=False)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
