"""Shared pre/post-processing: resize vs letterbox geometry, labels and confidence from logits."""

from __future__ import annotations

import numpy as np
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


def test_logits_of_the_wrong_size_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"expected logits \(1, C, 64, 128\)"):
        postprocess(np.zeros((1, 19, 32, 64), np.float32), Geometry(SIZE, SIZE, (0, 0, *SIZE)))
