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

import numpy as np
import torch

from vsseg_core.data.cityscapes import DatasetError
from vsseg_core.labels import NUM_CLASSES
from vsseg_core.metrics import ConfusionMatrix
from vsseg_core.model.propagation import FeaturePropagation
from vsseg_core.model.pspnet import PSPNet
from vsseg_core.temporal.deviation import feature_deviation
from vsseg_core.flow import grid_flow
from vsseg_core.train.propagation import FrameCache, low_features

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


@torch.no_grad()
def calibrate(model: PSPNet, propagation: FeaturePropagation, cache: FrameCache, *,
              max_distance: int, flow_scale: float, keys_per_sequence: int = 3,
              target_disagreement: float = DEFAULT_TARGET_DISAGREEMENT) -> dict:
    """Measure (deviation, disagreement) pairs on ``cache``'s sequences; see the module
    docstring. Returns the "temporal" calibration record for model.json."""
    model, propagation = model.eval(), propagation.eval()
    low_size = model.config.low_size
    deviations, disagreements, distances = [], [], []
    by_distance = {d: ConfusionMatrix(NUM_CLASSES) for d in range(1, max_distance + 1)}
    keyframe_scores = ConfusionMatrix(NUM_CLASSES)
    key_lows = []
    for seq, frames in enumerate(cache.sequences):
        span = len(frames) - 1
        starts = sorted({int(s) for s in np.linspace(0, max(0, span - max_distance),
                                                     keys_per_sequence)})
        for start in starts:
            key_rgb = cache.image(seq, start)
            key_low = low_features(model, key_rgb[None])
            key_deep = model.forward_high(key_low)
            key_lows.append((seq, key_low.numpy()))
            keyframe_scores.update(model.classify(key_deep, key_low).argmax(1)[0].numpy().astype(np.uint8),
                                   cache.labels(seq, start))
            for distance in range(1, min(max_distance, span - start) + 1):
                rgb = cache.image(seq, start + distance)
                low = low_features(model, rgb[None])
                flow = torch.from_numpy(grid_flow(rgb, key_rgb, low_size, flow_scale))
                propagated = model.classify(propagation(key_deep, key_low, low, flow), low).argmax(1)[0]
                full = model.classify(model.forward_high(low), low).argmax(1)[0]
                deviations.append(feature_deviation(low.numpy(), key_low.numpy()))
                disagreements.append(float((propagated != full).float().mean()))
                distances.append(distance)
                by_distance[distance].update(propagated.numpy().astype(np.uint8),
                                             cache.labels(seq, start + distance))
    deviation, disagreement = np.array(deviations), np.array(disagreements)
    if len(deviation) < 3 or np.ptp(deviation) == 0:
        raise DatasetError(f"only {len(deviation)} frame pairs to calibrate on; --val-data needs "
                           "sequences of several frames (e.g. `vsseg synth --frames 30`)")
    slope, intercept = np.polyfit(deviation, disagreement, 1)
    threshold = (target_disagreement - intercept) / slope if slope > 0 else float(np.median(deviation))
    threshold = float(np.clip(threshold, np.percentile(deviation, 5), np.percentile(deviation, 95)))
    cross = [feature_deviation(a, b) for i, a in key_lows for j, b in key_lows if i != j][:2000]
    within_high = float(np.percentile(deviation[np.array(distances) == 1], 99))
    cross_low = float(np.percentile(cross, 1)) if cross else None
    cut = (within_high + cross_low) / 2 if cross_low is not None and cross_low > within_high else None
    return {
        "default_threshold": threshold,
        "cut_deviation": cut,
        "calibration": {
            "pairs": int(len(deviation)),
            "sequences": len(cache.sequences),
            "target_disagreement": target_disagreement,
            "spearman_deviation_disagreement": spearman(deviation, disagreement),
            "spearman_distance_disagreement": spearman(np.array(distances, float), disagreement),
            "fit": {"slope": float(slope), "intercept": float(intercept)},
            "consecutive_deviation_p99": within_high,
            "cross_sequence_deviation_p1": cross_low,
            "keyframe_miou": keyframe_scores.miou(),
            "by_distance": [
                {"distance": d, "pairs": int(sum(1 for x in distances if x == d)),
                 "deviation_mean": float(deviation[np.array(distances) == d].mean()),
                 "disagreement_mean": float(disagreement[np.array(distances) == d].mean()),
                 "miou": by_distance[d].miou()}
                for d in sorted(set(distances))],
        },
    }
