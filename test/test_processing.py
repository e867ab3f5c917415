"""Shared pre/post-processing: resize vs letterbox geometry, labels and confidence from logits."""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
import pytest

from vsseg_core.runtime.processing import PAD_VALUE, Geometry, Preprocessor, postprocess

SIZE = (64, 128)


def _logits_from_labels(labels: np.ndarray, classes: int = 3, margin: float = 5.0) -> np.ndarray:
    """(1, classes, H, W) float32 logits whose argmax is ``labels`` (H, W)."""
    logits = np.zeros((1, classes, *labels.shape), dtype=np.float32)
    for c in range(classes):
        logits[0, c][labels == c] = margin
    return logits


def test_same_aspect_is_resized_and_round_trips_to_source_size() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (96, 192, 3), dtype=np.uint8)
    image, geometry = Preprocessor(SIZE)(rgb)
    assert image.shape == (1, 3, *SIZE) and image.dtype == np.float32
    assert geometry == Geometry((96, 192), SIZE, (0, 0, *SIZE)) and not geometry.letterboxed
    assert 0 <= image.min() and image.max() <= 255
    labels, confidence = postprocess(np.random.default_rng(1).normal(size=(1, 19, *SIZE))
                                     .astype(np.float32), geometry)
    assert labels.shape == confidence.shape == (96, 192)
    assert labels.dtype == np.uint8 and confidence.dtype == np.float32
    assert labels.max() < 19


def test_input_of_network_size_passes_through_unchanged() -> None:
    rgb = np.random.default_rng(2).integers(0, 256, (*SIZE, 3), dtype=np.uint8)
    image, _ = Preprocessor(SIZE)(rgb)
    np.testing.assert_array_equal(image[0].transpose(1, 2, 0), rgb.astype(np.float32))


def test_four_by_three_input_is_letterboxed_and_padding_is_cropped() -> None:
    rgb = np.full((96, 128, 3), 7, dtype=np.uint8)  # 4:3 into 1:2 -> 64x85 content, centred
    image, geometry = Preprocessor(SIZE)(rgb)
    assert geometry.letterboxed
    assert geometry.content == (0, 21, 64, 85)
    assert np.all(image[0, :, :, :21] == PAD_VALUE) and np.all(image[0, :, :, 21 + 85:] == PAD_VALUE)
    assert np.all(image[0, :, :, 21:21 + 85] == 7)
    # class 2 everywhere on the padding, class 1 in the content: padding must never show up
    inside = np.full(SIZE, 2, dtype=np.int64)
    inside[:, 21:21 + 85] = 1
    labels, confidence = postprocess(_logits_from_labels(inside), geometry)
    assert labels.shape == (96, 128)
    assert np.all(labels == 1)
    assert np.all(confidence > 0.9)


def test_wide_input_is_letterboxed_vertically() -> None:
    geometry = Preprocessor(SIZE).geometry((100, 400))
    assert geometry.content == (16, 0, 32, 128)


def test_known_logits_give_expected_labels_and_softmax_confidence() -> None:
    logits = np.zeros((1, 2, *SIZE), dtype=np.float32)
    logits[0, 1, :, :64] = np.log(3.0)  # left: p(class 1) = 3 / (1 + 3) = 0.75
    logits[0, 0, :, 64:] = 2.0          # right: p(class 0) = e^2 / (e^2 + 1)
    labels, confidence = postprocess(logits, Geometry(SIZE, SIZE, (0, 0, *SIZE)))
    assert np.all(labels[:, :64] == 1) and np.all(labels[:, 64:] == 0)
    np.testing.assert_allclose(confidence[:, :64], 0.75, rtol=1e-6)
    np.testing.assert_allclose(confidence[:, 64:], np.exp(2) / (np.exp(2) + 1), rtol=1e-6)


def test_confidence_is_a_probability_and_never_nan() -> None:
    rng = np.random.default_rng(3)
    logits = (rng.normal(size=(1, 19, *SIZE)) * 1e30).astype(np.float32)
    logits[0, 0, 0, 0], logits[0, 1, 0, 1], logits[0, 2, 0, 2] = np.nan, np.inf, -np.inf
    labels, confidence = postprocess(logits, Geometry((48, 96), SIZE, (0, 0, *SIZE)))
    assert not np.isnan(confidence).any()
    assert confidence.min() >= 1 / 19 - 1e-6 and confidence.max() <= 1.0
    assert labels.max() < 19
    labels, confidence = postprocess(np.zeros((1, 19, *SIZE), np.float32),
                                     Geometry(SIZE, SIZE, (0, 0, *SIZE)))
    np.testing.assert_allclose(confidence, 1 / 19, rtol=1e-6)


def test_grey_input_is_replicated() -> None:
    grey = np.arange(64 * 128, dtype=np.uint32).reshape(SIZE).astype(np.uint8)
    image, _ = Preprocessor(SIZE)(grey)
    assert np.array_equal(image[0, 0], image[0, 2]) and np.array_equal(image[0, 0], grey)


@pytest.mark.parametrize("bad", [
    np.zeros((64, 128, 4), np.uint8), np.zeros((64, 128, 3), np.float32),
    np.zeros((1, 64, 128, 3), np.uint8), np.zeros((0, 128, 3), np.uint8), [[1, 2], [3, 4]],
])
def test_bad_images_are_rejected(bad: object) -> None:
    with pytest.raises(ValueError, match=r"expected an RGB \(h, w, 3\) or grey"):
        Preprocessor(SIZE)(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("shape", [(1, 19, 48, 128), (1, 19, 30, 60), (19, 64, 128), (2, 19, 64, 128)])
def test_logits_of_no_stride_are_rejected(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"expected logits \(1, C, 64/s, 128/s\)"):
        postprocess(np.zeros(shape, np.float32), Geometry(SIZE, SIZE, (0, 0, *SIZE)))


def _upsampled(grid: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(1, C, h, w) -> (1, C, H, W) as the network's own bilinear upsampling (torch)."""
    return F.interpolate(torch.from_numpy(grid), size=size, mode="bilinear",
                         align_corners=False).numpy()


@pytest.mark.parametrize("source", [(64, 128), (128, 256), (90, 128), (64, 100)])
def test_stride_4_logits_give_the_labels_of_upsampled_logits(source: tuple[int, int]) -> None:
    """Labels decided on the stride-4 grid (upsampling only where the class changes) equal the
    labels of logits upsampled to the input first, at the source size and letterboxed."""
    rng = np.random.default_rng(3)
    smooth = cv2.resize(rng.normal(size=(8, 16, 19)).astype(np.float32), (32, 16),
                        interpolation=cv2.INTER_CUBIC)  # classes change in blobs, as real logits
    grid = np.ascontiguousarray(smooth.transpose(2, 0, 1)[None] * 4)
    geometry = Preprocessor(SIZE).geometry(source)
    labels, confidence = postprocess(grid, geometry)
    expected, expected_confidence = postprocess(_upsampled(grid, SIZE), geometry)
    assert labels.shape == expected.shape == source
    assert (labels == expected).mean() == 1.0
    assert np.abs(confidence - expected_confidence).mean() < 0.02  # interpolated, not equal


def test_stride_4_labels_match_the_shipped_network_on_real_frames() -> None:
    """The shipped network's stride-4 logits (what high.onnx outputs) and its full-resolution
    logits (full.onnx) give the same labels on held-out-like frames."""
    from vsseg_core.bundle import Bundle
    from vsseg_core.runtime.onnxruntime_backend import OnnxRuntimeBackend
    from vsseg_core.synth.config import SynthConfig
    from vsseg_core.synth.generator import iter_sequence

    bundle = Bundle.load(None)
    backend = OnnxRuntimeBackend(bundle, device="cpu", precision="fp32")
    config = SynthConfig(sequences=1, frames=3, height=256, width=512, seed=11)
    preprocess = Preprocessor(bundle.input_size)
    for frame in iter_sequence(config, 0):
        image, geometry = preprocess(frame.rgb)
        grid = backend.run("high", {"low": backend.run("low", {"image": image})["low"]})["logits"]
        full = backend.run("full", {"image": image})["logits"]
        assert grid.shape[2:] == (64, 128) and full.shape[2:] == (256, 512)
        assert (postprocess(grid, geometry)[0] == postprocess(full, geometry)[0]).mean() > 0.9999
