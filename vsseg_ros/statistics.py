"""Counters, rates and latency percentiles behind the node's /diagnostics (no rclpy here).

Latencies are kept for the last ``window`` processed frames; rates and every health condition
(failed frames, frames lost in transport, rejected images, the share of dropped frames) are
judged over the last ``rate_window_s`` seconds, so one bad frame does not warn forever;
counters are totals since the node was configured.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from vsseg_core.frame_info import LATENCIES

OK, WARN, ERROR = 0, 1, 2
LOSS_FIX = ("raw frames over 512 KiB need a larger Fast DDS shared-memory segment in the camera "
            "driver: start it with FASTRTPS_DEFAULT_PROFILES_FILE=<share>/vsseg/config/"
            "fastdds_large_frames.xml")


class NodeStatistics:
    """Thread-safe: the subscription callback and the worker thread both record into it."""

    def __init__(self, window: int = 300, rate_window_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._latency = {key: deque(maxlen=window) for key in LATENCIES}
        self._keyframes: deque[bool] = deque(maxlen=window)
        self._inputs: deque[float] = deque()
        self._outputs: deque[float] = deque()
        self._rate_window_s = rate_window_s
        self.received = self.processed = self.dropped = self.rejected = self.failed = 0
        self.lost = self.lost_by_stamps = 0
        self.published = {"color": 0, "overlay": 0, "confidence": 0}
        self.last_error = self.last_rejection = ""
        self._failures: deque[float] = deque()
        self._drops: deque[float] = deque()
        self._rejections: deque[float] = deque()
        self._losses: deque[tuple[float, int]] = deque()  # (time, frames): DDS message-lost events
        self._gaps: deque[tuple[float, int]] = deque()  # (time, frames): missing between stamps
        self._stamps = _StampGaps()

    def frame_received(self, stamp_s: float | None = None) -> None:
        """A valid frame arrived; ``stamp_s`` (its header stamp) also feeds the estimate of
        frames lost between arrivals (``lost_by_stamps``)."""
        with self._lock:
            self.received += 1
            now = self._clock()
            self._inputs.append(now)
            missing = self._stamps.missing(stamp_s) if stamp_s is not None else 0
            if missing:
                self.lost_by_stamps += missing
                self._gaps.append((now, missing))

    def frames_lost(self, count: int) -> None:
        """The middleware reported ``count`` more input samples lost (DDS message-lost event)."""
        with self._lock:
            self.lost += count
            self._losses.append((self._clock(), count))

    def frame_dropped(self) -> None:
        """A waiting frame was replaced by a newer one before it was processed."""
        with self._lock:
            self.dropped += 1
            self._drops.append(self._clock())

    def frame_rejected(self, reason: str = "") -> None:
        with self._lock:
            self.rejected += 1
            self.last_rejection = reason
            self._rejections.append(self._clock())

    def frame_failed(self, error: str) -> None:
        with self._lock:
            self.failed += 1
            self.last_error = error
            self._failures.append(self._clock())

    def frame_processed(self, latencies_ms: dict[str, float], keyframe: bool,
                        published: tuple[str, ...] = ()) -> None:
        """``latencies_ms`` for (a subset of) ``LATENCIES``; a stage the frame did not run
        (0.0) is no sample. ``published``: optional outputs sent."""
        with self._lock:
            self.processed += 1
            self._outputs.append(self._clock())
            self._keyframes.append(keyframe)
            for key, value in latencies_ms.items():
                if value > 0.0:
                    self._latency[key].append(value)
            for name in published:
                self.published[name] += 1

    def _recent(self, stamps: deque[float], now: float) -> int:
        """Forget events older than the window; the number left."""
        while stamps and now - stamps[0] > self._rate_window_s:
            stamps.popleft()
        return len(stamps)

    def _recent_frames(self, events: deque[tuple[float, int]], now: float) -> int:
        """Forget (time, frames) events older than the window; the frames left."""
        while events and now - events[0][0] > self._rate_window_s:
            events.popleft()
        return sum(frames for _, frames in events)

    def _rate(self, stamps: deque[float], now: float) -> float:
        """Events/s between the first and last event of the window (0 with fewer than 2)."""
        if self._recent(stamps, now) < 2 or stamps[-1] == stamps[0]:
            return 0.0
        return (len(stamps) - 1) / (stamps[-1] - stamps[0])

    def snapshot(self) -> dict[str, float | int | str]:
        """Every diagnostic value by key (rates in Hz, latencies in ms)."""
        now = self._clock()
        with self._lock:
            values: dict[str, float | int | str] = {
                "frames received": self.received, "frames processed": self.processed,
                "frames dropped": self.dropped, "frames rejected": self.rejected,
                "frames failed": self.failed,
                "frames lost in transport": self.lost,
                "frames missing by stamps (estimate)": self.lost_by_stamps,
                "input rate (Hz)": self._rate(self._inputs, now),
                "output rate (Hz)": self._rate(self._outputs, now),
                "keyframe ratio": float(np.mean(self._keyframes)) if self._keyframes else 0.0,
            }
            for name, count in self.published.items():
                values[f"{name} images published"] = count
            for key, samples in self._latency.items():
                if samples:
                    p50, p95, p99 = np.percentile(np.asarray(samples), (50, 95, 99))
                    values.update({f"{key} p50 (ms)": float(p50), f"{key} p95 (ms)": float(p95),
                                   f"{key} p99 (ms)": float(p99)})
            return values

    def health(self, active: bool) -> tuple[int, str]:
        """(level, message) for the diagnostic status: every condition of the last
        ``rate_window_s`` seconds, worst first, joined by '; '."""
        with self._lock:
            now = self._clock()
            conditions: list[tuple[int, str]] = []
            window = f"{self._rate_window_s:g} s"
            if failed := self._recent(self._failures, now):
                conditions.append((ERROR, f"{failed} frames failed in the last {window}; last: "
                                          f"{self.last_error}"))
            if not active:
                return conditions[0] if conditions else (OK, "not active")
            # the two signals see the same losses: report the larger
            if lost := max(self._recent_frames(self._losses, now),
                           self._recent_frames(self._gaps, now)):
                conditions.append((WARN, f"{lost} input frames lost in transport in the last "
                                         f"{window}: {LOSS_FIX}"))
            if rejected := self._recent(self._rejections, now):
                conditions.append((WARN, f"{rejected} malformed images rejected in the last "
                                         f"{window}; last: {self.last_rejection}"))
            received = self._recent(self._inputs, now)
            if received and self._recent(self._drops, now) > received // 2:
                conditions.append((WARN, f"more than half of the frames of the last {window} "
                                         "dropped: inference slower than input"))
            if not conditions:
                return OK, "segmenting" if self.processed else "waiting for images"
            return max(level for level, _ in conditions), "; ".join(m for _, m in conditions)


class _StampGaps:
    """Frames missing between arrivals, estimated from the header stamps: the period is the
    median of the last ``history`` stamp steps; a step of k periods (k >= 2, up to
    ``max_step_s``: longer is a pause, not a loss) means k - 1 frames never arrived."""

    def __init__(self, history: int = 15, max_step_s: float = 2.0) -> None:
        self._steps: deque[float] = deque(maxlen=history)
        self._last: float | None = None
        self._max_step_s = max_step_s

    def missing(self, stamp_s: float) -> int:
        last, self._last = self._last, stamp_s
        if last is None or not 0 < stamp_s - last <= self._max_step_s:
            return 0
        step = stamp_s - last
        period = float(np.median(self._steps)) if len(self._steps) >= 5 else None
        self._steps.append(step)
        if period is None or period <= 0:
            return 0
        periods = round(step / period)
        return periods - 1 if periods >= 2 else 0
