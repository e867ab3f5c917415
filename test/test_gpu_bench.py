"""benchmarks/gpu_bench.py: its CPU dry run produces every row, and it refuses CUDA without a GPU."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vsseg_core.bundle import Bundle

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_bench.py"
SHIPPED = Bundle.load(None)


def run_bench(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The script as documented, with -P: benchmarks/ is not put on sys.path, so it runs only if
    it imports nothing through the script's own folder."""
    return subprocess.run([sys.executable, "-P", str(SCRIPT), *map(str, args)], capture_output=True,
                          text=True, timeout=300, check=False, cwd=SCRIPT.parents[1])


def _script_module():
    """benchmarks/gpu_bench.py imported as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("gpu_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def test_cpu_dry_run_writes_every_row(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = run_bench("--device", "cpu", "--runs", "2", "--frames", "6", "--skip-full-res",
                       "--deployment", "", "--json", out)
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
        # the shipped bundle's mode: DIS flow runs only for a flow bundle
        flow_ms = video["propagated"]["stages_median_ms"]["flow"]
        assert positive(flow_ms) if SHIPPED.propagation["mode"] == "flow" else flow_ms == 0.0


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_without_a_gpu_exits_1_with_a_clear_message(tmp_path: Path) -> None:
    result = run_bench("--json", tmp_path / "bench.json")
    assert result.returncode == 1
    assert "no CUDA GPU visible to PyTorch" in result.stderr
    assert "--device cpu for a dry run" in result.stderr
    assert not (tmp_path / "bench.json").exists()


def test_unknown_deployment_backbone_or_mode_is_refused(tmp_path: Path) -> None:
    for option, value, message in (("--deployment", "resnet18,vgg16", "unknown backbone 'vgg16'"),
                                   ("--deployment-propagation", "warp", "unknown mode 'warp'")):
        result = run_bench("--device", "cpu", option, value, "--json", tmp_path / "bench.json")
        assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not (tmp_path / "bench.json").exists()


def test_deployment_bundles_are_the_deployment_benchmarks_network(tmp_path: Path) -> None:
    """gpu_bench times the same deployment PSPNet (width 1.0, OS8) as deployment_bench, in both
    propagation modes (here at 128x256)."""
    bench = _script_module()
    for mode in ("flow", "kernel"):
        bundle = Bundle.load(bench.deployment_bundle("resnet18", mode, tmp_path / mode, size=(128, 256)).root)
        assert (bundle.config.width, bundle.config.output_stride) == (1.0, 8)
        assert bundle.input_size == (128, 256) and bundle.propagation["mode"] == mode


def test_the_random_weight_bundle_loads_and_never_cuts(tmp_path: Path) -> None:
    """The full-resolution bundle (here at 128x256) is a valid bundle whose random features
    cannot trigger the scene-cut rule."""
    bundle = _script_module().full_res_bundle(Bundle.load(None), tmp_path / "b", size=(128, 256))
    loaded = Bundle.load(bundle.root)
    assert loaded.input_size == (128, 256) and loaded.temporal["cut_deviation"] > 100
    assert loaded.propagation == SHIPPED.propagation
