"""Dense flow, label warping and temporal consistency on synthetic shifted frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vsseg_core.flow import dense_flow, in_view_mask, warp_labels_nearest
from vsseg_core.labels import IGNORE_ID, NUM_CLASSES
from vsseg_core.metrics import TemporalConsistency

HEIGHT, WIDTH = 96, 128
SHIFT_X = 3
BLOCK = 16
MARGIN = 16
"""Border (pixels) excluded when checking flow: np.roll wraps content around the edges."""


def textured_image(seed: int) -> np.ndarray:
    """(HEIGHT, WIDTH, 3) uint8 RGB smooth random texture, which DIS can track."""
    noise = np.random.default_rng(seed).random((HEIGHT, WIDTH, 3)).astype(np.float32)
    blurred = cv2.GaussianBlur(noise, (0, 0), 1.5)
    normalised = (blurred - blurred.min()) / (blurred.max() - blurred.min())
    return (normalised * 255).astype(np.uint8)


def block_labels(seed: int, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """(HEIGHT, WIDTH) uint8 trainIds, constant on BLOCK x BLOCK squares."""
    block_grid = (HEIGHT // BLOCK, WIDTH // BLOCK)
    blocks = np.random.default_rng(seed).integers(0, num_classes, block_grid)
    return np.kron(blocks, np.ones((BLOCK, BLOCK), dtype=np.int64)).astype(np.uint8)


def shifted_right(array: np.ndarray) -> np.ndarray:
    return np.roll(array, SHIFT_X, axis=1)


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_dense_flow_recovers_known_shift(scale: float) -> None:
    image = textured_image(0)
    flow = dense_flow(image, shifted_right(image), scale=scale)
    assert flow.shape == (HEIGHT, WIDTH, 2) and flow.dtype == np.float32
    interior = flow[MARGIN:-MARGIN, MARGIN:-MARGIN]
    assert np.median(interior[..., 0]) == pytest.approx(SHIFT_X, abs=0.25)
    assert np.median(interior[..., 1]) == pytest.approx(0.0, abs=0.25)
    assert (np.abs(interior[..., 0] - SHIFT_X) < 0.5).mean() > 0.95


def test_dense_flow_accepts_grey_and_validates_inputs() -> None:
    grey = cv2.cvtColor(textured_image(0), cv2.COLOR_RGB2GRAY)
    flow = dense_flow(grey, shifted_right(grey))
    assert np.median(flow[MARGIN:-MARGIN, MARGIN:-MARGIN, 0]) == pytest.approx(SHIFT_X, abs=0.25)
    with pytest.raises(ValueError, match="same size"):
        dense_flow(grey, grey[:, :-1])
    with pytest.raises(ValueError, match="scale"):
        dense_flow(grey, grey, scale=0.0)
    with pytest.raises(ValueError, match="uint8"):
        dense_flow(grey.astype(np.float32), grey)


def constant_flow(shape: tuple[int, int], dx: float, dy: float) -> np.ndarray:
    flow = np.empty((*shape, 2), dtype=np.float32)
    flow[..., 0] = dx
    flow[..., 1] = dy
    return flow


def test_warp_labels_nearest_with_constant_flow() -> None:
    labels = np.arange(20, dtype=np.uint8).reshape(4, 5)
    right = warp_labels_nearest(labels, constant_flow(labels.shape, 1.0, 0.0))
    np.testing.assert_array_equal(right[:, :-1], labels[:, 1:])
    assert (right[:, -1] == IGNORE_ID).all()
    up = warp_labels_nearest(labels, constant_flow(labels.shape, 0.2, -1.8), fill=7)
    np.testing.assert_array_equal(up[2:], labels[:2])
    assert (up[:2] == 7).all()
    assert up.dtype == np.uint8


def test_warp_labels_nearest_validates_inputs() -> None:
    labels = np.zeros((4, 5), dtype=np.uint8)
    with pytest.raises(ValueError, match="flow must have shape"):
        warp_labels_nearest(labels, constant_flow((5, 4), 0, 0))
    with pytest.raises(ValueError, match="uint8"):
        warp_labels_nearest(labels.astype(np.int64), constant_flow((4, 5), 0, 0))


def test_in_view_mask_matches_warp_fill() -> None:
    mask = in_view_mask(constant_flow((4, 5), -2.0, 0.0))
    expected = np.ones((4, 5), dtype=bool)
    expected[:, :2] = False
    np.testing.assert_array_equal(mask, expected)


def test_consistent_moving_prediction_scores_close_to_one() -> None:
    image, labels = textured_image(0), block_labels(1)
    tc = TemporalConsistency()
    tc.update(image, labels, shifted_right(image), shifted_right(labels))
    assert tc.value() > 0.95
    unwarped = TemporalConsistency()
    unwarped.update(image, labels, image, shifted_right(labels))
    assert unwarped.value() < tc.value() - 0.1


def test_flickering_prediction_scores_low() -> None:
    image, labels = textured_image(0), block_labels(1)
    flipped = (shifted_right(labels) + 1) % NUM_CLASSES
    tc = TemporalConsistency()
    tc.update(image, labels, shifted_right(image), flipped.astype(np.uint8))
    assert tc.value() < 0.1


def test_pixels_leaving_the_image_are_not_evaluated() -> None:
    image, labels = textured_image(0), block_labels(1, num_classes=NUM_CLASSES - 1)
    edge_class = NUM_CLASSES - 1
    labels[:, -SHIFT_X:] = edge_class  # these pixels move out of frame t+1
    tc = TemporalConsistency()
    tc.update(image, labels, shifted_right(image), shifted_right(labels))
    assert np.isnan(tc.per_class()[edge_class])
    assert tc.per_class().shape == (NUM_CLASSES,)


def test_update_does_not_modify_inputs() -> None:
    image, labels = textured_image(0), block_labels(1)
    image_t1, labels_t1 = shifted_right(image), shifted_right(labels)
    copies = [array.copy() for array in (image, labels, image_t1, labels_t1)]
    for array in (image, labels, image_t1, labels_t1):
        array.setflags(write=False)
    TemporalConsistency().update(image, labels, image_t1, labels_t1)
    for array, original in zip((image, labels, image_t1, labels_t1), copies):
        np.testing.assert_array_equal(array, original)


def test_update_rejects_prediction_of_other_size() -> None:
    image, labels = textured_image(0), block_labels(1)
    with pytest.raises(ValueError, match="resolution"):
        TemporalConsistency().update(image, labels[:-1], image, labels)


def test_push_pairs_consecutive_frames_and_reset_splits_sequences() -> None:
    image, labels = textured_image(0), block_labels(1)
    tc = TemporalConsistency()
    tc.push(image, labels)
    assert tc.num_pairs == 0 and np.isnan(tc.value())
    tc.push(shifted_right(image), shifted_right(labels))
    assert tc.num_pairs == 1
    score_after_first_sequence = tc.value()

    tc.reset()
    other_labels = (labels + 1) % NUM_CLASSES  # would score ~0 if paired with the frame before
    tc.push(shifted_right(image), other_labels.astype(np.uint8))
    assert tc.num_pairs == 1
    assert tc.value() == score_after_first_sequence

    tc.push(shifted_right(shifted_right(image)), shifted_right(other_labels).astype(np.uint8))
    assert tc.num_pairs == 2
    assert tc.value() > 0.95
