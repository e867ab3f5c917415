"""The tensorrt backend: how it is chosen, what happens without TensorRT (here), and, where
TensorRT and a CUDA GPU exist, real engine builds, cache reuse, INT8 and the ONNX Runtime check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vsseg_core.bundle import Bundle
from vsseg_core.runtime.base import BackendError
from vsseg_core.engine_check import compare_backends, record_graph_inputs, sample_clips
from vsseg_core.runtime.engine_cache import EngineOptions
from vsseg_core.runtime.factory import choose_backend, create_backend, tensorrt_unavailable
from vsseg_core.runtime.onnxruntime_backend import OnnxRuntimeBackend

ROOT = Path(__file__).resolve().parent.parent
UNAVAILABLE = tensorrt_unavailable()
needs_tensorrt = pytest.mark.skipif(UNAVAILABLE is not None,
                                    reason=f"needs TensorRT and a CUDA GPU: {UNAVAILABLE}")
without_tensorrt = pytest.mark.skipif(UNAVAILABLE is None,
                                      reason="TensorRT and a GPU are present: the paths for "
                                             "machines without them cannot be shown here")


# -- choosing the backend (runs everywhere) -------------------------------------------------
@without_tensorrt
def test_auto_falls_back_to_onnxruntime_and_says_why() -> None:
    name, why = choose_backend("auto")
    assert name == "onnxruntime" and why.startswith("auto: not tensorrt because") and UNAVAILABLE in why
    assert create_backend("auto", Bundle.load(), device="cpu").name == "onnxruntime"


def test_auto_on_the_cpu_and_explicit_names() -> None:
    assert choose_backend("auto", "cpu") == ("onnxruntime", "auto on the CPU")
    assert choose_backend("torch") == ("torch", "requested")


@without_tensorrt
def test_explicit_tensorrt_fails_with_the_fix() -> None:
    with pytest.raises(BackendError, match="backend tensorrt cannot run here: .*docs/tensorrt.md"):
        create_backend("tensorrt", Bundle.load())


def test_stub_only_tensorrt_is_not_mistaken_for_tensorrt() -> None:
    """.venv/typing holds tensorrt-stubs: a `tensorrt` namespace without the library."""
    stubs = ROOT / ".venv" / "typing"
    assert (stubs / "tensorrt" / "__init__.pyi").is_file(), "run `make setup` (installs the stubs)"
    code = ("from vsseg_core.runtime.factory import tensorrt_unavailable as u; import tensorrt; "
            "print(u())")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(stubs)}, check=True)
    assert "is not TensorRT" in result.stdout, result.stdout


def test_tensorrt_11_is_refused(tmp_path: Path) -> None:
    """TensorRT 11 removed the APIs the backend uses: auto must fall back, not crash. (A stand-in
    package with only a version, since no TensorRT of either major version installs here.)"""
    package = tmp_path / "tensorrt"
    package.mkdir()
    (package / "__init__.py").write_text("__version__ = '11.4.0.106'\nclass Builder: pass\n")
    code = "from vsseg_core.runtime.factory import choose_backend; print(choose_backend('auto'))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(tmp_path)}, check=True)
    assert "onnxruntime" in result.stdout and "TensorRT 11.4.0.106 is installed" in result.stdout


# -- vsseg build-engine without TensorRT, and its argument checks (run everywhere) -------------
@without_tensorrt
def test_build_engine_without_tensorrt_exits_1_with_the_fix(cli) -> None:
    result = cli("build-engine", "--precision", "fp16")
    assert result.returncode == 1
    assert "TensorRT cannot run here" in result.stderr and "docs/tensorrt.md" in result.stderr


@pytest.mark.parametrize("args, rc, message", [
    ((), 0, "backend: onnxruntime (auto: "),  # auto says what it chose and why
    (("--precision", "int8"), 1, "precision int8 needs the tensorrt backend (engines from `vsseg "
                                 "build-engine`), not onnxruntime"),
    (("--backend", "tensorrt", "--device", "cpu"), 1, "the tensorrt backend runs on a CUDA GPU only"),
])
def test_commands_say_which_backend_and_refuse_impossible_ones(cli, spec_dataset, tmp_path, args,
                                                              rc, message) -> None:
    frame = next((spec_dataset[0] / "leftImg8bit_sequence").rglob("*.png"))
    result = cli("segment", "--input", frame, "--out", tmp_path / "out", "--policy", "per_frame", *args)
    assert result.returncode == rc and message in result.stderr, result.stderr


@pytest.mark.parametrize("args, message", [
    (("--graphs", "low,nope"), "--graphs low,nope: the bundle has low, high, full, prop"),
    (("--check",), "--check needs frames"),
    (("--calib", "."), "--calib is for --precision int8 only"),
    (("--precision", "int8", "--calib", "missing_dir"), "missing_dir does not exist"),
    (("--calib-frames", "0"), "--calib-frames must be >= 1"),
    (("--workspace-mb", "0"), "workspace must be at least 1 MiB, got 0 (--workspace-mb"),
    (("--dla-core", "-1"), "DLA core must be >= 0"),
    (("--dla-core", "0", "--precision", "fp32"), "--dla-core needs --precision fp16 or int8"),
    (("--device", "cpu"), "--device 'cpu': TensorRT runs on cuda or cuda:N"),
    (("--check-data", "."), "--check-data is for --check"),
    (("--precision", "int8", "--force-rebuild"), "--force-rebuild with --precision int8 recalibrates"),
    (("--min-agreement", "1.5"), "--min-agreement must be within 0..1"),
])
def test_build_engine_rejects_bad_arguments_before_any_work(cli, args, message) -> None:
    result = cli("build-engine", *args)
    assert result.returncode == 1 and message in result.stderr, result.stderr


# -- with TensorRT and a GPU ------------------------------------------------------------------
@pytest.fixture(scope="module")
def recorded(spec_dataset) -> dict:
    bundle = Bundle.load()
    with OnnxRuntimeBackend(bundle, device="cpu") as reference:
        return record_graph_inputs(reference, sample_clips(spec_dataset[0], frames=8))


@needs_tensorrt
def test_fp16_engines_build_then_load_from_the_cache_and_match_onnxruntime(tmp_path, recorded) -> None:
    bundle, graphs = Bundle.load(), ("low", "high", "prop", "full")
    options = EngineOptions(cache_dir=tmp_path)
    with create_backend("tensorrt", bundle, precision="fp16", engine=options) as engine:
        assert [engine.prepare(g) for g in graphs] == ["built"] * 4
    with create_backend("tensorrt", bundle, precision="fp16", engine=options) as engine, \
            OnnxRuntimeBackend(bundle, device="cpu") as reference:
        assert [engine.prepare(g) for g in graphs] == ["loaded"] * 4
        report = compare_backends(reference, engine, recorded, graphs)
    for graph in ("high", "prop", "full"):
        assert report[graph]["argmax_agreement"] >= 0.99, report


@needs_tensorrt
def test_corrupt_engine_is_rebuilt_with_a_warning(tmp_path) -> None:
    bundle, lines = Bundle.load(), []
    with create_backend("tensorrt", bundle, engine=EngineOptions(cache_dir=tmp_path)) as engine:
        engine.prepare("low")
        path = engine.cache.engine_path(engine.key("low"))
    path.write_bytes(path.read_bytes()[:1000])
    with create_backend("tensorrt", bundle, engine=EngineOptions(cache_dir=tmp_path),
                        log=lines.append) as engine:
        assert engine.prepare("low") == "built"
        image = np.zeros(bundle.graph("low").inputs["image"], np.float32)
        assert engine.run("low", {"image": image})["low"].shape == bundle.graph("low").outputs["low"]
    assert any("unusable" in line and str(path) in line for line in lines)


@needs_tensorrt
def test_int8_calibrates_writes_its_cache_and_reuses_it(tmp_path, recorded) -> None:
    bundle = Bundle.load()
    with create_backend("tensorrt", bundle, precision="int8",
                        engine=EngineOptions(cache_dir=tmp_path)) as engine:
        with pytest.raises(BackendError, match="no INT8 engine .* vsseg build-engine"):
            engine.prepare("high")
    from vsseg_core.runtime.tensorrt_backend import TensorRTBackend

    with TensorRTBackend(bundle, precision="int8", engine=EngineOptions(cache_dir=tmp_path),
                         calibration=recorded) as engine, \
            OnnxRuntimeBackend(bundle, device="cpu") as reference:
        assert engine.prepare("high") == "built"
        assert engine.cache.read_calibration(engine.key("high"))
        assert engine.key("prop").precision == "fp16"  # prop stays fp16 under int8
        report = compare_backends(reference, engine, recorded, ("high",))
        assert report["high"]["argmax_agreement"] >= 0.95, report
        engine.cache.remove(engine.key("high"))  # the engine goes, the calibration cache stays
    with TensorRTBackend(bundle, precision="int8", engine=EngineOptions(cache_dir=tmp_path)) as engine:
        assert engine.prepare("high") == "built"  # from the calibration cache, no data needed
