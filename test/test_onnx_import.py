"""`vsseg import onnx` on a network we did not write: mmsegmentation 1.2.2's PSPNet-R18 (reduced
width, random weights) exported by torch.onnx from mmseg's own modules
(tools/make_mmseg_fixtures.py), split at its layer1 and PSPHead-bottleneck outputs. The split
bundle must reproduce mmseg's logits and refuse splits that cannot work, leaving nothing behind."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from vsseg_core.bundle import Bundle, BundleError
from vsseg_core.runtime.torch_backend import TorchBackend

FIXTURES = Path(__file__).parent / "fixtures" / "mmseg"
MODEL = FIXTURES / "pspnet_r18-d8_tiny_96x192.onnx"
REFERENCE = np.load(FIXTURES / "pspnet_r18-d8_tiny_96x192_logits.npz")
LOW, DEEP = str(REFERENCE["low"]), str(REFERENCE["deep"])
IMAGENET = ("--mean", "123.675,116.28,103.53", "--std", "58.395,57.12,57.375")


@pytest.fixture(scope="module")
def onnx_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from conftest import run_cli

    out = tmp_path_factory.mktemp("onnx") / "bundle"
    result = run_cli("import", "onnx", MODEL, "--low", LOW, "--deep", DEEP, *IMAGENET, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "match the network to 0.0e+00" in result.stdout
    return out


def _run(bundle: Bundle, graph: str, feeds: dict) -> list[np.ndarray]:
    session = ort.InferenceSession(str(bundle.path(bundle.graph(graph).file)),
                                   providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def test_split_graphs_give_mmseg_logits(onnx_bundle: Path) -> None:
    bundle = Bundle.load(onnx_bundle)
    assert bundle.config is None and bundle.input_size == (96, 192) and bundle.low_size == (24, 48)
    image = REFERENCE["image"].transpose(0, 3, 1, 2).astype(np.float32)  # RGB 0..255
    (low,) = _run(bundle, "low", {"image": image})
    deep, logits = _run(bundle, "high", {"low": low})
    (full,) = _run(bundle, "full", {"image": image})
    for result in (logits, full):
        assert np.abs(result - REFERENCE["logits"]).max() <= 1e-4
        assert (result.argmax(1) == REFERENCE["logits"].argmax(1)).all()
    assert deep.shape == (1, 32, 12, 24)
    assert bundle.meta["split"] == {"low": LOW, "deep": DEEP, "head_reads_low": False}
    assert bundle.meta["provenance"]["imported"]["source"] == "onnx"


def test_segment_runs_the_split_bundle(cli, onnx_bundle: Path, tmp_path: Path) -> None:
    frame = tmp_path / "frame.png"
    cv2.imwrite(str(frame), REFERENCE["image"][0, ..., ::-1])
    result = cli("segment", "--model", onnx_bundle, "--input", frame, "--out", tmp_path / "m",
                 "--policy", "per_frame", "--quiet")
    assert result.returncode == 0, result.stderr
    mask = cv2.imread(str(tmp_path / "m" / "frame_labelTrainIds.png"), cv2.IMREAD_UNCHANGED)
    assert (mask == REFERENCE["logits"][0].argmax(0)).mean() > 0.999


def test_pytorch_side_work_is_refused_clearly(cli, onnx_bundle: Path, tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="--backend onnxruntime or tensorrt"):
        TorchBackend(Bundle.load(onnx_bundle), device="cpu")
    result = cli("train-propagation", "--data", tmp_path, "--model", onnx_bundle, "--targets",
                 "soft", "--out", tmp_path / "b", "--iterations", "1")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "split from an ONNX model" in result.stderr and not (tmp_path / "b").exists()


def _refused(cli, tmp_path: Path, model: Path, *args: str) -> str:
    out = tmp_path / "never"
    result = cli("import", "onnx", model, *args, "--out", out)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert not out.exists()
    return result.stderr


@pytest.mark.parametrize("low,deep,message", [
    ("/backbone/layer1/layer1.1/relu_1/Relu_output", DEEP, "did you mean"),
    (LOW, "/backbone/layer1/layer1.0/relu/Relu_output_0", "is not computed from --low"),
    ("/backbone/layer1/layer1.1/conv2/Conv_output_0", DEEP,
     "also reads /backbone/layer1/layer1.0/relu_1/Relu_output_0"),  # the residual skip
    (LOW, "/psp_modules/psp_modules.0/psp_modules.0.1/activate/Relu_output_0",
     "the logits are not computed from --deep"),
])
def test_splits_that_cannot_work(cli, tmp_path: Path, low: str, deep: str, message: str) -> None:
    assert message in _refused(cli, tmp_path, MODEL, "--low", low, "--deep", deep, *IMAGENET)


def test_dynamic_input_size_is_refused(cli, tmp_path: Path) -> None:
    model = onnx.load(str(MODEL))
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "height"
    onnx.save(model, str(tmp_path / "dynamic.onnx"))
    error = _refused(cli, tmp_path, tmp_path / "dynamic.onnx", "--low", LOW, "--deep", DEEP, *IMAGENET)
    assert "dynamic size" in error and "make_dynamic_shape_fixed" in error


def test_files_that_are_not_onnx(cli, tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"\x00\x01 not protobuf")
    assert "not" in _refused(cli, tmp_path, tmp_path / "model.onnx", "--low", LOW, "--deep", DEEP,
                             *IMAGENET)
    assert "does not exist" in _refused(cli, tmp_path, tmp_path / "none.onnx", "--low", LOW,
                                        "--deep", DEEP, *IMAGENET)


def test_normalisation_must_be_three_numbers(cli, tmp_path: Path) -> None:
    result = cli("import", "onnx", MODEL, "--low", LOW, "--deep", DEEP, "--mean", "0,0",
                 "--std", "1,1,1", "--out", tmp_path / "b")
    assert result.returncode == 2 and "three comma-separated numbers" in result.stderr


def test_networks_using_the_bundle_names_import(cli, tmp_path: Path) -> None:
    """A network whose own tensors are called image / logits (as the bundle graphs' are)."""
    model = onnx.load(str(MODEL))
    for node in model.graph.node:
        node.input[:] = ["image" if i == "input" else i for i in node.input]
    model.graph.input[0].name = "image"
    onnx.save(model, str(tmp_path / "named.onnx"))
    result = cli("import", "onnx", tmp_path / "named.onnx", "--low", LOW, "--deep", DEEP,
                 *IMAGENET, "--out", tmp_path / "b")
    assert result.returncode == 0, result.stderr
    image = REFERENCE["image"].transpose(0, 3, 1, 2).astype(np.float32)
    (full,) = _run(Bundle.load(tmp_path / "b"), "full", {"image": image})
    assert np.abs(full - REFERENCE["logits"]).max() <= 1e-4
