"""Scores of a segmentation: ``ConfusionMatrix`` (per-class IoU and mIoU over trainIds,
``confusion``) and ``TemporalConsistency`` (agreement of consecutive predictions through optical
flow, ``temporal_consistency``)."""

from vsseg_core.metrics.confusion import ConfusionMatrix
from vsseg_core.metrics.temporal_consistency import TemporalConsistency

__all__ = ["ConfusionMatrix", "TemporalConsistency"]
