"""Calibrate the keyframe rules of a bundle from measurements on labelled sequences.

For keyframes spread over each sequence and distances 1..K, measure the low-level feature
deviation (``feature_deviation``) and how much propagation disagrees with the full network on
the current frame (fraction of pixels whose label differs). From those pairs:

- ``default_threshold``: deviation at which a straight-line fit of disagreement on deviation
  reaches ``target_disagreement`` (kept within the 5th..95th percentile of deviations) — the
  threshold `adaptive` uses without a number;
- ``cut_deviation``: a frame-to-frame deviation above it is a scene cut and forces a keyframe;
  the midpoint between the 99th percentile of deviations between consecutive frames and the
  1st percentile of deviations between frames of different sequences, or null (no cut rule)
  when the two overlap;
- the Spearman rank correlations of disagreement with the deviation and with the distance in
  frames (what a fixed interval uses): the evidence for or against choosing keyframes by
  deviation.
"""

from __future__ import annotations

import math

from dataclasses import dataclass, field

import numpy as np
import torch

from vsseg_core.data.cityscapes import DatasetError
from vsseg_core.labels import NUM_CLASSES
from vsseg_core.metrics import ConfusionMatrix
from vsseg_core.model.graphs import Propagation
from vsseg_core.model.pspnet import PSPNet
from vsseg_core.temporal.deviation import feature_deviation
from vsseg_core.flow import grid_flow
from vsseg_core.train.propagation import FrameCache, low_features, propagate

DEFAULT_TARGET_DISAGREEMENT = 0.03
"""Fraction of pixels where propagation may disagree with the full network before a keyframe."""


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 of a 1-D array, tied values sharing their mean rank."""
    ranks = np.empty(len(values))
    ranks[np.argsort(values, kind="stable")] = np.arange(len(values))
    _, groups, counts = np.unique(values, return_inverse=True, return_counts=True)
    return (np.bincount(groups, weights=ranks) / counts)[groups]


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation of two 1-D arrays (ties get their mean rank)."""
    return float(np.corrcoef(_ranks(np.asarray(x, float)), _ranks(np.asarray(y, float)))[0, 1])


@dataclass
class _Measurements:
    """What ``calibrate`` measures: one entry per (keyframe, frame at distance d) pair in
    ``deviations`` / ``disagreements`` (fraction of pixels) / ``distances`` (frames), the
    propagated masks' scores per distance, the keyframes' own scores, and each keyframe's
    low-level features (sequence index, (1, C, h, w) float32) for the cross-sequence deviations."""

    max_distance: int
    deviations: list[float] = field(default_factory=list)
    disagreements: list[float] = field(default_factory=list)
    distances: list[int] = field(default_factory=list)
    by_distance: dict[int, ConfusionMatrix] = field(init=False)
    keyframe_scores: ConfusionMatrix = field(default_factory=lambda: ConfusionMatrix(NUM_CLASSES))
    key_lows: list[tuple[int, np.ndarray]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.by_distance = {d: ConfusionMatrix(NUM_CLASSES) for d in range(1, self.max_distance + 1)}


@torch.no_grad()
def calibrate(model: PSPNet, propagation: Propagation, cache: FrameCache, *,
              max_distance: int, flow_scale: float, keys_per_sequence: int = 3,
              target_disagreement: float = DEFAULT_TARGET_DISAGREEMENT) -> dict:
    """Measure (deviation, disagreement) pairs on ``cache``'s sequences; see the module
    docstring. Returns the "temporal" calibration record for model.json."""
    model, propagation = model.eval(), propagation.eval()
    measured = _Measurements(max_distance)
    for seq, frames in enumerate(cache.sequences):
        span = len(frames) - 1
        for start in _keyframe_starts(span, max_distance, keys_per_sequence):
            _measure_from_keyframe(model, propagation, cache, seq, start,
                                   min(max_distance, span - start), flow_scale, measured)
    deviation, disagreement = np.array(measured.deviations), np.array(measured.disagreements)
    if len(deviation) < 3 or np.ptp(deviation) == 0:
        raise DatasetError(f"only {len(deviation)} frame pairs to calibrate on; --val-data needs "
                           "sequences of several frames (e.g. `vsseg synth --frames 30`)")
    threshold, slope, intercept = _fit_threshold(deviation, disagreement, target_disagreement)
    cut, within_high, cross_low = _cut_rule(deviation, measured.distances, measured.key_lows)
    return {
        "default_threshold": threshold,
        "cut_deviation": cut,
        "calibration": {
            "pairs": int(len(deviation)),
            "sequences": len(cache.sequences),
            "target_disagreement": target_disagreement,
            "spearman_deviation_disagreement": spearman(deviation, disagreement),
            "spearman_distance_disagreement": spearman(np.array(measured.distances, float), disagreement),
            "fit": {"slope": float(slope), "intercept": float(intercept)},
            "consecutive_deviation_p99": within_high,
            "cross_sequence_deviation_p1": cross_low,
            "keyframe_miou": _miou(measured.keyframe_scores),
            "by_distance": _by_distance(deviation, disagreement, measured),
        },
    }


def _keyframe_starts(span: int, max_distance: int, keys_per_sequence: int) -> list[int]:
    """Up to ``keys_per_sequence`` keyframe indices spread evenly over a sequence of
    ``span + 1`` frames, leaving ``max_distance`` frames after them where there is room."""
    return sorted({int(s) for s in np.linspace(0, max(0, span - max_distance), keys_per_sequence)})


def _measure_from_keyframe(model: PSPNet, propagation: Propagation, cache: FrameCache,
                           seq: int, start: int, max_distance: int, flow_scale: float,
                           measured: _Measurements) -> None:
    """Add to ``measured`` the keyframe ``start`` of sequence ``seq`` and, for each of the
    next ``max_distance`` frames, its deviation from the keyframe, the disagreement of the
    propagated mask with the full network's, and the propagated mask's score."""
    key_rgb = cache.image(seq, start)
    key_low = low_features(model, key_rgb[None])
    key_deep = model.forward_high(key_low)
    measured.key_lows.append((seq, key_low.numpy()))
    _score(measured.keyframe_scores, model.classify(key_deep, key_low).argmax(1)[0],
           cache.labels(seq, start))
    for distance in range(1, max_distance + 1):
        rgb = cache.image(seq, start + distance)
        low = low_features(model, rgb[None])
        flow = (grid_flow(rgb, key_rgb, model.config.low_size, flow_scale)
                if "flow" in propagation.inputs else None)
        propagated = model.classify(propagate(propagation, key_deep, key_low, low, flow),
                                    low).argmax(1)[0]
        full = model.classify(model.forward_high(low), low).argmax(1)[0]
        measured.deviations.append(feature_deviation(low.numpy(), key_low.numpy()))
        measured.disagreements.append(float((propagated != full).float().mean()))
        measured.distances.append(distance)
        _score(measured.by_distance[distance], propagated, cache.labels(seq, start + distance))


def _score(scores: ConfusionMatrix, predicted: torch.Tensor, truth: np.ndarray | None) -> None:
    """Add (H, W) ``predicted`` trainIds to ``scores`` where the frame is labelled."""
    if truth is not None:
        scores.update(predicted.numpy().astype(np.uint8), truth)


def _miou(scores: ConfusionMatrix) -> float | None:
    """mIoU in [0, 1]; None (JSON null) when no labelled frame was scored."""
    miou = scores.miou()
    return None if math.isnan(miou) else miou


def _fit_threshold(deviation: np.ndarray, disagreement: np.ndarray,
                   target_disagreement: float) -> tuple[float, float, float]:
    """(threshold, slope, intercept): the deviation where the straight-line fit of
    disagreement on deviation reaches ``target_disagreement`` (the median deviation when the
    fit does not rise), clipped to the 5th..95th percentile of ``deviation``."""
    slope, intercept = np.polyfit(deviation, disagreement, 1)
    threshold = (target_disagreement - intercept) / slope if slope > 0 else float(np.median(deviation))
    threshold = float(np.clip(threshold, np.percentile(deviation, 5), np.percentile(deviation, 95)))
    return threshold, slope, intercept


def _cut_rule(deviation: np.ndarray, distances: list[int], key_lows: list[tuple[int, np.ndarray]]
              ) -> tuple[float | None, float, float | None]:
    """(cut_deviation, p99 of consecutive-frame deviations, p1 of cross-sequence deviations):
    the cut is the midpoint of the two, None when they overlap or there is no second sequence."""
    cross = [feature_deviation(a, b) for i, a in key_lows for j, b in key_lows if i != j][:2000]
    within_high = float(np.percentile(deviation[np.array(distances) == 1], 99))
    cross_low = float(np.percentile(cross, 1)) if cross else None
    cut = (within_high + cross_low) / 2 if cross_low is not None and cross_low > within_high else None
    return cut, within_high, cross_low


def _by_distance(deviation: np.ndarray, disagreement: np.ndarray, measured: _Measurements) -> list[dict]:
    """Per distance d (frames) that was measured: pair count, mean deviation, mean
    disagreement and the mIoU of the propagated masks."""
    distances = measured.distances
    return [
        {"distance": d, "pairs": int(sum(1 for x in distances if x == d)),
         "deviation_mean": float(deviation[np.array(distances) == d].mean()),
         "disagreement_mean": float(disagreement[np.array(distances) == d].mean()),
         "miou": _miou(measured.by_distance[d])}
        for d in sorted(set(distances))]
