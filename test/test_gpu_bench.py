"""benchmarks/gpu_bench.py: its CPU dry run produces every row, and it refuses CUDA without a GPU."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_bench.py"


def run_bench(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The script as documented, with -P: benchmarks/ is not put on sys.path, so it runs only if
    it imports nothing through the script's own folder."""
    return subprocess.run([sys.executable, "-P", str(SCRIPT), *map(str, args)], capture_output=True,
                          text=True, timeout=300, check=False, cwd=SCRIPT.parents[1])


def positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def test_cpu_dry_run_writes_every_row(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = run_bench("--device", "cpu", "--runs", "2", "--frames", "6", "--skip-full-res",
                       "--json", out)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["device"]["dry_run"] and not report["failed"]
    assert "CPU DRY RUN" in result.stdout and "| backend | precision | graph |" in result.stdout
    assert out.with_suffix(".md").read_text() == result.stdout
    for backend in ("torch", "onnxruntime"):
        rows = {r["graph"]: r for r in report["latency"] if r["backend"] == backend}
        assert set(rows) == {"low", "high", "full", "prop"}, backend
        for row in rows.values():
            assert (row["device"], row["precision"], row["network_input"]) == ("cpu", "fp32", "256x512")
            assert positive(row["median_ms"]) and positive(row["p95_ms"]), row
        video = {r["kind"]: r for r in report["video"] if r["backend"] == backend}
        # policy fixed:5 on 6 frames: keyframes 0 and 5, propagated 1-4
        assert {k: r["frames"] for k, r in video.items()} == {"keyframe": 2, "propagated": 4}
        for row in video.values():
            assert positive(row["median_total_ms"]) and positive(row["mean_total_ms"]), row
        assert positive(video["keyframe"]["stages_median_ms"]["high"])
        assert video["keyframe"]["stages_median_ms"]["prop"] == 0.0
        assert positive(video["propagated"]["stages_median_ms"]["prop"])
        assert positive(video["propagated"]["stages_median_ms"]["flow"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_without_a_gpu_exits_1_with_a_clear_message(tmp_path: Path) -> None:
    result = run_bench("--json", tmp_path / "bench.json")
    assert result.returncode == 1
    assert "no CUDA GPU visible to PyTorch" in result.stderr
    assert "--device cpu for a dry run" in result.stderr
    assert not (tmp_path / "bench.json").exists()


def test_the_random_weight_bundle_loads_and_never_cuts(tmp_path: Path) -> None:
    """The full-resolution bundle (here at 128x256) is a valid bundle whose random features
    cannot trigger the scene-cut rule."""
    import importlib.util

    from vsseg_core.bundle import Bundle

    spec = importlib.util.spec_from_file_location("gpu_bench", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bundle = bench.full_res_bundle(Bundle.load(None), tmp_path / "b", size=(128, 256))
    loaded = Bundle.load(bundle.root)
    assert loaded.input_size == (128, 256) and loaded.temporal["cut_deviation"] > 100
