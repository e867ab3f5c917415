"""INT8 calibration batches: recorded graph inputs handed out in the engine's batch size.

The inputs come from the pipeline itself (``vsseg_core.engine_check.record_graph_inputs``);
this module only checks and batches them. No TensorRT import here; the backend wraps
``CalibrationBatches`` in TensorRT's calibrator.

    batches = CalibrationBatches(bundle.graph("high"), inputs["high"])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vsseg_core.bundle import GraphSpec
from vsseg_core.errors import VssegError


class CalibrationError(VssegError, ValueError):
    """Calibration data that cannot be used (missing, empty, wrong shapes)."""


class CalibrationBatches:
    """Hands out ``samples`` (dicts of arrays of ``spec``'s input shapes) as batches of the
    engine's batch size (the first dimension of ``spec``'s inputs), in order; ``next()`` gives
    None when no full batch is left (a last partial batch is dropped)."""

    def __init__(self, spec: GraphSpec, samples: Sequence[dict[str, np.ndarray]]) -> None:
        self.spec = spec
        batch_sizes = {shape[0] for shape in spec.inputs.values()}
        if len(batch_sizes) != 1:
            raise CalibrationError(f"graph {spec.name!r}: inputs disagree on the batch size "
                                   f"({spec.inputs})")
        self.batch_size = batch_sizes.pop()
        for number, sample in enumerate(samples):
            if set(sample) != set(spec.inputs):
                raise CalibrationError(f"graph {spec.name!r} calibration sample {number} has "
                                       f"inputs {sorted(sample)}, expected {sorted(spec.inputs)}")
            for name, shape in spec.inputs.items():
                per_sample = (1, *shape[1:])
                if sample[name].shape != per_sample or sample[name].dtype != np.float32:
                    raise CalibrationError(
                        f"graph {spec.name!r} calibration sample {number} input {name!r} is "
                        f"{sample[name].dtype} {sample[name].shape}, expected float32 {per_sample}")
        self._samples = list(samples)
        self._position = 0

    def __len__(self) -> int:
        """Number of full batches."""
        return len(self._samples) // self.batch_size

    def next(self) -> dict[str, np.ndarray] | None:
        """The next batch {input name: (batch, ...) float32 contiguous array}, or None."""
        end = self._position + self.batch_size
        if end > len(self._samples):
            return None
        chunk = self._samples[self._position:end]
        self._position = end
        return {name: np.ascontiguousarray(np.concatenate([s[name] for s in chunk]))
                for name in self.spec.inputs}
