"""Create a backend by name: ``create_backend("onnxruntime", bundle, device="cpu")``."""

from __future__ import annotations

from vsseg_core.bundle import Bundle
from vsseg_core.errors import ConfigError
from vsseg_core.runtime.base import Backend
from vsseg_core.runtime.onnxruntime_backend import OnnxRuntimeBackend
from vsseg_core.runtime.torch_backend import TorchBackend

_CLASSES: dict[str, type[Backend]] = {"onnxruntime": OnnxRuntimeBackend, "torch": TorchBackend}
BACKENDS: tuple[str, ...] = ("auto", *_CLASSES)
"""Names ``create_backend`` accepts; "auto" picks the best one installed (onnxruntime for now)."""


def create_backend(name: str, bundle: Bundle, *, device: str = "auto",
                   precision: str = "auto") -> Backend:
    """A ready backend ``name`` for ``bundle`` on ``device`` ("auto", "cpu", "cuda", "cuda:N")
    at ``precision`` ("auto", "fp32", "fp16"). Raises ConfigError for an unknown name."""
    if name == "auto":
        name = "onnxruntime"
    if name not in _CLASSES:
        raise ConfigError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return _CLASSES[name](bundle, device=device, precision=precision)
