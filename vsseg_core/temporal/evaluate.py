"""Evaluate a keyframe policy on a Cityscapes-layout dataset: accuracy, consistency, speed.

Every sequence is streamed in order through one ``VideoSegmenter`` (reset between sequences),
with stamps index / fps. Scored:

- mIoU over every labelled frame. Synthetic data labels every frame. Real Cityscapes labels
  only frame 19 of each 30-frame snippet; the stream then starts at the snippet's frame 0, so
  the annotated frame is served wherever the policy's keyframes fall before it (for fixed:K,
  frame 19 is 19 mod K frames after a keyframe).
- TC (temporal consistency of consecutive predictions, ``TemporalConsistency``).
- keyframe ratio, latency per frame (all, keyframes, propagated), mean ms per stage (all
  frames, and by frame type) and frames/s = frames / total processing time
  (pre/post-processing and inference, not disk reads).

The JSON record (``evaluate_policy``) has the keys the issue tracker and `vsseg bench` use:
policy, miou, tc (fractions 0-1), per_class_iou, keyframe_ratio, fps, latency_ms
{mean, p50, p95, p99}, frames, backend, machine — plus latency by frame type, stage means,
the keyframe reasons and ``shortfall`` (why the policy could not do what it was asked, e.g. a
budget below the cost of a propagated frame; None when it could).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vsseg_core.bundle import Bundle
from vsseg_core.data.cityscapes import CityscapesDataset, DatasetError, dataset_fps
from vsseg_core.labels import CLASS_NAMES
from vsseg_core.machine import describe_machine
from vsseg_core.metrics import ConfusionMatrix, TemporalConsistency
from vsseg_core.runtime.base import Backend
from vsseg_core.temporal.video import STAGES, VideoSegmenter

TC_FLOW_SCALE = 0.5
"""DIS scale for the TC metric's flow (full resolution is 3x slower, same ranking)."""


def latency_summary(values_ms: list[float]) -> dict[str, float] | None:
    """{mean, p50, p95, p99} of per-frame latencies in ms; None for no frames."""
    if not values_ms:
        return None
    values = np.asarray(values_ms)
    return {"mean": float(values.mean()), "p50": float(np.percentile(values, 50)),
            "p95": float(np.percentile(values, 95)), "p99": float(np.percentile(values, 99))}


def _nan_to_none(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


class StreamScores:
    """Accumulates what a policy record reports, frame by frame, from any source (a dataset
    streamed here, or a segmented bag)."""

    def __init__(self) -> None:
        self.confusion, self.tc = ConfusionMatrix(), TemporalConsistency(flow_scale=TC_FLOW_SCALE)
        self.totals: dict[str, list[float]] = {"all": [], "keyframe": [], "propagated": []}
        self.stages: dict[str, list[float]] = {stage: [] for stage in STAGES}
        self.stages_by_type: dict[str, dict[str, list[float]]] = {
            kind: {stage: [] for stage in STAGES} for kind in ("keyframe", "propagated")}
        self.reasons: Counter[str] = Counter()
        self.keyframes = self.labelled = 0

    def new_sequence(self) -> None:
        self.tc.reset()

    def add(self, image: np.ndarray | None, labels: np.ndarray, truth: np.ndarray | None, *,
            keyframe: bool, reason: str, propagated: bool, timings_ms: dict[str, float]) -> None:
        """One frame: its input ``image`` (for TC; None skips TC), predicted ``labels``,
        ground truth (or None), the keyframe decision and per-stage ms (``STAGES`` keys)."""
        self.totals["all"].append(timings_ms["total"])
        self.totals["propagated" if propagated else "keyframe"].append(timings_ms["total"])
        for stage in STAGES:
            self.stages[stage].append(timings_ms.get(stage, 0.0))
            self.stages_by_type["propagated" if propagated else "keyframe"][stage].append(
                timings_ms.get(stage, 0.0))
        self.keyframes += keyframe
        if keyframe:
            self.reasons[reason] += 1
        if truth is not None:
            self.confusion.update(labels, truth)
            self.labelled += 1
        if image is not None:
            self.tc.push(image, labels)

    @property
    def frames(self) -> int:
        return len(self.totals["all"])

    def miou(self) -> float | None:
        """mIoU (0-1) over the labelled frames; None without labels."""
        return _nan_to_none(self.confusion.miou()) if self.labelled else None

    def per_class_iou(self) -> dict[str, float | None]:
        """IoU (0-1) by class name; None for a class absent from labels and predictions, and
        for every class without labels."""
        return {name: (_nan_to_none(v) if self.labelled else None)
                for name, v in zip(CLASS_NAMES, self.confusion.iou())}

    def stage_latency(self) -> dict[str, dict[str, float]]:
        """{stage: {mean, p95}} in ms per ``STAGES`` key, over every frame."""
        return {stage: {"mean": float(np.mean(v)), "p95": float(np.percentile(v, 95))}
                for stage, v in self.stages.items()}

    def record(self, *, policy: str, backend: str, machine: str, **extra) -> dict:
        """The JSON record (module docstring) plus ``extra`` keys."""
        frames = self.frames
        if not frames:
            raise DatasetError("no frames were segmented")
        return {
            "policy": policy,
            "miou": self.miou(),
            "tc": _nan_to_none(self.tc.value()),
            "per_class_iou": self.per_class_iou(),
            "keyframe_ratio": self.keyframes / frames,
            "fps": frames / (sum(self.totals["all"]) / 1000.0),
            "latency_ms": latency_summary(self.totals["all"]),
            "latency_ms_by_type": {"keyframe": latency_summary(self.totals["keyframe"]),
                                   "propagated": latency_summary(self.totals["propagated"])},
            "stage_mean_ms": {stage: float(np.mean(v)) for stage, v in self.stages.items()},
            "stage_mean_ms_by_type": {
                kind: ({stage: float(np.mean(v)) for stage, v in stages.items()}
                       if stages["total"] else None)
                for kind, stages in self.stages_by_type.items()},
            "keyframe_reasons": dict(self.reasons),
            "frames": frames,
            "labelled_frames": self.labelled,
            "backend": backend,
            "machine": machine,
            **extra,
        }


def evaluate_policy(data: str | Path, split: str, bundle: Bundle, backend: Backend, policy: str,
                    *, low_latency: bool = False, max_sequences: int | None = None,
                    progress: bool = True) -> dict:
    """Stream every sequence of ``data``/``split`` with ``policy``; returns the JSON record
    described in the module docstring."""
    dataset = CityscapesDataset(data, split)
    sequences = dataset.sequences[:max_sequences]
    if not sequences:
        raise DatasetError(f"{data} ({split}) has no sequences to evaluate")
    fps = dataset_fps(data)
    scores = StreamScores()
    shortfall = None
    with VideoSegmenter(bundle, backend, policy, low_latency=low_latency) as segmenter:
        segmenter.warmup()
        total = sum(len(s) for s in sequences)
        with tqdm(total=total, unit="frame", desc=f"eval {segmenter.policy.spec}",
                  disable=not progress, mininterval=1.0) as bar:
            for sequence in sequences:
                segmenter.reset()
                scores.new_sequence()
                for record in sequence:
                    rgb = record.load_image()
                    result = segmenter.step(rgb, record.fid.frame / fps)
                    scores.add(rgb, result.labels, record.load_labels(), keyframe=result.keyframe,
                               reason=result.reason, propagated=result.served_by == "propagation",
                               timings_ms=result.timings_ms)
                    bar.update(1)
                shortfall = segmenter.policy.shortfall() or shortfall
        spec = segmenter.policy.spec
    return scores.record(policy=spec, backend=f"{backend.name} ({backend.device}, {backend.precision})",
                         machine=describe_machine(backend.device), low_latency=low_latency, shortfall=shortfall,
                         sequences=len(sequences), data=str(data))
