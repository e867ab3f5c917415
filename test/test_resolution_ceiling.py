"""benchmarks/resolution_ceiling.py on a real generated dataset: the labels seen through a
stride-1 grid are the labels, and coarser grids lose what the documented ceiling says they lose."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "resolution_ceiling.py"


def run_script(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True,
                          text=True, timeout=300, check=False)


def test_ceiling_falls_with_the_stride_and_is_exact_at_stride_one(spec_dataset) -> None:
    result = run_script("--data", spec_dataset[0], "--split", "train", "--strides", "1", "4", "16",
                        "--every", "10")
    assert result.returncode == 0, result.stderr
    assert "6 frames at 256x512" in result.stdout
    row = re.search(r"\| \*\*mIoU\*\* \| (.*) \|", result.stdout)
    assert row is not None, result.stdout
    miou = [float(v.strip("* ")) for v in row.group(1).split("|")]
    assert miou[0] == 100.0
    assert miou[0] > miou[1] > miou[2]
    pole = re.search(r"\| pole \| (.*) \|", result.stdout)
    assert pole is not None
    pole_iou = [float(v) for v in pole.group(1).split("|")]
    assert pole_iou[0] == 100.0 and pole_iou[2] < 50.0  # thin poles vanish on a stride-16 grid


def test_grid_view_keeps_large_regions() -> None:
    spec = importlib.util.spec_from_file_location("resolution_ceiling", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)  # defines functions; main() runs only as a script
    seen_through_grid = script.seen_through_grid
    labels = np.zeros((64, 128), np.uint8)
    labels[:, 64:] = 10  # sky on the right half
    labels[:8] = 255  # ignored rows are not a class
    view = seen_through_grid(labels, 16)
    assert view.dtype == np.uint8 and view.shape == labels.shape
    assert (view[8:, :56] == 0).all() and (view[8:, 72:] == 10).all()


@pytest.mark.parametrize("args, code, named", [
    (["--strides", "0"], 2, "--strides and --every must be >= 1"),
    (["--strides", "7"], 1, "do not divide by stride 7"),
    (["--split", "nope"], 1, "no leftImg8bit"),
])
def test_bad_input_is_one_clear_line(spec_dataset, args: list[str], code: int, named: str) -> None:
    result = run_script("--data", spec_dataset[0], "--split", "train", *args)
    assert result.returncode == code and "Traceback" not in result.stderr
    assert named in result.stderr and result.stdout == ""
