"""Semantic segmentation scores: the project's one confusion matrix and mIoU.

Semantics follow cityscapesscripts' ``evalPixelLevelSemanticLabeling``:

* pixels whose ground truth is the ignore id (or any value outside ``[0, num_classes)``) are
  not evaluated at all, so predictions there are neither right nor wrong;
* a prediction outside ``[0, num_classes)`` (e.g. 255) on an evaluated pixel is a miss: a false
  negative for the ground-truth class and a false positive for no class;
* IoU = tp / (tp + fp + fn) per class; a class with tp + fp + fn == 0 (absent from ground truth
  and predictions) has IoU NaN and is left out of the mean.
"""

from __future__ import annotations

import numpy as np

from vsseg_core.labels import IGNORE_ID, NUM_CLASSES


class ConfusionMatrix:
    """Pixel counts of (ground-truth class, predicted class) accumulated over images.

    The matrix has shape (num_classes, num_classes + 1), dtype int64: row = ground-truth
    trainId, column = predicted trainId, and the last column counts "predicted void", i.e.
    predictions outside ``[0, num_classes)`` on evaluated pixels.
    """

    def __init__(self, num_classes: int = NUM_CLASSES, ignore_id: int = IGNORE_ID) -> None:
        """``ignore_id`` marks unevaluated ground truth; it must lie outside the class range."""
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if 0 <= ignore_id < num_classes:
            raise ValueError(
                f"ignore_id {ignore_id} is a valid class id (0..{num_classes - 1}); "
                "choose an ignore id outside that range, e.g. 255"
            )
        self._num_classes = num_classes
        self._ignore_id = ignore_id
        self._matrix = np.zeros((num_classes, num_classes + 1), dtype=np.int64)

    @property
    def num_classes(self) -> int:
        return self._num_classes

    @property
    def ignore_id(self) -> int:
        return self._ignore_id

    @property
    def matrix(self) -> np.ndarray:
        """A copy of the counts, (num_classes, num_classes + 1) int64; last column = void."""
        return self._matrix.copy()

    def update(self, pred: np.ndarray, gt: np.ndarray) -> None:
        """Add one image: ``pred`` and ``gt`` are (H, W) integer trainId arrays, never modified."""
        pred = np.asarray(pred)
        gt = np.asarray(gt)
        if pred.shape != gt.shape or gt.ndim != 2:
            raise ValueError(
                f"pred and gt must be (H, W) arrays of the same shape, got pred {pred.shape} "
                f"and gt {gt.shape}"
            )
        for name, array in (("pred", pred), ("gt", gt)):
            if not np.issubdtype(array.dtype, np.integer):
                raise ValueError(
                    f"{name} must hold integer class ids, got dtype {array.dtype}; "
                    "take the argmax of scores before scoring"
                )
        n = self._num_classes
        evaluated = (gt >= 0) & (gt < n)
        gt_ids = gt[evaluated].astype(np.int64)
        pred_ids = pred[evaluated].astype(np.int64)
        pred_ids[(pred_ids < 0) | (pred_ids >= n)] = n
        counts = np.bincount(gt_ids * (n + 1) + pred_ids, minlength=n * (n + 1))
        self._matrix += counts.reshape(n, n + 1)

    def merge(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """Add the counts of ``other`` (same num_classes) to this matrix; returns self."""
        if not isinstance(other, ConfusionMatrix):
            raise ValueError(f"can only merge a ConfusionMatrix, got {type(other).__name__}")
        if other.num_classes != self._num_classes:
            raise ValueError(
                f"cannot merge a {other.num_classes}-class matrix into a "
                f"{self._num_classes}-class one; score both with the same num_classes"
            )
        self._matrix += other._matrix
        return self

    def __iadd__(self, other: ConfusionMatrix) -> ConfusionMatrix:
        return self.merge(other)

    def reset(self) -> None:
        """Set all counts back to zero."""
        self._matrix[:] = 0

    def _true_positives(self) -> np.ndarray:
        return np.diagonal(self._matrix).copy()

    def iou(self) -> np.ndarray:
        """Per-class IoU, (num_classes,) float64 in [0, 1]; NaN where tp + fp + fn == 0."""
        tp = self._true_positives()
        fn = self._matrix.sum(axis=1) - tp
        fp = self._matrix[:, : self._num_classes].sum(axis=0) - tp
        denominator = tp + fp + fn
        scores = np.full(self._num_classes, np.nan)
        np.divide(tp, denominator, out=scores, where=denominator > 0)
        return scores

    def predicted_without_ground_truth(self) -> np.ndarray:
        """Per class, (num_classes,) int64: evaluated pixels predicted as a class that the ground
        truth never contains (0 for every class the ground truth has). Such a class scores IoU 0
        however few its pixels, which moves the mIoU of small samples (one sequence) a lot."""
        in_ground_truth = self._matrix.sum(axis=1) > 0
        predicted = self._matrix[:, : self._num_classes].sum(axis=0)
        return np.where(in_ground_truth, 0, predicted)

    def miou(self) -> float:
        """Mean IoU over classes with a defined IoU, in [0, 1]; NaN if there is none."""
        scores = self.iou()
        defined = scores[~np.isnan(scores)]
        return float(defined.mean()) if defined.size else float("nan")

    def pixel_accuracy(self) -> float:
        """Correct / evaluated pixels, in [0, 1]; NaN if no pixel was evaluated."""
        evaluated = int(self._matrix.sum())
        return int(self._true_positives().sum()) / evaluated if evaluated else float("nan")
