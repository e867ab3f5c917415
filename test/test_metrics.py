"""ConfusionMatrix / mIoU on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from vsseg_core.labels import IGNORE_ID, NUM_CLASSES
from vsseg_core.metrics import ConfusionMatrix

# gt        pred
# 0 0 1     0 1 1
# 1 2 2     1 2 0
# class 0: tp 1 (0,0); fn 1 (0,1 -> 1); fp 1 (1,2 <- 2)      -> 1/3
# class 1: tp 2 (0,2) (1,0); fn 0; fp 1 (0,1 <- 0)           -> 2/3
# class 2: tp 1 (1,1); fn 1 (1,2 -> 0); fp 0                 -> 1/2
GT = np.array([[0, 0, 1], [1, 2, 2]], dtype=np.uint8)
PRED = np.array([[0, 1, 1], [1, 2, 0]], dtype=np.uint8)
EXPECTED_IOU = np.array([1 / 3, 2 / 3, 1 / 2])


def scored(pred: np.ndarray, gt: np.ndarray, num_classes: int = 3) -> ConfusionMatrix:
    confusion = ConfusionMatrix(num_classes)
    confusion.update(pred, gt)
    return confusion


def test_hand_computed_iou_and_miou() -> None:
    confusion = scored(PRED, GT)
    np.testing.assert_allclose(confusion.iou(), EXPECTED_IOU, rtol=0, atol=1e-15)
    assert confusion.miou() == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3, abs=1e-15)
    assert confusion.pixel_accuracy() == pytest.approx(4 / 6, abs=1e-15)
    expected_matrix = np.array([[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 1, 0]])
    np.testing.assert_array_equal(confusion.matrix, expected_matrix)
    assert confusion.matrix.dtype == np.int64


def test_ignore_in_gt_is_not_evaluated() -> None:
    gt = GT.copy()
    gt[0, 1] = IGNORE_ID  # that pixel was class 0's false negative and class 1's false positive
    confusion = scored(PRED, gt)
    np.testing.assert_allclose(confusion.iou(), [1 / 2, 1.0, 1 / 2], rtol=0, atol=1e-15)
    assert confusion.matrix.sum() == 5


def test_gt_outside_class_range_is_not_evaluated() -> None:
    gt = GT.astype(np.int32)
    gt[0, 1] = 7
    gt[1, 0] = -1
    confusion = scored(PRED, gt)
    assert confusion.matrix.sum() == 4


def test_void_prediction_counts_as_miss() -> None:
    pred = PRED.copy()
    pred[1, 1] = IGNORE_ID  # class-2 true positive becomes a miss
    confusion = scored(pred, GT)
    # class 2: tp 0, fn 2, fp 0 -> 0; the other classes are unchanged
    np.testing.assert_allclose(confusion.iou(), [1 / 3, 2 / 3, 0.0], rtol=0, atol=1e-15)
    assert confusion.matrix[2, 3] == 1  # last column = predicted void


def test_absent_class_is_nan_and_excluded_from_miou() -> None:
    confusion = scored(PRED, GT, num_classes=5)
    iou = confusion.iou()
    assert np.isnan(iou[3]) and np.isnan(iou[4])
    np.testing.assert_allclose(iou[:3], EXPECTED_IOU, rtol=0, atol=1e-15)
    assert confusion.miou() == pytest.approx(EXPECTED_IOU.mean(), abs=1e-15)


def test_class_only_predicted_has_iou_zero() -> None:
    pred = PRED.copy()
    pred[0, 0] = 4
    assert scored(pred, GT, num_classes=5).iou()[4] == 0.0


def test_predicted_without_ground_truth_counts_only_classes_the_labels_lack() -> None:
    pred = PRED.copy()
    pred[0, 0] = pred[1, 1] = 4  # class 4: absent from GT, predicted twice
    gt = GT.copy()
    gt[1, 1] = IGNORE_ID  # not evaluated: its prediction counts for nothing
    counts = scored(pred, gt, num_classes=5).predicted_without_ground_truth()
    np.testing.assert_array_equal(counts, [0, 0, 0, 0, 1])  # classes 0-2 are in GT; 3 never predicted
    assert counts.dtype == np.int64


def test_empty_matrix_gives_nan_without_warnings() -> None:
    confusion = ConfusionMatrix()
    confusion.update(np.zeros((2, 2), np.uint8), np.full((2, 2), IGNORE_ID, np.uint8))
    with np.errstate(all="raise"):
        assert np.isnan(confusion.iou()).all()
        assert np.isnan(confusion.miou())
        assert np.isnan(confusion.pixel_accuracy())
    assert confusion.iou().shape == (NUM_CLASSES,)


def test_inputs_not_mutated_and_read_only_inputs_work() -> None:
    pred = PRED.copy()
    pred[1, 1] = IGNORE_ID
    gt = GT.copy()
    gt[0, 0] = IGNORE_ID
    pred_before, gt_before = pred.copy(), gt.copy()
    pred.setflags(write=False)
    gt.setflags(write=False)
    scored(pred, gt)
    np.testing.assert_array_equal(pred, pred_before)
    np.testing.assert_array_equal(gt, gt_before)
    assert pred.dtype == np.uint8 and gt.dtype == np.uint8


def test_matrix_property_does_not_expose_internal_state() -> None:
    confusion = scored(PRED, GT)
    confusion.matrix[:] = 0
    np.testing.assert_allclose(confusion.iou(), EXPECTED_IOU, rtol=0, atol=1e-15)


@pytest.mark.parametrize(
    ("pred_shape", "gt_shape"), [((2, 3), (3, 2)), ((6,), (6,)), ((2, 3, 1), (2, 3, 1))]
)
def test_bad_shapes_raise_value_error(pred_shape: tuple, gt_shape: tuple) -> None:
    with pytest.raises(ValueError, match="same shape"):
        ConfusionMatrix(3).update(np.zeros(pred_shape, np.uint8), np.zeros(gt_shape, np.uint8))


def test_float_input_raises_value_error() -> None:
    with pytest.raises(ValueError, match="integer"):
        ConfusionMatrix(3).update(PRED.astype(np.float32), GT)


def test_ignore_id_inside_class_range_raises_value_error() -> None:
    with pytest.raises(ValueError, match="ignore_id"):
        ConfusionMatrix(num_classes=3, ignore_id=2)


def random_pair(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    values = np.array([*range(NUM_CLASSES), IGNORE_ID], dtype=np.uint8)
    return rng.choice(values, size=shape), rng.choice(values, size=shape)


def test_two_updates_equal_one_update_on_concatenation() -> None:
    rng = np.random.default_rng(0)
    pred_a, gt_a = random_pair(rng, (8, 10))
    pred_b, gt_b = random_pair(rng, (8, 10))
    accumulated = ConfusionMatrix()
    accumulated.update(pred_a, gt_a)
    accumulated.update(pred_b, gt_b)
    concatenated = ConfusionMatrix()
    concatenated.update(np.vstack([pred_a, pred_b]), np.vstack([gt_a, gt_b]))
    np.testing.assert_array_equal(accumulated.matrix, concatenated.matrix)
    assert accumulated.matrix.sum() > 0


def test_merge_iadd_and_reset() -> None:
    rng = np.random.default_rng(1)
    pairs = [random_pair(rng, (6, 7)) for _ in range(2)]
    together = ConfusionMatrix()
    parts = [ConfusionMatrix(), ConfusionMatrix()]
    for part, (pred, gt) in zip(parts, pairs):
        part.update(pred, gt)
        together.update(pred, gt)
    merged = ConfusionMatrix().merge(parts[0])
    merged += parts[1]
    np.testing.assert_array_equal(merged.matrix, together.matrix)
    merged.reset()
    assert merged.matrix.sum() == 0
    with pytest.raises(ValueError, match="num_classes"):
        merged.merge(ConfusionMatrix(3))
