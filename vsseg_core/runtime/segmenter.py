"""Single-frame segmentation with the bundle's ``full`` graph (no temporal propagation)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from vsseg_core.bundle import Bundle
from vsseg_core.runtime.base import Backend
from vsseg_core.runtime.processing import Preprocessor, postprocess

STAGES = ("preprocess", "inference", "postprocess", "total")
"""Keys of ``SegmentResult.timings_ms``."""


@dataclass(frozen=True)
class SegmentResult:
    """``labels`` (h, w) uint8 trainIds and ``confidence`` (h, w) float32 in [0, 1] at the
    source resolution; ``timings_ms`` wall-clock milliseconds per stage (``STAGES``)."""

    labels: np.ndarray
    confidence: np.ndarray
    timings_ms: dict[str, float]


class FrameSegmenter:
    """Segments every frame on its own: preprocess -> ``full`` graph -> postprocess."""

    def __init__(self, bundle: Bundle, backend: Backend) -> None:
        self.bundle = bundle
        self.backend = backend
        self.preprocess = Preprocessor(bundle.input_size)

    def warmup(self) -> None:
        """Run one grey frame so session creation and first allocations are not timed later."""
        self.segment(np.full((*self.bundle.input_size, 3), 114, dtype=np.uint8))

    def segment(self, rgb: np.ndarray) -> SegmentResult:
        """RGB (h, w, 3) uint8 frame -> SegmentResult at (h, w)."""
        start = time.perf_counter()
        image, geometry = self.preprocess(rgb)
        prepared = time.perf_counter()
        logits = self.backend.run("full", {"image": image})["logits"]
        inferred = time.perf_counter()
        labels, confidence = postprocess(logits, geometry)
        done = time.perf_counter()
        timings = {"preprocess": prepared - start, "inference": inferred - prepared,
                   "postprocess": done - inferred, "total": done - start}
        return SegmentResult(labels, confidence, {k: v * 1000.0 for k, v in timings.items()})
