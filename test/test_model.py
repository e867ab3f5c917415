"""The PSPNet, its dilated ResNet backbone and the export-safe pyramid pooling, on real torch."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from vsseg_core.labels import NUM_CLASSES
from vsseg_core.model.ppm import PyramidPooling, pool_geometry
from vsseg_core.model.pspnet import ModelConfig, PSPNet
from vsseg_core.model.resnet import ResNet

H, W = 64, 128
LOW_CHANNELS = {"resnet18": 16, "resnet34": 16, "resnet50": 64}
"""Stride-4 channels at width 0.25 (64 * 0.25, times 4 for bottlenecks)."""


pytestmark = pytest.mark.usefixtures("one_thread")


def _model(**kwargs) -> PSPNet:
    torch.manual_seed(0)
    cfg = dict(width=0.25, head_channels=32, input_size=(H, W))
    return PSPNet(ModelConfig(**{**cfg, **kwargs}))


def _settle_batchnorm(model: PSPNet, size: tuple[int, int] = (H, W)) -> None:
    """Give BatchNorm non-trivial running statistics, then switch to eval."""
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.rand(2, 3, *size) * 255.0)
    model.eval()


SIZE_FOR_STRIDE = {8: (H, W), 16: (96, 192)}
"""64x128 at stride 16 would give 4x8 features, too small for the 6-bin pyramid level."""


@pytest.mark.parametrize("decoder_channels", [0, 16])
@pytest.mark.parametrize("output_stride", [8, 16])
@pytest.mark.parametrize("backbone", ["resnet18", "resnet34", "resnet50"])
def test_seam_shapes_and_forward_equals_the_three_stages(backbone: str, output_stride: int,
                                                         decoder_channels: int) -> None:
    h, w = SIZE_FOR_STRIDE[output_stride]
    model = _model(backbone=backbone, output_stride=output_stride, input_size=(h, w),
                   decoder_channels=decoder_channels)
    _settle_batchnorm(model, (h, w))
    x = torch.rand(2, 3, h, w) * 255.0
    with torch.no_grad():
        low = model.forward_low(x)
        deep = model.forward_high(low)
        logits = model.classify(deep, low)
        full = model(x)
    assert model.low_channels == LOW_CHANNELS[backbone]
    assert low.shape == (2, LOW_CHANNELS[backbone], h // 4, w // 4)
    assert deep.shape == (2, 32, h // output_stride, w // output_stride)
    assert logits.shape == (2, NUM_CLASSES, h, w)
    assert torch.equal(full, logits)
    assert logits.std() > 0


@pytest.mark.parametrize("decoder_channels", [0, 16])
def test_only_the_decoder_reads_the_low_level_features(decoder_channels: int) -> None:
    model = _model(output_stride=16, input_size=SIZE_FOR_STRIDE[16],
                   decoder_channels=decoder_channels)
    _settle_batchnorm(model, SIZE_FOR_STRIDE[16])
    x, other = (torch.rand(1, 3, *SIZE_FOR_STRIDE[16]) * 255.0 for _ in range(2))
    with torch.no_grad():
        low = model.forward_low(x)
        deep = model.forward_high(low)
        changed = not torch.allclose(model.classify(deep, low),
                                     model.classify(deep, model.forward_low(other)))
    assert changed == bool(decoder_channels)


def test_negative_decoder_channels_are_refused() -> None:
    with pytest.raises(ValueError, match="decoder channels -1"):
        ModelConfig(decoder_channels=-1)


@pytest.mark.parametrize("output_stride", [8, 16])
def test_backbone_feature_strides(output_stride: int) -> None:
    net = ResNet(depth="resnet18", width=0.25, output_stride=output_stride).eval()
    with torch.no_grad():
        low = net.forward_low(torch.rand(1, 3, H, W))
        mid, top = net.forward_high(low)
    assert low.shape == (1, net.channels.low, H // 4, W // 4)
    assert mid.shape == (1, net.channels.mid, H // output_stride, W // output_stride)
    assert top.shape == (1, net.channels.high, H // output_stride, W // output_stride)


def test_pyramid_pooling_is_adaptive_pooling_when_the_size_divides() -> None:
    torch.manual_seed(0)
    ppm = PyramidPooling(8, bins=(1, 2, 3, 6), feature_size=(12, 12)).eval()
    x = torch.randn(2, 8, 12, 12)
    for bins, pool in zip((1, 2, 3, 6), ppm.pools):
        assert torch.allclose(pool(x), F.adaptive_avg_pool2d(x, bins), atol=1e-6)
    with torch.no_grad():
        reference = [x] + [F.interpolate(reduce(F.adaptive_avg_pool2d(x, b)), size=(12, 12),
                                          mode="bilinear", align_corners=False)
                           for b, reduce in zip((1, 2, 3, 6), ppm.reduce)]
        out = ppm(x)
    assert out.shape == (2, ppm.out_channels, 12, 12)
    assert torch.allclose(out, torch.cat(reference, dim=1), atol=1e-5)


@pytest.mark.parametrize("size", [12, 16, 32, 64, 128, 256, 7, 11])
@pytest.mark.parametrize("bins", [1, 2, 3, 6])
def test_pool_windows_tile_the_map(size: int, bins: int) -> None:
    if size < bins:
        pytest.skip("covered by the ValueError test")
    kernel, stride = pool_geometry(size, bins)
    starts = [i * stride for i in range(bins)]
    covered = torch.zeros(size, dtype=torch.bool)
    for s in starts:
        covered[s:s + kernel] = True
    assert starts[0] == 0
    assert starts[-1] + kernel == size
    assert kernel >= stride > 0  # equal windows, no gaps
    assert bool(covered.all())
    if size % bins == 0:
        assert (kernel, stride) == (size // bins, size // bins)


@pytest.mark.parametrize("size, bins, expected", [(16, 3, (6, 5)), (128, 3, (44, 42)),
                                                  (256, 3, (86, 85)), (128, 6, (23, 21))])
def test_non_divisible_geometry_values(size: int, bins: int, expected: tuple[int, int]) -> None:
    assert pool_geometry(size, bins) == expected


def test_non_divisible_pooling_averages_the_documented_windows() -> None:
    """128x256 (1024x2048 at stride 8) by 3 bins: each output is the mean of its window."""
    x = torch.randn(1, 2, 128, 256)
    ppm = PyramidPooling(2, bins=(3,), branch_ch=2, feature_size=(128, 256))
    pooled = ppm.pools[0](x)
    assert pooled.shape == (1, 2, 3, 3)
    (kh, sh), (kw, sw) = pool_geometry(128, 3), pool_geometry(256, 3)
    for i in range(3):
        for j in range(3):
            window = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            assert window.shape[-2:] == (kh, kw)
            assert torch.allclose(pooled[:, :, i, j], window.mean(dim=(2, 3)), atol=1e-5)
    assert 2 * sh + kh == 128 and 2 * sw + kw == 256


def test_map_smaller_than_bins_raises() -> None:
    with pytest.raises(ValueError, match="cannot be pooled into 6 bins"):
        pool_geometry(5, 6)
    with pytest.raises(ValueError, match="larger input size"):
        PyramidPooling(8, bins=(1, 2, 3, 6), feature_size=(4, 8))
    with pytest.raises(ValueError):  # 64x64 at stride 16 gives 4x4 features, too small for bin 6
        PSPNet(ModelConfig(width=0.25, head_channels=32, input_size=(64, 64), output_stride=16))


def test_pyramid_pooling_rejects_other_feature_sizes() -> None:
    ppm = PyramidPooling(8, feature_size=(8, 16)).eval()
    with pytest.raises(ValueError, match=r"built for \(8, 16\).*got \(8, 8\).*input size"):
        ppm(torch.zeros(1, 8, 8, 8))
    model = _model().eval()
    with pytest.raises(ValueError, match="build the model for this input size"):
        model(torch.zeros(1, 3, 2 * H, W))


def test_normalisation_constants_are_buffers() -> None:
    model = _model(mean=(10.0, 20.0, 30.0), std=(2.0, 4.0, 8.0)).eval()
    state = model.state_dict()
    params = dict(model.named_parameters())
    for name, values in (("mean", (10.0, 20.0, 30.0)), ("std", (2.0, 4.0, 8.0))):
        assert name in state and name in model.inference_state_dict()
        assert name not in params
        assert state[name].flatten().tolist() == list(values)
    x = torch.rand(1, 3, H, W) * 255.0
    with torch.no_grad():
        expected = model.backbone.forward_low((x - model.mean) / model.std)
        assert torch.equal(model.forward_low(x), expected)
        assert not torch.equal(model.backbone.forward_low(x), expected)


def test_aux_head_for_training_only() -> None:
    model = _model().train()
    logits, aux = model.forward_train(torch.rand(2, 3, H, W) * 255.0)
    assert logits.shape == (2, NUM_CLASSES, H, W)
    assert aux.shape == (2, NUM_CLASSES, H // 4, W // 4)
    labels = torch.arange(H * W).view(1, H, W).expand(2, H, W)
    targets = model.aux_labels(labels)  # the label at the centre of each 4x4 cell
    assert targets.shape == aux.shape[:1] + aux.shape[2:]
    assert targets[0, 1, 2].item() == (4 * 1 + 2) * W + (4 * 2 + 2)
    assert any(k.startswith("aux.") for k in model.state_dict())
    inference = model.inference_state_dict()
    assert inference and not any(k.startswith("aux.") for k in inference)
    assert set(inference) == {k for k in model.state_dict() if not k.startswith("aux.")}
    plain = PSPNet(ModelConfig.from_json(model.config.to_json()))
    assert plain.aux is None
    plain.load_state_dict(inference)  # strict: exactly the inference weights
    model.eval()
    with torch.no_grad():
        x = torch.rand(1, 3, H, W) * 255.0
        assert torch.equal(plain.eval()(x), model(x))
        assert plain.forward_train(x)[1] is None


@pytest.mark.parametrize("size", [(100, 128), (64, 100), (0, 128), (-32, 64), (16, 32)])
def test_config_rejects_sizes_not_multiple_of_32(size: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="multiples of 32"):
        ModelConfig(input_size=size)


def test_config_json_round_trip() -> None:
    config = ModelConfig(backbone="resnet50", width=0.375, output_stride=16, bins=(1, 2, 4),
                         head_channels=48, input_size=(96, 160), mean=(1.0, 2.0, 3.0),
                         std=(4.0, 5.0, 6.0))
    data = json.loads(json.dumps(config.to_json()))
    assert "aux_head" not in data
    back = ModelConfig.from_json(data)
    assert back == config
    assert back.to_json() == config.to_json()
    assert back.aux_head is False
    assert (back.feature_size, back.low_size) == ((6, 10), (24, 40))
    assert ModelConfig.from_json(ModelConfig().to_json()) == ModelConfig()


@pytest.mark.parametrize("kwargs, match", [
    ({"depth": "resnet152"}, "unknown backbone"),
    ({"output_stride": 32}, "output_stride"),
    ({"output_stride": 4}, "output_stride"),
    ({"width": 0.05}, "width"),
    ({"width": 3.0}, "width"),
])
def test_resnet_rejects_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ResNet(**kwargs)
