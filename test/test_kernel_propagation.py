"""Kernel-mode propagation (Low-Latency VSS's spatially variant convolution): the batched band
products equal their definition, a translation within the kernel's reach is moved to where it
went, PyTorch and ONNX Runtime agree on the prop graph, `vsseg train-propagation --propagation
kernel` builds a bundle that streams without flow, and a bundle never runs as the other mode."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vsseg_core.bundle import Bundle, BundleError
from vsseg_core.data.cityscapes import CityscapesDataset
from vsseg_core.model.kernel_propagation import KernelPropagation, local_correlation, local_filter
from vsseg_core.runtime.onnxruntime_backend import OnnxRuntimeBackend
from vsseg_core.runtime.torch_backend import TorchBackend
from vsseg_core.temporal.video import VideoSegmenter

from conftest import run_cli

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _displaced(x: torch.Tensor, radius: int) -> list[torch.Tensor]:
    """The definition: x displaced by every (dy, dx) in [-r, r]^2, row-major, 0 outside."""
    height, width = x.shape[-2:]
    padded = F.pad(x, (radius,) * 4)
    size = 2 * radius + 1
    return [padded[:, :, dy:dy + height, dx:dx + width] for dy in range(size) for dx in range(size)]


# widths above BLOCK_WIDTH (32) run in column blocks: a whole number of them, and a ragged one
@pytest.mark.parametrize("radius, size", [(1, (5, 7)), (2, (6, 9)), (4, (16, 32)), (4, (6, 64)),
                                          (3, (5, 75))])
def test_band_products_equal_the_definition(radius: int, size: tuple[int, int]) -> None:
    generator = torch.Generator().manual_seed(radius)
    key = torch.randn(2, 5, *size, generator=generator)
    current = torch.randn(2, 5, *size, generator=generator)
    kernels = torch.rand(2, (2 * radius + 1) ** 2, *size, generator=generator)
    shifted = _displaced(key, radius)
    correlation = torch.cat([(s * current).sum(1, keepdim=True) for s in shifted], dim=1)
    filtered = sum(s * kernels[:, k:k + 1] for k, s in enumerate(shifted))
    assert torch.allclose(local_correlation(key, current, radius), correlation, atol=1e-4)
    assert torch.allclose(local_filter(key, kernels, radius), filtered, atol=1e-4)


@pytest.mark.parametrize("shift", [(2, -3), (0, 4), (-4, -4), (1, 0)])
def test_a_translation_within_reach_is_moved_by_the_predicted_kernels(shift) -> None:
    """Textured low-level features translated by ``shift`` deep-grid cells (within K // 2 = 4):
    the untrained predictor's kernels move the keyframe's deep features by the same shift, and
    the whole module (fusion head still zero) outputs them; away from the borders, where the
    content entered the view, the error is a small fraction of not moving at all."""
    torch.manual_seed(0)
    module = KernelPropagation(low_channels=12, deep_channels=20, output_stride=8,
                               kernel_size=9).eval()
    key_low = torch.rand(1, 12, 48, 80)  # stride 4; the deep grid (stride 8) is 24 x 40
    key_deep = torch.rand(1, 20, 24, 40)
    dy, dx = shift
    low = torch.roll(key_low, shifts=(2 * dy, 2 * dx), dims=(2, 3))
    expected = torch.roll(key_deep, shifts=(dy, dx), dims=(2, 3))
    with torch.no_grad():
        moved = module(key_deep, key_low, low)
    inner = (..., slice(5, -5), slice(5, -5))
    error = (moved - expected)[inner].abs().mean()
    unmoved = (key_deep - expected)[inner].abs().mean() if shift != (0, 0) else 1.0
    assert error < 0.02 * unmoved


def test_a_translation_beyond_reach_is_not_followed() -> None:
    """Reach is K // 2 cells: a 7-cell shift with K = 5 leaves a large error (so the test above
    is not trivially satisfied by any output)."""
    torch.manual_seed(0)
    module = KernelPropagation(12, 20, 8, kernel_size=5).eval()
    key_low, key_deep = torch.rand(1, 12, 48, 80), torch.rand(1, 20, 24, 40)
    low = torch.roll(key_low, shifts=(0, 14), dims=(2, 3))
    expected = torch.roll(key_deep, shifts=(0, 7), dims=(2, 3))
    with torch.no_grad():
        moved = module(key_deep, key_low, low)
    inner = (..., slice(8, -8), slice(8, -8))
    assert (moved - expected)[inner].abs().mean() > 0.3 * (key_deep - expected)[inner].abs().mean()


@pytest.mark.parametrize("kernel_size", [4, 1, 17])
def test_kernel_size_must_be_odd_and_in_range(kernel_size: int) -> None:
    with pytest.raises(ValueError, match="must be odd, 3..15"):
        KernelPropagation(12, 20, 8, kernel_size=kernel_size)


@pytest.fixture(scope="module")
def kernel_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("kvideo") / "D"
    result = run_cli("synth", "--out", out, "--sequences", "2", "--frames", "10", "--size",
                     "64x128", "--seed", "9", "--split", "val", "--profile", "stop_and_go")
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def kernel_bundle(tiny_bundle: Path, kernel_data: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kernel") / "bundle"
    result = run_cli("train-propagation", "--data", kernel_data, "--split", "val", "--model",
                     tiny_bundle, "--out", out, "--propagation", "kernel", "--kernel-size", "5",
                     "--iterations", "3", "--batch-size", "2", "--max-distance", "3", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "trained kernel propagation" in result.stdout
    return out


def test_train_propagation_writes_a_kernel_mode_bundle(kernel_bundle: Path) -> None:
    bundle = Bundle.load(kernel_bundle)
    assert bundle.propagation == {"mode": "kernel", "hidden": 64, "kernel_size": 5}
    assert tuple(bundle.graph("prop").inputs) == ("key_deep", "key_low", "low")
    assert "flow_scale" not in bundle.temporal
    assert bundle.meta["parity"]["max_logit_diff"] <= 1e-3


def test_kernel_prop_graph_matches_torch(kernel_bundle: Path) -> None:
    bundle = Bundle.load(kernel_bundle)
    rng = np.random.default_rng(2)
    inputs = {k: rng.uniform(0, 2, v).astype(np.float32)
              for k, v in bundle.graph("prop").inputs.items()}
    with OnnxRuntimeBackend(bundle, device="cpu") as ort_backend, \
            TorchBackend(bundle, device="cpu") as torch_backend:
        a, b = ort_backend.run("prop", inputs), torch_backend.run("prop", inputs)
    assert np.abs(a["logits"] - b["logits"]).max() < 1e-3
    assert np.abs(a["deep"] - b["deep"]).max() < 1e-3


def test_kernel_mode_streams_without_flow(kernel_bundle: Path, kernel_data: Path) -> None:
    bundle = Bundle.load(kernel_bundle)
    frames = [r.load_image() for r in CityscapesDataset(kernel_data, "val").sequences[0]]
    with OnnxRuntimeBackend(bundle, device="cpu") as backend, \
            VideoSegmenter(bundle, backend, "fixed:3") as segmenter:
        results = [segmenter.step(frame, i / 17.0) for i, frame in enumerate(frames)]
    propagated = [r for r in results if r.served_by == "propagation"]
    assert len(propagated) == 6
    assert all(r.timings_ms["flow"] == 0.0 and r.timings_ms["prop"] > 0.0 for r in propagated)
    assert all(r.labels.shape == frames[0].shape[:2] for r in results)


def _edited_copy(source: Path, destination: Path, edit) -> Path:
    """A copy of bundle ``source`` whose model.json ``edit`` changed (sha256s stay valid:
    model.json is not hashed)."""
    shutil.copytree(source, destination)
    manifest = destination / "model.json"
    meta = json.loads(manifest.read_text())
    edit(meta)
    manifest.write_text(json.dumps(meta))
    return destination


def test_a_bundle_never_runs_as_the_other_mode(kernel_bundle: Path, tmp_path: Path) -> None:
    def claim_flow(meta: dict) -> None:
        meta["temporal"]["propagation"]["mode"] = "flow"
        meta["temporal"]["flow_scale"] = 0.5

    def unknown(meta: dict) -> None:
        meta["temporal"]["propagation"]["mode"] = "magic"

    with pytest.raises(BundleError, match="prop graph takes key_deep, key_low, low, but "
                                          "propagation mode 'flow' takes"):
        Bundle.load(_edited_copy(kernel_bundle, tmp_path / "a", claim_flow))
    with pytest.raises(BundleError, match="names no known mode"):
        Bundle.load(_edited_copy(kernel_bundle, tmp_path / "b", unknown))


def test_bundles_without_a_mode_are_flow_bundles(tiny_bundle: Path, tmp_path: Path) -> None:
    """Bundles written before the kernel mode (the default model up to HEAD 852b7d1 among
    them) record no mode in model.json: they load, and run, as flow bundles."""
    from vsseg_core.export import export_bundle
    from vsseg_core.model.propagation import FeaturePropagation
    from vsseg_core.runtime.torch_backend import load_model

    model = load_model(Bundle.load(tiny_bundle))
    propagation = FeaturePropagation(model.low_channels, model.config.head_channels,
                                     model.config.output_stride)
    legacy = {"flow_scale": 0.5, "max_interval": 30, "default_threshold": 0.5, "cut_deviation": 0.9}
    bundle = export_bundle(model, tmp_path / "legacy", provenance={"test": True},
                           propagation=propagation, temporal=legacy)
    bundle = Bundle.load(bundle.root)
    assert "propagation" not in bundle.meta["temporal"]
    assert bundle.propagation == {"mode": "flow"}
    assert "flow" in bundle.graph("prop").inputs
    with OnnxRuntimeBackend(bundle, device="cpu") as backend, \
            VideoSegmenter(bundle, backend, "fixed:2") as segmenter:
        frame = np.random.default_rng(0).integers(0, 255, (64, 128, 3), dtype=np.uint8)
        results = [segmenter.step(frame, t / 17) for t in range(2)]
    assert not results[1].keyframe and results[1].timings_ms["flow"] > 0.0


@pytest.mark.parametrize("option, value, message", [
    ("--propagation", "magic", "invalid choice: 'magic'"),
    ("--kernel-size", "4", "--kernel-size must be odd, 3..15, got 4"),
])
def test_bad_propagation_options_are_one_line_errors(cli, tiny_bundle: Path, kernel_data: Path,
                                                      option: str, value: str, message: str) -> None:
    result = cli("train-propagation", "--data", kernel_data, "--split", "val", "--model",
                 tiny_bundle, "--out", "unused", option, value)
    assert result.returncode != 0
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_fidelity_benchmark_reports_each_distance(kernel_bundle: Path, kernel_data: Path,
                                                  tmp_path: Path) -> None:
    out = tmp_path / "fidelity.json"
    result = subprocess.run(
        [sys.executable, "-P", str(BENCHMARKS / "propagation_fidelity.py"), "--models",
         str(kernel_bundle), "--data", str(kernel_data), "--max-distance", "3", "--json", str(out),
         "--plot", str(tmp_path / "f.png")], capture_output=True, text=True, timeout=300,
        check=False)
    assert result.returncode == 0, result.stderr
    record, = json.loads(out.read_text())["records"]
    assert record["mode"] == "kernel" and [r["distance"] for r in record["by_distance"]] == [1, 2, 3]
    assert all(0 <= r["miou"] <= 1 for r in record["by_distance"])
    assert "| bundle (OS8, kernel) |" in result.stdout and (tmp_path / "f.png").stat().st_size > 0


def test_pareto_front_keeps_only_undominated_points() -> None:
    spec = importlib.util.spec_from_file_location("pareto", BENCHMARKS / "pareto.py")
    pareto = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pareto)
    rows = [{"mean_ms": 40, "miou": 64}, {"mean_ms": 20, "miou": 63}, {"mean_ms": 30, "miou": 62},
            {"mean_ms": 50, "miou": 66}, {"mean_ms": 20, "miou": 60}]
    assert pareto.pareto_front(rows) == {0, 1, 3}
    # equal accuracy up to float rounding: the faster row dominates, and identical rows both stay
    ties = [{"mean_ms": 31, "miou": 55.80000002}, {"mean_ms": 25, "miou": 55.8},
            {"mean_ms": 25, "miou": 55.8}]
    assert pareto.pareto_front(ties) == {1, 2}
