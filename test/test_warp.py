"""Feature warping on known shifts, flow resizing, ONNX parity of the warp, deviation."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from vsseg_core.temporal.deviation import feature_deviation
from vsseg_core.flow import resize_flow
from vsseg_core.model.warp import warp


def test_zero_flow_is_identity() -> None:
    features = torch.randn(1, 4, 6, 10)
    assert torch.allclose(warp(features, torch.zeros(1, 2, 6, 10)), features, atol=1e-6)


def test_integer_shift_moves_features_exactly() -> None:
    """Content that moved 2 px right between keyframe and current frame: flow = -2 in x."""
    key = torch.randn(1, 3, 8, 12)
    current = torch.zeros_like(key)
    current[..., 2:] = key[..., :-2]
    flow = torch.zeros(1, 2, 8, 12)
    flow[:, 0] = -2.0
    warped = warp(key, flow)
    assert torch.allclose(warped[..., 2:], current[..., 2:], atol=1e-5)
    assert torch.all(warped[..., :2] == 0)  # sampled outside the keyframe


def test_half_pixel_shift_interpolates() -> None:
    key = torch.arange(8, dtype=torch.float32).view(1, 1, 1, 8).repeat(1, 1, 4, 1)
    flow = torch.zeros(1, 2, 4, 8)
    flow[:, 0] = 0.5
    warped = warp(key, flow)
    assert torch.allclose(warped[0, 0, :, :-1], key[0, 0, :, :-1] + 0.5, atol=1e-5)


def test_resize_flow_scales_to_grid_pixels() -> None:
    flow = np.zeros((64, 128, 2), np.float32)
    flow[..., 0], flow[..., 1] = 16.0, -8.0
    small = resize_flow(flow, (8, 16))
    assert small.shape == (2, 8, 16)
    assert np.allclose(small[0], 2.0) and np.allclose(small[1], -1.0)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_warp_exports_to_onnx_gridsample(tmp_path) -> None:
    class Warp(torch.nn.Module):
        def forward(self, features: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
            return warp(features, flow)

    features, flow = torch.randn(1, 5, 8, 16), torch.randn(1, 2, 8, 16) * 3
    path = tmp_path / "warp.onnx"
    torch.onnx.export(Warp(), (features, flow), str(path), dynamo=False, opset_version=17,
                      input_names=["features", "flow"], output_names=["warped"])
    import onnx

    assert "GridSample" in {n.op_type for n in onnx.load(str(path)).graph.node}
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = session.run(None, {"features": features.numpy(), "flow": flow.numpy()})[0]
    assert np.abs(out - warp(features, flow).numpy()).max() < 1e-5


def test_feature_deviation() -> None:
    rng = np.random.default_rng(0)
    key = rng.normal(size=(1, 8, 6, 10)).astype(np.float32)
    assert feature_deviation(key, key) == 0.0
    small = feature_deviation(key + 0.1 * rng.normal(size=key.shape), key)
    large = feature_deviation(key + 1.0 * rng.normal(size=key.shape), key)
    assert 0 < small < large
    with pytest.raises(ValueError, match="shape"):
        feature_deviation(key[:, :4], key)
