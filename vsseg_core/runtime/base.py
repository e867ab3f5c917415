"""The one interface every inference backend implements.

A backend runs the bundle graphs (``low``, ``high``, ``full``; see ``vsseg_core.bundle``) with
named, static-shape float32 inputs and returns named outputs.

Output ownership: ``run`` returns arrays the caller owns for the ONNX Runtime and PyTorch
backends. A backend with preallocated buffers (e.g. TensorRT) may instead return views of them
that stay valid only until the next ``run`` of the same graph; callers that keep outputs beyond
that must copy them.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

import numpy as np

from vsseg_core.bundle import Bundle
from vsseg_core.errors import VssegError

DEVICES = ("auto", "cpu", "cuda")
"""Device requests every backend accepts, besides ``cuda:N`` (one GPU); see ``device_problem``."""
DEVICE_HELP = "auto, cpu, cuda or cuda:N"


class BackendError(VssegError, RuntimeError):
    """A backend cannot be created or used as requested."""


def device_problem(device: object) -> str | None:
    """Why ``device`` is not a device request (``DEVICE_HELP``), or None: the one check behind
    every --device option and the node's ``device`` parameter."""
    if isinstance(device, str) and (device in DEVICES or re.fullmatch(r"cuda:\d+", device)):
        return None
    return f"device {device!r} is not one of {DEVICE_HELP}"


def resolve_device(device: str, *, cuda_available: bool, backend: str,
                   device_count: int | None = None) -> str:
    """Turn a device request into "cpu" or "cuda:N": "auto" picks CUDA when available;
    ``device_count`` (when known) bounds N."""
    if (problem := device_problem(device)) is not None:
        raise BackendError(problem)
    if device == "auto":
        return "cuda:0" if cuda_available else "cpu"
    if device.startswith("cuda") and not cuda_available:
        raise BackendError(f"device {device!r}: CUDA is not available to the {backend} backend on "
                           "this machine; use --device cpu (or auto)")
    resolved = "cuda:0" if device == "cuda" else device
    if resolved.startswith("cuda") and device_count is not None and int(resolved[5:]) >= device_count:
        raise BackendError(f"device {device!r}: this machine has {device_count} CUDA device(s), "
                           f"cuda:0 to cuda:{device_count - 1}")
    return resolved


class Backend(ABC):
    """Runs bundle graphs on one device at one precision.

    Subclasses resolve ``device`` to "cpu" or "cuda:N" (``resolve_device``) and ``precision``
    to "fp32" or "fp16" in their constructor and implement ``_run`` and ``_release``.
    """

    name: str = ""

    def __init__(self, bundle: Bundle, *, device: str = "auto", precision: str = "fp32") -> None:
        self.bundle = bundle
        self.device = device
        self.precision = precision
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def run(self, graph: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run ``graph`` on ``inputs`` (float32 arrays of the bundle's static shapes).

        Returns every output of the graph by name, float32. Raises BackendError if closed and
        ValueError naming the graph, input and expected shape if the inputs do not match.
        """
        if self._closed:
            raise BackendError(f"{self.name} backend is closed; create a new one to run {graph!r}")
        spec = self.bundle.graph(graph)
        if set(inputs) != set(spec.inputs):
            raise ValueError(f"graph {graph!r} takes inputs {sorted(spec.inputs)}, got {sorted(inputs)}")
        for key, expected in spec.inputs.items():
            array = inputs[key]
            if not isinstance(array, np.ndarray) or array.dtype != np.float32:
                kind = getattr(array, "dtype", type(array).__name__)
                raise ValueError(f"graph {graph!r} input {key!r} must be a float32 numpy array, "
                                 f"got {kind}")
            if array.shape != expected:
                raise ValueError(f"graph {graph!r} input {key!r} must have shape {expected}, "
                                 f"got {array.shape}")
        return self._run(graph, inputs)

    @abstractmethod
    def _run(self, graph: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run validated inputs; return {output name: float32 array of the spec's shape}."""

    @abstractmethod
    def _release(self) -> None:
        """Free sessions, models and device memory (called once by ``close``)."""

    def close(self) -> None:
        """Release every resource; calling it again does nothing."""
        if not self._closed:
            self._closed = True
            self._release()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(device={self.device!r}, precision={self.precision!r})"
