"""Shared fixtures: the real ``vsseg`` CLI in a subprocess, and one generated dataset."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SPEC_ARGS = ["--sequences", "2", "--frames", "30", "--size", "256x512", "--seed", "7"]
"""The dataset the foundation issue asks to show."""


def run_cli(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``python -m vsseg_core ARGS`` (the ``vsseg`` command) and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "vsseg_core", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, check=False,
    )


@pytest.fixture(scope="module")
def one_thread():
    """Small networks: one intra-op torch thread is faster and behaves on a busy machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def cli():
    """The ``vsseg`` command as a function: ``cli("synth", "--out", d, ...)``."""
    return run_cli


@pytest.fixture(scope="session")
def spec_dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``vsseg synth --out D --sequences 2 --frames 30 --size 256x512 --seed 7 --preview P``."""
    root = tmp_path_factory.mktemp("spec")
    out, preview = root / "D", root / "preview.png"
    result = run_cli("synth", "--out", out, *SPEC_ARGS, "--preview", preview)
    assert result.returncode == 0, result.stderr
    return out, preview


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small random PSPNet (64x128 input, non-trivial BatchNorm statistics) with a stride-4
    decoder, like the shipped model, exported as a bundle."""
    import torch

    from vsseg_core.export import export_bundle
    from vsseg_core.model.pspnet import ModelConfig, PSPNet

    torch.manual_seed(0)
    model = PSPNet(ModelConfig(width=0.25, head_channels=32, input_size=(64, 128),
                               decoder_channels=16))
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(2, 3, 64, 128) * 255.0)
    out = tmp_path_factory.mktemp("bundle") / "tiny"
    export_bundle(model, out, provenance={"test": True})
    return out
