"""Temporal consistency (TC) of video segmentation.

TC is the mIoU between the prediction of frame t (the reference) and the prediction of frame
t+1 warped back to frame t with dense optical flow computed on the two input images. Pixels
whose flow leaves the image are not evaluated. A model whose labels follow the scene motion
scores close to 1; one that flickers scores lower.
"""

from __future__ import annotations

import numpy as np

from vsseg_core.flow import dense_flow, in_view_mask, warp_labels_nearest
from vsseg_core.labels import IGNORE_ID, NUM_CLASSES
from vsseg_core.metrics.confusion import ConfusionMatrix


class TemporalConsistency:
    """Accumulates TC over consecutive frame pairs.

    Images are (H, W, 3) uint8 RGB or (H, W) uint8 grey; predictions are (H, W) uint8 trainIds
    (255 = ignore). ``flow_scale`` in (0, 1] is passed to :func:`dense_flow` as ``scale``.
    """

    def __init__(self, num_classes: int = NUM_CLASSES, *, flow_scale: float = 1.0) -> None:
        self._confusion = ConfusionMatrix(num_classes)
        self._flow_scale = flow_scale
        self._previous: tuple[np.ndarray, np.ndarray] | None = None
        self._num_pairs = 0

    @property
    def num_pairs(self) -> int:
        """Number of frame pairs accumulated so far."""
        return self._num_pairs

    @property
    def confusion(self) -> ConfusionMatrix:
        """The accumulated matrix: rows = prediction t, columns = warped prediction t+1."""
        return self._confusion

    def update(
        self,
        image_t: np.ndarray,
        pred_t: np.ndarray,
        image_t1: np.ndarray,
        pred_t1: np.ndarray,
    ) -> None:
        """Score one pair of consecutive frames t and t+1; inputs are not modified."""
        pred_t = np.asarray(pred_t)
        for name, image, pred in (("t", image_t, pred_t), ("t+1", image_t1, pred_t1)):
            if np.shape(pred) != np.shape(image)[:2]:
                raise ValueError(
                    f"prediction {name} has shape {np.shape(pred)} but image {name} is "
                    f"{np.shape(image)[:2]}; predictions must be at input image resolution"
                )
        flow = dense_flow(image_t, image_t1, scale=self._flow_scale)
        warped_t1 = warp_labels_nearest(pred_t1, flow, fill=IGNORE_ID)
        reference = np.where(in_view_mask(flow), pred_t, IGNORE_ID)
        self._confusion.update(warped_t1, reference)
        self._num_pairs += 1

    def push(self, image: np.ndarray, pred: np.ndarray) -> None:
        """Stream one sequence: score (previous frame, this frame); the first push only stores."""
        if self._previous is not None:
            self.update(*self._previous, image, pred)
        self._previous = (np.array(image, copy=True), np.array(pred, copy=True))

    def reset(self) -> None:
        """Sequence boundary: forget the previous pushed frame; accumulated scores are kept."""
        self._previous = None

    def value(self) -> float:
        """TC = mIoU of the accumulated pairs, in [0, 1]; NaN before any pair."""
        return self._confusion.miou()

    def per_class(self) -> np.ndarray:
        """Per-class TC IoU, (num_classes,) float64 in [0, 1]; NaN for classes never seen."""
        return self._confusion.iou()
