"""Streaming video segmentation: full network on keyframes, propagation in between.

Per frame (``VideoSegmenter.step``):

    preprocess -> low graph -> deviation from the keyframe's low features -> scheduler
      keyframe:      high graph (deep features + logits); the frame becomes the keyframe
      non-keyframe:  flow mode: DIS flow back to the keyframe -> prop graph (warp + fusion)
                     kernel mode: prop graph (per-location kernels + fusion), no flow
                     -> logits
    -> postprocess (labels + confidence at the frame's resolution)

Low-latency mode (Low-Latency VSS): a keyframe chosen by the policy is first answered by
propagation from the previous keyframe while a worker thread computes its deep features; they
replace the keyframe as soon as they are ready (at the latest when the next keyframe is due).
Forced keyframes (first frame, scene cut, time jump) are always computed synchronously,
because there is nothing valid to propagate from. A scene cut is a low-level feature deviation
from the previous frame above the bundle's calibrated ``cut_deviation``.
"""

from __future__ import annotations

import math
import numbers
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from vsseg_core.bundle import Bundle, BundleError
from vsseg_core.errors import VssegError
from vsseg_core.flow import grid_flow, to_grey
from vsseg_core.runtime.base import Backend
from vsseg_core.runtime.processing import Preprocessor, postprocess
from vsseg_core.temporal.deviation import feature_deviation
from vsseg_core.temporal.policy import (
    Decision,
    KeyframePolicy,
    KeyframeScheduler,
    PerFrame,
    parse_policy,
)

STAGES = ("preprocess", "low", "high", "flow", "prop", "postprocess", "total")
"""Keys of ``VideoResult.timings_ms`` (0.0 for a stage the frame did not run)."""
FORCED_REASONS = ("first_frame", "time_jump", "scene_cut")
"""Keyframe reasons that low-latency mode never answers by propagation."""
DEFAULT_MAX_GAP_S = 0.5
"""A stamp gap above this (seconds) is a time jump and forces a keyframe."""


class StreamError(VssegError, ValueError):
    """A frame or stamp that the stream cannot take (the message says what to do)."""


class FrameSizeChanged(StreamError):
    """A frame whose size differs from the stream's (``restart_on_resize`` starts a new stream
    instead)."""


@dataclass(frozen=True)
class VideoResult:
    """One processed frame.

    ``labels`` (h, w) uint8 trainIds and ``confidence`` (h, w) float32 in [0, 1] at the frame's
    resolution; ``keyframe`` and ``reason`` from the scheduler; ``served_by`` "network" (deep
    features of this frame) or "propagation"; ``deviation`` of the low-level features from the
    keyframe's (None for the first frame); ``timings_ms`` wall-clock ms per ``STAGES``.
    """

    labels: np.ndarray
    confidence: np.ndarray
    keyframe: bool
    reason: str
    served_by: str
    deviation: float | None
    timings_ms: dict[str, float]


@dataclass(frozen=True)
class _Keyframe:
    grey: np.ndarray | None  # (H, W) uint8, network input size (flow mode only)
    low: np.ndarray  # (1, C_low, H/4, W/4)
    deep: np.ndarray  # (1, C_deep, H/os, W/os)


class VideoSegmenter:
    """One instance per camera stream. ``policy``: a policy string (see
    ``vsseg_core.temporal.policy``) or a KeyframePolicy; ``adaptive`` uses the bundle's
    calibrated threshold, and ``max_interval`` (frames) overrides the bundle's for adaptive and
    budget. A frame of another size than the stream's raises FrameSizeChanged, or with
    ``restart_on_resize`` starts a new stream at the new size (a camera that changed its
    resolution). Close it (or use ``with``) to stop the low-latency worker."""

    def __init__(self, bundle: Bundle, backend: Backend, policy: str | KeyframePolicy = "adaptive",
                 *, max_interval: int | None = None, low_latency: bool = False,
                 max_gap_s: float = DEFAULT_MAX_GAP_S, restart_on_resize: bool = False) -> None:
        temporal = bundle.temporal
        self.bundle, self.backend = bundle, backend
        policy = self.resolve_policy(policy, max_interval)
        if not max_gap_s > 0:
            raise ValueError(f"max_gap_s must be > 0, got {max_gap_s}")
        cut = (temporal or {}).get("cut_deviation")
        self.scheduler = KeyframeScheduler(policy, max_gap_s=max_gap_s,
                                           cut_deviation=math.inf if cut is None else float(cut))
        self.flow_scale = float((temporal or {}).get("flow_scale", 0.5))
        self._uses_flow = "prop" in bundle.graphs and "flow" in bundle.graph("prop").inputs
        self.low_latency = low_latency
        self.restart_on_resize = restart_on_resize
        self._preprocess = Preprocessor(bundle.input_size)
        self._low_size = bundle.low_size
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="vsseg-keyframe") if low_latency else None
        self._pending: tuple[np.ndarray, np.ndarray, Future] | None = None
        self._key: _Keyframe | None = None
        self._frame_size: tuple[int, int] | None = None
        self._previous_low: np.ndarray | None = None

    @property
    def policy(self) -> KeyframePolicy:
        return self.scheduler.policy

    def set_policy(self, policy: str | KeyframePolicy, *, max_interval: int | None = None) -> None:
        """Use ``policy`` from the next frame on (the keyframe and stream state stay).
        Raises ConfigError/BundleError like the constructor."""
        self.scheduler.policy = self.resolve_policy(policy, max_interval)

    def resolve_policy(self, policy: str | KeyframePolicy, max_interval: int | None = None
                ) -> KeyframePolicy:
        """Parse a policy string with the bundle's calibrated defaults; check the bundle can
        run it."""
        temporal = self.bundle.temporal or {}
        if isinstance(policy, str):
            policy = parse_policy(policy, default_threshold=temporal.get("default_threshold", 1.0),
                                  max_interval=max_interval or temporal.get("max_interval", 30))
        if not temporal and not isinstance(policy, PerFrame):
            raise BundleError(f"{self.bundle.root}: policy {policy.spec!r} needs the propagation "
                              "graph, which this bundle lacks; run `vsseg train-propagation "
                              f"--model {self.bundle.root}` or use the policy per_frame")
        return policy

    @property
    def frame_size(self) -> tuple[int, int] | None:
        """(h, w) of this stream's frames; None before the first frame (or after ``reset``)."""
        return self._frame_size

    def reset(self) -> None:
        """Start a new stream: forget the keyframe, the frame size and the policy's state."""
        self._collect(wait=True)
        self._key, self._pending, self._frame_size, self._previous_low = None, None, None, None
        self.scheduler.reset()

    def close(self) -> None:
        """Stop the low-latency worker (the backend stays open: it belongs to the caller)."""
        if self._worker is not None:
            self._worker.shutdown(wait=True)
            self._worker = None

    def __enter__(self) -> VideoSegmenter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def warmup(self) -> None:
        """Run every graph the policy needs once on zeros, so that session creation and first
        allocations are not timed later; the stream state is untouched."""
        graphs = ("low", "high") + (("prop",) if "prop" in self.bundle.graphs else ())
        for graph in graphs:
            spec = self.bundle.graph(graph)
            self.backend.run(graph, {k: np.zeros(v, np.float32) for k, v in spec.inputs.items()})

    def _collect(self, *, wait: bool) -> None:
        """Swap in a keyframe computed by the worker (waiting for it if ``wait``)."""
        if self._pending is not None and (wait or self._pending[2].done()):
            grey, low, future = self._pending
            self._pending = None
            self._key = _Keyframe(grey, low, future.result())

    def _check(self, image: np.ndarray, stamp: float) -> None:
        """Raise StreamError for a bad stamp, FrameSizeChanged for a new frame size (or, with
        ``restart_on_resize``, start a new stream)."""
        if not isinstance(stamp, numbers.Real) or not math.isfinite(stamp):
            raise StreamError(f"stamp must be a finite number of seconds, got {stamp!r}")
        size = tuple(np.shape(image)[:2])
        if self._frame_size is None or size == self._frame_size:
            return
        if self.restart_on_resize:
            self.reset()
            return
        raise FrameSizeChanged(f"frame size changed mid-stream from {self._frame_size[0]}x"
                               f"{self._frame_size[1]} to {size[0]}x{size[1]}; call reset() to "
                               "start a new stream at the new size")

    def step(self, image: np.ndarray, stamp: float) -> VideoResult:
        """Segment the next frame: ``image`` (h, w, 3) uint8 RGB or (h, w) uint8 grey,
        ``stamp`` its capture time in seconds. Raises StreamError (size change, bad stamp) or
        ValueError (not a uint8 image) without changing the stream's state."""
        self._check(image, stamp)
        timer = _StageTimer()
        tensor, geometry = self._preprocess(image)
        self._frame_size = geometry.source_size
        grey = to_grey(tensor[0].transpose(1, 2, 0).astype(np.uint8)) if self._uses_flow else None
        timer.lap("preprocess")
        low = self.backend.run("low", {"image": tensor})["low"]
        timer.lap("low")
        decision, deviation = self._decide(low, float(stamp))
        asynchronous = (decision.keyframe and self.low_latency and self._key is not None
                        and decision.reason not in FORCED_REASONS)
        if decision.keyframe and not asynchronous:
            logits, served_by = self._run_keyframe(grey, low), "network"
            timer.lap("high")
        else:
            if asynchronous:
                self._start_keyframe(grey, low)
            logits, served_by = self._propagate(grey, low, timer), "propagation"
        labels, confidence = postprocess(logits, geometry)
        timer.lap("postprocess")
        timings = timer.finish()
        self.policy.observe(decision.keyframe, timings["total"])
        return VideoResult(labels, confidence, decision.keyframe, decision.reason, served_by,
                           deviation, timings)

    def _decide(self, low: np.ndarray, stamp: float) -> tuple[Decision, float | None]:
        """The scheduler's decision for a frame with low-level features ``low``, and the
        frame's deviation from the keyframe's (None without a keyframe)."""
        self._collect(wait=False)
        reference = self._pending[1] if self._pending is not None else (
            self._key.low if self._key is not None else None)
        deviation = None if reference is None else feature_deviation(low, reference)
        change = None if self._previous_low is None else feature_deviation(low, self._previous_low)
        self._previous_low = low.copy()
        return self.scheduler.decide(stamp, deviation, change), deviation

    def _run_keyframe(self, grey: np.ndarray | None, low: np.ndarray) -> np.ndarray:
        """Deep features of this frame (it becomes the keyframe); returns its logits."""
        self._collect(wait=True)
        outputs = self.backend.run("high", {"low": low})
        self._key = _Keyframe(grey, low.copy(), outputs["deep"].copy())
        return outputs["logits"]

    def _start_keyframe(self, grey: np.ndarray | None, low: np.ndarray) -> None:
        """Low-latency mode: compute this frame's deep features in the worker; they replace
        the keyframe once ready (``_collect``)."""
        self._collect(wait=True)
        if self._worker is None:
            raise StreamError("this VideoSegmenter is closed; create a new one")
        low = low.copy()  # outputs may be backend buffers (see runtime.base)
        future = self._worker.submit(lambda: self.backend.run("high", {"low": low})["deep"].copy())
        self._pending = (grey, low, future)

    def _propagate(self, grey: np.ndarray | None, low: np.ndarray, timer: _StageTimer) -> np.ndarray:
        """Logits of this frame from the keyframe's deep features by the ``prop`` graph (fusion
        with ``low``), after DIS flow back to the keyframe in the flow mode."""
        key = self._key
        assert key is not None  # the first frame is always a keyframe
        inputs = {"key_deep": key.deep, "key_low": key.low, "low": low}
        if self._uses_flow:
            inputs["flow"] = grid_flow(grey, key.grey, self._low_size, self.flow_scale)
            timer.lap("flow")
        logits = self.backend.run("prop", inputs)["logits"]
        timer.lap("prop")
        return logits


class _StageTimer:
    """Wall-clock ms per ``STAGES`` key: each ``lap(stage)`` charges the time since the
    previous lap (or the start) to ``stage``; stages without a lap stay 0.0."""

    def __init__(self) -> None:
        self._start = self._mark = time.perf_counter()
        self._ms = dict.fromkeys(STAGES, 0.0)

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self._ms[stage], self._mark = (now - self._mark) * 1000.0, now

    def finish(self) -> dict[str, float]:
        """The timings, with ``total`` from the start to the last lap."""
        self._ms["total"] = (self._mark - self._start) * 1000.0
        return self._ms
