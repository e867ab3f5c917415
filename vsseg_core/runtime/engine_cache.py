"""Where TensorRT engines and INT8 calibration caches live, and when a cached one is stale.

A TensorRT engine is only valid for the exact ONNX graph, TensorRT version, GPU model (compute
capability), precision and DLA core it was built for. All of that goes into the file name::

    <cache>/high-c2c4789d65086993-trt10.13.0.35-NVIDIA-H100-80GB-HBM3-sm90-fp16.engine
    <cache>/high-c2c4789d65086993-trt10.13.0.35-NVIDIA-H100-80GB-HBM3-sm90-fp16.engine.json

and the full values (whole graph sha256) plus the engine file's own sha256 and size go into the
sidecar ``.json``. A lookup with any differing value finds a different file and rebuilds; a file
whose sidecar is missing, unreadable or disagrees with the key or the bytes is corrupt: it is
removed with a warning and rebuilt. Writes are atomic (temporary file + rename), so an
interrupted build never leaves a half-written engine behind.

No TensorRT import here: this module is tested on machines without it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from vsseg_core.runtime.base import BackendError

PRECISIONS = ("fp32", "fp16", "int8")
"""Engine precisions; int8 also enables fp16 for layers TensorRT does not quantise."""
ENGINE_SUFFIX = ".engine"
SIDECAR_SUFFIX = ".json"
CACHE_ENV = "VSSEG_ENGINE_CACHE"
CACHE_HELP = "$VSSEG_ENGINE_CACHE, else $XDG_CACHE_HOME/vsseg/engines, else ~/.cache/vsseg/engines"
"""Where engines go when no cache directory is given (for help texts)."""


@dataclass(frozen=True)
class EngineOptions:
    """How the TensorRT backend finds or builds its engines.

    ``cache_dir``: engine cache directory (None: ``default_cache_dir()``); ``workspace_mb``:
    builder memory-pool limit in MiB; ``dla_core``: None for the GPU, else the DLA core to run
    on (Jetson AGX/NX, fp16 or int8 only, unsupported layers fall back to the GPU);
    ``force_rebuild``: rebuild every engine once even when a valid one is cached.
    """

    cache_dir: Path | None = None
    workspace_mb: int = 1024
    dla_core: int | None = None
    force_rebuild: bool = False

    def __post_init__(self) -> None:
        if self.workspace_mb < 1:
            raise BackendError(f"workspace must be at least 1 MiB, got {self.workspace_mb}")
        if self.dla_core is not None and self.dla_core < 0:
            raise BackendError(f"DLA core must be >= 0 (or unset for the GPU), got {self.dla_core}")


def default_cache_dir() -> Path:
    """``$VSSEG_ENGINE_CACHE``, else ``$XDG_CACHE_HOME/vsseg/engines``, else
    ``~/.cache/vsseg/engines``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "vsseg" / "engines"


def _slug(text: str) -> str:
    """File-name-safe form of a GPU name: "Orin (nvgpu)" -> "Orin-nvgpu"."""
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-") or "unknown"


@dataclass(frozen=True)
class EngineKey:
    """Everything that makes a serialised engine valid.

    ``onnx_sha256``: the graph file's sha256 from model.json; ``compute_capability``: (major,
    minor) of the GPU; ``dla_core``: None on the GPU, else the DLA core index (Jetson).
    """

    graph: str
    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: tuple[int, int]
    precision: str
    dla_core: int | None = None

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise BackendError(f"engine precision {self.precision!r} is not one of "
                               f"{', '.join(PRECISIONS)}")
        if not re.fullmatch(r"[0-9a-f]{64}", self.onnx_sha256):
            raise BackendError(f"graph {self.graph!r}: {self.onnx_sha256!r} is not a sha256 "
                               "hex digest; re-create the bundle with `vsseg export`")

    @property
    def file_name(self) -> str:
        major, minor = self.compute_capability
        parts = [self.graph, self.onnx_sha256[:16], f"trt{self.tensorrt_version}",
                 _slug(self.gpu_name), f"sm{major}{minor}", self.precision]
        if self.dla_core is not None:
            parts.append(f"dla{self.dla_core}")
        return "-".join(parts) + ENGINE_SUFFIX

    def to_json(self) -> dict:
        data = asdict(self)
        data["compute_capability"] = list(self.compute_capability)
        return data


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


class EngineCache:
    """A directory of engines (see the module docstring). ``warn`` receives one line per stale
    or corrupt file that is removed (default: ignored)."""

    def __init__(self, root: str | Path | None = None, *,
                 warn: Callable[[str], None] | None = None) -> None:
        self.root = Path(root).expanduser() if root else default_cache_dir()
        if self.root.exists() and not self.root.is_dir():
            raise BackendError(f"engine cache {self.root} is a file, not a directory; pass a "
                               "directory (it is created when missing)")
        self._warn = warn or (lambda message: None)

    def engine_path(self, key: EngineKey) -> Path:
        return self.root / key.file_name

    def load(self, key: EngineKey) -> bytes | None:
        """The cached engine bytes for ``key``, or None when there is no valid one (a corrupt
        one is removed, with a warning, so that the caller rebuilds it)."""
        path = self.engine_path(key)
        if not path.exists():
            return None
        data = path.read_bytes()
        problem = self._problem(key, path, data)
        if problem is None:
            return data
        self.discard(key, problem)
        return None

    def _problem(self, key: EngineKey, path: Path, data: bytes) -> str | None:
        sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
        try:
            meta = json.loads(sidecar.read_text())
            recorded_key, recorded_sha = meta["key"], meta["engine_sha256"]
        except FileNotFoundError:
            return f"its {sidecar.name} is missing"
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return f"{sidecar.name} is unreadable: {exc}"
        if recorded_key != key.to_json():
            return f"{sidecar.name} records a different build ({recorded_key})"
        if len(data) != meta.get("engine_bytes") or hashlib.sha256(data).hexdigest() != recorded_sha:
            return "its bytes do not match the sha256 in its sidecar (truncated or modified)"
        return None

    def store(self, key: EngineKey, engine: bytes, **build_info: object) -> Path:
        """Write ``engine`` and its sidecar (key, engine sha256/size, ``build_info`` such as
        build seconds and workspace) atomically; returns the engine path."""
        if not engine:
            raise BackendError(f"refusing to cache an empty engine for graph {key.graph!r}")
        path = self.engine_path(key)
        meta = {"key": key.to_json(), "engine_sha256": hashlib.sha256(engine).hexdigest(),
                "engine_bytes": len(engine), **build_info}
        _write_atomic(path, bytes(engine))
        _write_atomic(path.with_name(path.name + SIDECAR_SUFFIX),
                      (json.dumps(meta, indent=1, default=str) + "\n").encode())
        return path

    def discard(self, key: EngineKey, reason: str) -> None:
        """Remove an engine that TensorRT rejected (``reason``), with a warning."""
        self._warn(f"engine {self.engine_path(key)} is unusable ({reason}); rebuilding it")
        self.remove(key)

    def remove(self, key: EngineKey) -> None:
        path = self.engine_path(key)
        path.unlink(missing_ok=True)
        path.with_name(path.name + SIDECAR_SUFFIX).unlink(missing_ok=True)

    def calibration_path(self, key: EngineKey) -> Path:
        """INT8 calibration cache for ``key``'s graph: valid for any GPU and DLA core, so only
        the graph, its sha256 and the TensorRT version name it."""
        return self.root / f"{key.graph}-{key.onnx_sha256[:16]}-trt{key.tensorrt_version}.calib"

    def read_calibration(self, key: EngineKey) -> bytes | None:
        path = self.calibration_path(key)
        return path.read_bytes() if path.is_file() and path.stat().st_size else None

    def write_calibration(self, key: EngineKey, cache: bytes) -> Path:
        path = self.calibration_path(key)
        _write_atomic(path, bytes(cache))
        return path
