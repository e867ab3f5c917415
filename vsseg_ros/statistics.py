"""Counters, rates and latency percentiles behind the node's /diagnostics (no rclpy here).

Latencies are kept for the last ``window`` processed frames; rates, recent failures and the
share of dropped frames are judged over the last ``rate_window_s`` seconds; counters are totals
since the node was configured.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from vsseg_core.frame_info import LATENCIES

OK, WARN, ERROR = 0, 1, 2


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
        self.published = {"color": 0, "overlay": 0, "confidence": 0}
        self.last_error = ""
        self._failures: deque[float] = deque()
        self._drops: deque[float] = deque()

    def frame_received(self) -> None:
        with self._lock:
            self.received += 1
            self._inputs.append(self._clock())

    def frame_dropped(self) -> None:
        """A waiting frame was replaced by a newer one before it was processed."""
        with self._lock:
            self.dropped += 1
            self._drops.append(self._clock())

    def frame_rejected(self) -> None:
        with self._lock:
            self.rejected += 1

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
        """(level, message) for the diagnostic status."""
        with self._lock:
            now = self._clock()
            if self._recent(self._failures, now):
                return ERROR, (f"{len(self._failures)} frames failed in the last "
                               f"{self._rate_window_s:g} s; last: {self.last_error}")
            if not active:
                return OK, "not active"
            if self.rejected:
                return WARN, f"{self.rejected} malformed images rejected"
            received = self._recent(self._inputs, now)
            if received and self._recent(self._drops, now) > received // 2:
                return WARN, (f"more than half of the frames of the last {self._rate_window_s:g} s "
                              "dropped: inference slower than input")
            return OK, "segmenting" if self.processed else "waiting for images"
