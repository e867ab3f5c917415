"""Create a backend by name: ``create_backend("onnxruntime", bundle, device="cpu")``.

``auto`` picks TensorRT when its Python package imports and PyTorch sees a CUDA GPU (and the
device asked for is not the CPU), else ONNX Runtime; ``choose_backend`` says which and why.
The TensorRT module is imported only when it is chosen.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from vsseg_core.bundle import Bundle
from vsseg_core.errors import ConfigError
from vsseg_core.runtime.base import Backend, BackendError
from vsseg_core.runtime.engine_cache import EngineOptions
from vsseg_core.runtime.onnxruntime_backend import OnnxRuntimeBackend
from vsseg_core.runtime.torch_backend import TorchBackend

_CLASSES: dict[str, type[Backend]] = {"onnxruntime": OnnxRuntimeBackend, "torch": TorchBackend}
BACKENDS: tuple[str, ...] = ("auto", "tensorrt", *_CLASSES)
"""Names ``create_backend`` accepts."""
TENSORRT_MAJOR = 10
"""The TensorRT major version the tensorrt backend is written and type-checked for."""
INSTALL_TENSORRT = ("install TensorRT 10.x as docs/tensorrt.md says (Jetson: JetPack's "
                    "python3-libnvinfer; x86: the tensorrt-cuXX<11 wheel matching torch's CUDA)")


def tensorrt_unavailable() -> str | None:
    """None when the tensorrt backend can run here, else the reason it cannot."""
    try:
        module = importlib.import_module("tensorrt")
    except ImportError as exc:
        return f"TensorRT is not installed ({exc})"
    if not hasattr(module, "Builder"):  # e.g. only tensorrt-stubs on the path
        return f"`tensorrt` at {list(getattr(module, '__path__', []))} is not TensorRT (type stubs only?)"
    version = str(getattr(module, "__version__", "unknown"))
    if version.split(".")[0] != str(TENSORRT_MAJOR):
        return (f"TensorRT {version} is installed, but this backend is written for TensorRT "
                f"{TENSORRT_MAJOR}.x (TensorRT 11 removed the FP16/INT8 flags and calibrators it uses)")
    import torch

    if not torch.cuda.is_available():
        return "no CUDA GPU is visible to PyTorch (TensorRT needs one for its buffers)"
    return None


def choose_backend(name: str, device: str = "auto") -> tuple[str, str]:
    """(backend name, why) for a requested ``name``; "auto" is resolved here."""
    if name != "auto":
        return name, "requested"
    if device == "cpu":
        return "onnxruntime", "auto on the CPU"
    reason = tensorrt_unavailable()
    if reason is None:
        return "tensorrt", "auto: TensorRT and a CUDA GPU are available"
    return "onnxruntime", f"auto: not tensorrt because {reason}"


def create_backend(name: str, bundle: Bundle, *, device: str = "auto", precision: str = "auto",
                   engine: EngineOptions | None = None, log: Callable[[str], None] | None = None,
                   warn: Callable[[str], None] | None = None) -> Backend:
    """A ready backend ``name`` for ``bundle`` on ``device`` ("auto", "cpu", "cuda", "cuda:N")
    at ``precision`` ("auto", "fp32", "fp16"; "int8" for tensorrt). ``engine``, ``log``
    (progress) and ``warn`` (warnings and TensorRT errors) are used by the tensorrt backend
    only. Raises ConfigError for an unknown name or a precision the backend cannot run, and
    BackendError when the backend cannot run here."""
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    chosen, why = choose_backend(name, device)
    if precision == "int8" and chosen != "tensorrt":
        raise ConfigError(f"precision int8 needs the tensorrt backend (engines from `vsseg "
                          f"build-engine`), not {chosen} ({why})")
    if chosen == "tensorrt":
        if device == "cpu":
            raise BackendError("the tensorrt backend runs on a CUDA GPU only; use device auto or "
                               "cuda, or backend onnxruntime on the CPU")
        reason = tensorrt_unavailable() if name == "tensorrt" else None  # auto checked already
        if reason is not None:
            raise BackendError(f"backend tensorrt cannot run here: {reason}; {INSTALL_TENSORRT}, "
                               "or use backend onnxruntime (or auto)")
        from vsseg_core.runtime.tensorrt_backend import TensorRTBackend

        return TensorRTBackend(bundle, device=device, precision=precision, engine=engine, log=log,
                               warn=warn)
    return _CLASSES[chosen](bundle, device=device, precision=precision)
