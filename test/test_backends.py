"""ONNX Runtime and PyTorch backends on a real tiny bundle: parity, validation, lifecycle, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vsseg_core.bundle import DEFAULT_BUNDLE, MANIFEST, WEIGHTS, Bundle, BundleError
from vsseg_core.errors import VssegError
from vsseg_core.runtime.base import Backend, BackendError
from vsseg_core.runtime.factory import BACKENDS, create_backend
from vsseg_core.runtime.onnxruntime_backend import OnnxRuntimeBackend
from vsseg_core.runtime.torch_backend import TorchBackend

NAMES = ("onnxruntime", "torch")


@pytest.fixture(scope="module")
def bundle(tiny_bundle: Path) -> Bundle:
    return Bundle.load(tiny_bundle)


@pytest.fixture(scope="module")
def backends(bundle: Bundle):
    made = {name: create_backend(name, bundle, device="cpu") for name in NAMES}
    yield made
    for backend in made.values():
        backend.close()


@pytest.fixture(scope="module")
def image(bundle: Bundle) -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.uniform(0, 255, (1, 3, *bundle.input_size)).astype(np.float32)


def _copy(tiny_bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_bundle, tmp_path / "copy"))


def _assert_logits_agree(a: np.ndarray, b: np.ndarray) -> None:
    assert np.abs(a - b).max() <= 1e-3
    assert (a.argmax(1) == b.argmax(1)).mean() >= 0.999


def test_backends_report_what_they_run_on(backends: dict[str, Backend]) -> None:
    for name, backend in backends.items():
        assert (backend.name, backend.device, backend.precision) == (name, "cpu", "fp32")


def test_backends_agree_on_every_graph(backends: dict[str, Backend], bundle: Bundle,
                                       image: np.ndarray) -> None:
    ort_b, torch_b = backends["onnxruntime"], backends["torch"]
    low = {n: b.run("low", {"image": image}) for n, b in backends.items()}
    for name, outputs in low.items():
        assert set(outputs) == {"low"}
        assert outputs["low"].shape == bundle.graph("low").outputs["low"]
        assert outputs["low"].dtype == np.float32
    np.testing.assert_allclose(low["onnxruntime"]["low"], low["torch"]["low"], rtol=1e-3, atol=1e-3)
    high_in = {"low": low["torch"]["low"]}
    high_o, high_t = ort_b.run("high", high_in), torch_b.run("high", high_in)
    assert set(high_o) == set(high_t) == {"deep", "logits"}
    np.testing.assert_allclose(high_o["deep"], high_t["deep"], rtol=1e-3, atol=1e-3)
    _assert_logits_agree(high_o["logits"], high_t["logits"])
    full_o, full_t = ort_b.run("full", {"image": image}), torch_b.run("full", {"image": image})
    assert full_o["logits"].shape == bundle.graph("full").outputs["logits"]
    _assert_logits_agree(full_o["logits"], full_t["logits"])
    assert full_t["logits"].std() > 0  # the network is not degenerate


@pytest.mark.parametrize("name", NAMES)
def test_low_then_high_equals_full(backends: dict[str, Backend], image: np.ndarray, name: str) -> None:
    backend = backends[name]
    low = backend.run("low", {"image": image})["low"]
    logits = backend.run("high", {"low": low})["logits"]  # on the classifier's grid
    full = backend.run("full", {"image": image})["logits"]
    upsampled = F.interpolate(torch.from_numpy(logits), size=full.shape[2:], mode="bilinear",
                              align_corners=False).numpy()
    _assert_logits_agree(upsampled, full)


@pytest.mark.parametrize("name", NAMES)
def test_bad_inputs_are_rejected_with_graph_input_and_shape(backends: dict[str, Backend],
                                                            image: np.ndarray, name: str) -> None:
    backend = backends[name]
    with pytest.raises(ValueError, match=r"'full'.*\['image'\].*\['low'\]"):
        backend.run("full", {"low": image})
    with pytest.raises(ValueError, match=r"'full' input 'image' must have shape \(1, 3, 64, 128\)"):
        backend.run("full", {"image": image[:, :, :32]})
    with pytest.raises(ValueError, match=r"'full' input 'image' must be a float32"):
        backend.run("full", {"image": image.astype(np.float64)})
    with pytest.raises(BundleError, match="no graph 'middle'"):
        backend.run("middle", {"image": image})


@pytest.mark.parametrize("name", NAMES)
def test_closed_backend_raises_and_close_is_idempotent(bundle: Bundle, image: np.ndarray,
                                                       name: str) -> None:
    with create_backend(name, bundle, device="cpu") as backend:
        assert not backend.closed
        backend.run("full", {"image": image})
    assert backend.closed
    with pytest.raises(BackendError, match="closed"):
        backend.run("full", {"image": image})
    backend.close()
    assert backend.closed


def test_unknown_backend_and_options_are_refused(bundle: Bundle) -> None:
    with pytest.raises(VssegError, match="unknown backend 'tensorrtx'.*auto, tensorrt, onnxruntime, torch"):
        create_backend("tensorrtx", bundle)
    assert BACKENDS == ("auto", "tensorrt", "onnxruntime", "torch")
    assert isinstance(create_backend("auto", bundle, device="cpu"), OnnxRuntimeBackend)
    with pytest.raises(BackendError, match="fp32 only"):
        OnnxRuntimeBackend(bundle, precision="fp16")
    with pytest.raises(BackendError, match="device 'gpu'"):
        create_backend("torch", bundle, device="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(BackendError, match="fp16 needs CUDA"):
            TorchBackend(bundle, device="cpu", precision="fp16")
        with pytest.raises(BackendError, match="CUDA is not available"):
            TorchBackend(bundle, device="cuda")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal of a GPU this machine lacks")
def test_every_device_option_takes_cuda_n(tiny_bundle: Path, tmp_path: Path, cli) -> None:
    """`cuda:N` is a device everywhere (runtime.base.device_problem): on a machine without CUDA
    `vsseg segment --device cuda:1` is refused by the backend (exit 1), not by the parser, while
    a misspelt device is a usage error (exit 2); the node's parameter uses the same check."""
    from vsseg_ros.parameters import BY_NAME

    frame = tmp_path / "frame.png"
    cv2.imwrite(str(frame), np.zeros((64, 128, 3), np.uint8))
    args = ("segment", "--model", tiny_bundle, "--input", frame, "--backend", "torch", "--quiet")
    result = cli(*args, "--out", tmp_path / "a", "--device", "cuda:1")
    assert result.returncode == 1 and "CUDA is not available" in result.stderr, result.stderr
    result = cli(*args, "--out", tmp_path / "b", "--device", "gpu")
    assert result.returncode == 2 and "device 'gpu' is not one of auto, cpu, cuda or cuda:N" in result.stderr
    assert BY_NAME["device"].check("cuda:1") is None
    assert "auto, cpu, cuda or cuda:N" in BY_NAME["device"].check("gpu")


def test_missing_bundle_pieces_name_the_file(tiny_bundle: Path, tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="nowhere.*does not exist"):
        Bundle.load(tmp_path / "nowhere")
    copy = _copy(tiny_bundle, tmp_path)
    (copy / "high.onnx").unlink()
    with pytest.raises(BundleError, match=r"high\.onnx is missing"):
        Bundle.load(copy)
    (copy / MANIFEST).unlink()
    with pytest.raises(BundleError, match=r"model\.json is missing"):
        Bundle.load(copy)


def _edit_manifest(bundle: Path, edit) -> None:
    meta = json.loads((bundle / MANIFEST).read_text())
    (bundle / MANIFEST).write_text(json.dumps(edit(meta)))


@pytest.mark.parametrize("edit, named", [
    (lambda meta: [1, 2], "'list' object"),
    (lambda meta: {**meta, "graphs": [1]}, "'list' object"),
    (lambda meta: {k: v for k, v in meta.items() if k != "sha256"}, "no 'sha256' entry"),
])
def test_a_manifest_of_the_wrong_shape_is_a_clear_error(tiny_bundle: Path, tmp_path: Path, edit,
                                                         named: str) -> None:
    copy = _copy(tiny_bundle, tmp_path)
    _edit_manifest(copy, edit)
    with pytest.raises(BundleError, match=f"not a valid bundle manifest \\({named}.*vsseg export"):
        Bundle.load(copy)


@pytest.mark.parametrize("temporal, named", [({}, "flow_scale is None"),
                                             ({"default_threshold": "x"}, "default_threshold is 'x'"),
                                             ({"cut_deviation": float("nan")}, "cut_deviation is nan"),
                                             ([], "is list")])
def test_a_bad_temporal_block_is_refused_when_the_bundle_loads(tmp_path: Path, temporal,
                                                                named: str) -> None:
    copy = Path(shutil.copytree(DEFAULT_BUNDLE, tmp_path / "default"))
    assert Bundle.load(copy, verify=False).temporal is not None
    _edit_manifest(copy, lambda meta: {
        **meta, "temporal": {**meta["temporal"], **temporal} if temporal else temporal})
    with pytest.raises(BundleError, match="vsseg train-propagation") as raised:
        Bundle.load(copy, verify=False)
    assert named in str(raised.value)


def test_modified_graph_fails_the_checksum(tiny_bundle: Path, tmp_path: Path) -> None:
    copy = _copy(tiny_bundle, tmp_path)
    data = bytearray((copy / "full.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "full.onnx").write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"full\.onnx does not match its sha256"):
        Bundle.load(copy)


def test_corrupt_weights_are_reported_by_bundle_and_torch_backend(tiny_bundle: Path,
                                                                  tmp_path: Path) -> None:
    copy = _copy(tiny_bundle, tmp_path)
    weights = copy / WEIGHTS
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(BundleError, match=r"weights\.pt does not match its sha256"):
        Bundle.load(copy)
    with pytest.raises(BundleError, match=r"weights\.pt is corrupt.*vsseg export"):
        TorchBackend(Bundle.load(copy, verify=False), device="cpu")


def test_weights_of_another_architecture_are_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    copy = _copy(tiny_bundle, tmp_path)
    state = torch.load(copy / WEIGHTS, weights_only=True)
    state.pop(next(iter(state)))
    torch.save(state, copy / WEIGHTS)
    with pytest.raises(BundleError, match=r"weights\.pt is corrupt or does not match model\.json"):
        TorchBackend(Bundle.load(copy, verify=False), device="cpu")


def test_unloadable_graph_is_reported_by_onnxruntime(tiny_bundle: Path, tmp_path: Path,
                                                     image: np.ndarray) -> None:
    copy = _copy(tiny_bundle, tmp_path)
    (copy / "full.onnx").write_bytes(b"not an onnx model")
    with OnnxRuntimeBackend(Bundle.load(copy, verify=False), device="cpu") as backend:
        with pytest.raises(BundleError, match=r"full\.onnx: ONNX Runtime cannot load it"):
            backend.run("full", {"image": image})
