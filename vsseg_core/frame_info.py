"""The per-frame record of msg/SegmentationInfo, in one table: which latency each of
``VideoSegmenter``'s stages is, and the message fields they fill. The node publishes it, `vsseg
bag segment` writes it, `vsseg bag eval` reads it back, and the node's /diagnostics keeps
percentiles of the same latencies.
"""

from __future__ import annotations

import math

from vsseg_core.temporal.video import STAGES, VideoResult, VideoSegmenter

LATENCIES = ("conversion", "preprocess", "low", "high", "flow", "prop", "postprocess",
             "segmentation", "publish", "end_to_end")
"""Per-frame latencies (ms) in pipeline order; SegmentationInfo has a field ``<name>_ms`` for
each. ``conversion``: message -> array; ``segmentation``: ``VideoResult`` total; ``publish``:
outputs -> messages; ``end_to_end``: image received -> outputs published."""
STAGE_LATENCY = {stage: "segmentation" if stage == "total" else stage for stage in STAGES}
"""``VideoResult.timings_ms`` key -> its name in ``LATENCIES``."""


def frame_latencies(result: VideoResult, *, conversion_ms: float, publish_ms: float,
                    end_to_end_ms: float) -> dict[str, float]:
    """Every ``LATENCIES`` entry (ms) of one frame; a stage the frame did not run is 0.0."""
    stages = {STAGE_LATENCY[stage]: ms for stage, ms in result.timings_ms.items()}
    measured = {**stages, "conversion": conversion_ms, "publish": publish_ms,
                "end_to_end": end_to_end_ms}
    return {name: measured[name] for name in LATENCIES}


def info_fields(result: VideoResult, segmenter: VideoSegmenter,
                latencies_ms: dict[str, float]) -> dict:
    """The fields of msg/SegmentationInfo (all but the header) for ``result``, with
    ``latencies_ms`` from ``frame_latencies``."""
    backend = segmenter.backend
    return dict(
        keyframe=result.keyframe, keyframe_reason=result.reason,
        served_by_propagation=result.served_by == "propagation",
        frames_since_keyframe=segmenter.scheduler.frames_since_keyframe,
        deviation=math.nan if result.deviation is None else float(result.deviation),
        **{f"{name}_ms": latencies_ms[name] for name in LATENCIES},
        backend=backend.name, precision=backend.precision, policy=segmenter.policy.spec)


def stage_timings(info: object) -> dict[str, float]:
    """``VideoResult.timings_ms`` (every ``STAGES`` key, ms) read back from a SegmentationInfo
    message."""
    return {stage: float(getattr(info, f"{STAGE_LATENCY[stage]}_ms")) for stage in STAGES}
