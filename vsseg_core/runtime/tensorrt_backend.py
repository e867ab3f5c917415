"""TensorRT backend (TensorRT 10 API): one engine per bundle graph, built from its ONNX, cached.

For each graph (``low``, ``high``, ``prop``, ``full``) the engine is loaded from the cache
(``engine_cache``: keyed by graph sha256, TensorRT version, GPU and compute capability,
precision and DLA core) or built: ONNX parser -> network with the bundle's static shapes ->
builder config (workspace pool limit, FP16 / INT8 flags, DLA) -> serialised engine, stored
atomically. Building takes seconds to minutes; its phases are logged as they progress, and
``vsseg build-engine`` does it ahead of time. INT8 uses entropy calibration on recorded pipeline
inputs (``vsseg_core.engine_check``, batched by ``int8_batches``) and writes a calibration cache next to the engines.

Memory and streams: device buffers are PyTorch CUDA tensors (torch is a dependency already, and
JetPack has CUDA PyTorch wheels), allocated once per graph and bound with
``set_tensor_address``; PyTorch checks the status of every CUDA call it makes and raises
RuntimeError naming the CUDA error. TensorRT's own calls report failure by return value
(``execute_async_v3``, ``set_tensor_address``, a None engine), which is checked here. Each
backend owns one CUDA stream: inputs are copied host -> device on it, the engine is enqueued,
outputs are copied device -> pinned host memory, and the stream is synchronised.

Output ownership: ``run`` returns numpy views of this backend's pinned host buffers, valid
until the next ``run`` of the same graph (see ``runtime.base``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorrt as trt
import torch

from vsseg_core.bundle import Bundle
from vsseg_core.runtime.base import Backend, BackendError, resolve_device
from vsseg_core.runtime.int8_batches import CalibrationBatches
from vsseg_core.runtime.engine_bindings import TensorDesc, check_bindings
from vsseg_core.runtime.engine_cache import PRECISIONS, EngineCache, EngineKey, EngineOptions

Log = Callable[[str], None]


class _Logger(trt.ILogger):
    """TensorRT keeps one logger per process (the first one it is given), so there is a single
    instance (``_logger``) whose sink is the most recently created backend's ``log``."""

    def __init__(self) -> None:
        trt.ILogger.__init__(self)
        self.sink: Log = logging.getLogger(__name__).warning
        self.threshold = trt.ILogger.Severity.WARNING

    def log(self, severity: trt.ILogger.Severity, msg: str) -> None:
        if severity <= self.threshold:
            self.sink(f"TensorRT {severity.name}: {msg}")


_LOGGER: list[_Logger] = []


def _logger(sink: Log, *, verbose: bool) -> _Logger:
    """The process's TensorRT logger, now forwarding warnings and errors (everything with
    ``verbose``) to ``sink``."""
    if not _LOGGER:
        _LOGGER.append(_Logger())
    logger = _LOGGER[0]
    logger.sink = sink
    logger.threshold = trt.ILogger.Severity.VERBOSE if verbose else trt.ILogger.Severity.WARNING
    return logger


class _Callback:
    """TensorRT catches exceptions raised in Python callbacks, prints them and carries on as if
    the callback had said "stop" (no more calibration data, cancel the build). Callbacks record
    the first one in ``error`` instead, and the build raises it afterwards."""

    def __init__(self) -> None:
        self.error: Exception | None = None

    def _record(self, exc: Exception) -> None:
        self.error = self.error or exc


class _BuildProgress(trt.IProgressMonitor, _Callback):
    """Logs the builder's top-level phases with their steps and durations."""

    def __init__(self, log: Log, graph: str) -> None:
        trt.IProgressMonitor.__init__(self)
        _Callback.__init__(self)
        self._log, self._graph = log, graph
        self._lock = threading.Lock()
        self._started: dict[str, tuple[float, int]] = {}

    def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
        try:
            if parent_phase is None:  # TensorRT passes None for top-level phases
                with self._lock:
                    self._started[phase_name] = (time.monotonic(), num_steps)
                self._log(f"building {self._graph}: {phase_name} ({num_steps} steps)")
        except Exception as exc:
            self._record(exc)

    def step_complete(self, phase_name: str, step: int) -> bool:
        try:
            with self._lock:
                started = self._started.get(phase_name)
            if started is not None and started[1] >= 10 and (step + 1) % max(1, started[1] // 4) == 0:
                self._log(f"building {self._graph}: {phase_name} {step + 1}/{started[1]}")
        except Exception as exc:
            self._record(exc)
        return True  # False would cancel the build

    def phase_finish(self, phase_name: str) -> None:
        try:
            with self._lock:
                started = self._started.pop(phase_name, None)
            if started is not None:
                self._log(f"building {self._graph}: {phase_name} done in "
                          f"{time.monotonic() - started[0]:.1f} s")
        except Exception as exc:
            self._record(exc)


class _EntropyCalibrator(trt.IInt8EntropyCalibrator2, _Callback):
    """Feeds ``batches`` to TensorRT through device buffers; reads and writes the calibration
    cache through ``cache`` (bytes or None) and ``save``."""

    def __init__(self, batches: CalibrationBatches | None, cache: bytes | None,
                 save: Callable[[bytes], object], device: torch.device, log: Log) -> None:
        trt.IInt8EntropyCalibrator2.__init__(self)
        _Callback.__init__(self)
        self._batches, self._cache, self._save, self._log = batches, cache, save, log
        self._buffers: dict[str, torch.Tensor] = {}
        if batches is not None:
            self._buffers = {name: torch.empty(shape, dtype=torch.float32, device=device)
                             for name, shape in batches.spec.inputs.items()}
        self._done = 0

    def get_batch_size(self) -> int:
        return self._batches.batch_size if self._batches is not None else 1

    def get_batch(self, names: list[str]) -> list[int] | None:  # type: ignore[override]
        # The stubs say list[int]; TensorRT's documented end-of-data signal is None.
        try:
            return self._next_batch(names)
        except Exception as exc:
            self._record(exc)
            return None

    def _next_batch(self, names: list[str]) -> list[int] | None:
        if self._batches is None:
            return None
        batch = self._batches.next()
        if batch is None:
            return None
        unknown = sorted(set(names) - set(self._buffers))
        if unknown:
            raise BackendError(f"TensorRT asked for calibration inputs {unknown}; the recorded "
                               f"ones are {sorted(self._buffers)}")
        for name, array in batch.items():
            self._buffers[name].copy_(torch.from_numpy(array))
        self._done += 1
        if self._done % 16 == 0 or self._done == len(self._batches):
            self._log(f"calibrating {self._batches.spec.name}: batch {self._done}/{len(self._batches)}")
        return [self._buffers[name].data_ptr() for name in names]

    def read_calibration_cache(self) -> bytes | None:
        """The cache's bytes, or None to calibrate from the batches."""
        return self._cache

    def write_calibration_cache(self, cache: memoryview | bytes) -> None:
        try:
            self._save(bytes(cache))
        except Exception as exc:
            self._record(exc)


@dataclass
class _Graph:
    """A ready engine with its context and bound buffers (device tensors, pinned host copies)."""

    engine: trt.ICudaEngine
    context: trt.IExecutionContext
    device_buffers: dict[str, torch.Tensor]
    host_outputs: dict[str, torch.Tensor]


def _describe(engine: trt.ICudaEngine) -> list[TensorDesc]:
    tensors = []
    for index in range(engine.num_io_tensors):
        name = engine.get_tensor_name(index)
        dims = engine.get_tensor_shape(name)
        trt_dtype = engine.get_tensor_dtype(name)
        try:
            dtype = np.dtype(trt.nptype(trt_dtype)).name
        except TypeError:  # bf16, fp8, ... have no numpy type
            dtype = str(trt_dtype)
        tensors.append(TensorDesc(name, engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT,
                                  tuple(dims[i] for i in range(len(dims))), dtype))
    return tensors


class TensorRTBackend(Backend):
    """Runs the bundle's graphs as TensorRT engines on one CUDA GPU (or DLA core).

    ``precision``: "auto" (= fp16), "fp32" (TF32 off), "fp16" or "int8". INT8 applies to
    ``low``, ``high`` and ``full``; ``prop`` is built at fp16 then, because implicit INT8 would
    quantise the sampling coordinates its GridSample reads (about half a pixel of error on the
    low-level grid). ``calibration``: {graph: [recorded inputs]}
    (``vsseg_core.engine_check.record_graph_inputs``) for building INT8 engines; without it an INT8 engine
    must be cached already, or its calibration cache must exist.
    ``log`` receives progress, ``warn`` warnings (stale engines) and TensorRT's warnings and
    errors (defaults: the ``logging`` module; ``warn`` falls back to ``log``).
    """

    name = "tensorrt"

    def __init__(self, bundle: Bundle, *, device: str = "auto", precision: str = "auto",
                 engine: EngineOptions | None = None,
                 calibration: dict[str, list[dict[str, np.ndarray]]] | None = None,
                 log: Log | None = None, warn: Log | None = None, verbose: bool = False) -> None:
        super().__init__(bundle, device=device, precision=precision)
        self.options = engine or EngineOptions()
        self.device = resolve_device(device, cuda_available=torch.cuda.is_available(),
                                     backend=self.name, device_count=torch.cuda.device_count())
        if not self.device.startswith("cuda"):
            raise BackendError("the tensorrt backend runs on a CUDA GPU only; use the onnxruntime "
                               "backend on the CPU")
        precision = "fp16" if precision == "auto" else precision
        if precision not in PRECISIONS:
            raise BackendError(f"precision {precision!r} is not one of auto, {', '.join(PRECISIONS)}")
        if self.options.dla_core is not None and precision == "fp32":
            raise BackendError("DLA runs fp16 or int8 only; use precision fp16 or int8 with a DLA core")
        self.precision = precision
        self._log: Log = log or logging.getLogger(__name__).info
        warn = warn or (log if log is not None else logging.getLogger(__name__).warning)
        self._cuda = torch.device(self.device)
        self.cache = EngineCache(self.options.cache_dir, warn=warn)
        self._calibration = calibration or {}
        self._trt_logger = _logger(warn, verbose=verbose)
        with torch.cuda.device(self._cuda):
            self._runtime: trt.Runtime | None = trt.Runtime(self._trt_logger)
        if self.options.dla_core is not None:
            self._runtime.DLA_core = self.options.dla_core
        self._gpu_name = torch.cuda.get_device_name(self._cuda)
        self._capability = torch.cuda.get_device_capability(self._cuda)
        self._stream = torch.cuda.Stream(self._cuda)
        self._graphs: dict[str, _Graph] = {}
        self._prepare_lock = threading.Lock()  # the low-latency worker may prepare concurrently
        self.events: dict[str, str] = {}
        """{graph: "loaded" | "built"} for every graph prepared so far."""

    def graph_precision(self, graph: str) -> str:
        """The precision ``graph``'s engine is built at (``prop`` stays fp16 under int8)."""
        return "fp16" if self.precision == "int8" and graph == "prop" else self.precision

    def key(self, graph: str) -> EngineKey:
        """The cache key of ``graph``'s engine on this GPU at its precision."""
        spec = self.bundle.graph(graph)
        return EngineKey(graph, self.bundle.meta["sha256"][spec.file], trt.__version__,
                         self._gpu_name, self._capability, self.graph_precision(graph),
                         self.options.dla_core)

    def prepare(self, graph: str) -> str:
        """Load ``graph``'s engine from the cache, or build and cache it; bind its buffers.
        Returns "loaded" or "built" (idempotent)."""
        with self._prepare_lock:
            if graph not in self._graphs:
                with torch.cuda.device(self._cuda):
                    engine = self._engine(graph)
                    self._graphs[graph] = self._bind(graph, engine)
            return self.events[graph]

    def _engine(self, graph: str) -> trt.ICudaEngine:
        assert self._runtime is not None
        key = self.key(graph)
        # force_rebuild ignores the cached engine; the new one replaces it only once built
        data = None if self.options.force_rebuild else self.cache.load(key)
        if data is not None:
            engine = self._runtime.deserialize_cuda_engine(data)
            if engine is not None:
                self.events[graph] = "loaded"
                self._log(f"{graph}: loaded {self.cache.engine_path(key)}")
                return engine
            self.cache.discard(key, "TensorRT could not deserialise it")
        start = time.monotonic()
        data = self._build(graph, key)
        path = self.cache.store(key, data, build_seconds=round(time.monotonic() - start, 1),
                                workspace_mb=self.options.workspace_mb,
                                built=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        self._log(f"{graph}: built in {time.monotonic() - start:.1f} s -> {path}")
        engine = self._runtime.deserialize_cuda_engine(data)
        if engine is None:
            raise BackendError(f"TensorRT could not load the engine it just built for {graph!r} "
                               f"({path}); see the TensorRT errors above")
        self.events[graph] = "built"
        return engine

    def _calibrator(self, graph: str, key: EngineKey) -> _EntropyCalibrator:
        cache = None if self.options.force_rebuild else self.cache.read_calibration(key)
        samples = self._calibration.get(graph)
        if cache is None and not samples:
            missing = ("force_rebuild recalibrates, but no calibration data was given"
                       if self.options.force_rebuild else
                       f"no INT8 engine for graph {graph!r} in {self.cache.root} and no calibration "
                       "data or calibration cache")
            raise BackendError(f"{missing}; build it first: vsseg build-engine --model "
                               f"{self.bundle.root} --precision int8 --calib DATA --cache {self.cache.root}")
        batches = CalibrationBatches(self.bundle.graph(graph), samples) if samples else None
        if cache is not None:
            self._log(f"{graph}: INT8 scales from {self.cache.calibration_path(key)}")
        return _EntropyCalibrator(batches, cache, lambda data: self.cache.write_calibration(key, data),
                                  self._cuda, self._log)

    def _build(self, graph: str, key: EngineKey) -> bytes:
        path = self.bundle.path(self.bundle.graph(graph).file)
        precision = key.precision
        self._log(f"{graph}: building a {precision} engine from {path.name} on "
                  f"{self._gpu_name} (TensorRT {trt.__version__}); this can take minutes")
        builder = trt.Builder(self._trt_logger)
        network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
        parser = trt.OnnxParser(network, self._trt_logger)
        if not parser.parse(path.read_bytes()):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise BackendError(f"{path}: TensorRT's ONNX parser rejected it ({errors}); re-export "
                               "the bundle with `vsseg export` or report the operator")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, self.options.workspace_mb << 20)
        progress = _BuildProgress(self._log, graph)  # must outlive the build
        config.progress_monitor = progress
        if precision == "fp32":
            config.clear_flag(trt.BuilderFlag.TF32)  # on by default; fp32 means fp32
        if precision in ("fp16", "int8"):
            config.set_flag(trt.BuilderFlag.FP16)
        calibrator = None
        if precision == "int8":
            calibrator = self._calibrator(graph, key)  # must outlive the build
            config.set_flag(trt.BuilderFlag.INT8)
            config.int8_calibrator = calibrator
        if self.options.dla_core is not None:
            if self.options.dla_core >= builder.num_DLA_cores:
                raise BackendError(f"DLA core {self.options.dla_core} does not exist: this device "
                                   f"has {builder.num_DLA_cores} DLA cores; unset dla_core for the GPU")
            config.default_device_type = trt.DeviceType.DLA
            config.DLA_core = self.options.dla_core
            config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
        serialized = builder.build_serialized_network(network, config)
        for callback in (progress, calibrator):
            if callback is not None and callback.error is not None:
                raise BackendError(f"building {graph!r} failed in a {type(callback).__name__.strip('_')} "
                                   f"callback: {callback.error}") from callback.error
        if serialized is None:
            raise BackendError(f"TensorRT failed to build {graph!r} from {path} (see the TensorRT "
                               "errors above); try a larger --workspace-mb or another precision")
        return bytes(serialized)

    def _bind(self, graph: str, engine: trt.ICudaEngine) -> _Graph:
        spec = self.bundle.graph(graph)
        check_bindings(spec, _describe(engine), engine=str(self.cache.engine_path(self.key(graph))))
        context = engine.create_execution_context()
        if context is None:
            raise BackendError(f"TensorRT could not create an execution context for {graph!r} "
                               "(out of GPU memory?)")
        shapes = {**spec.inputs, **spec.outputs}
        device = {name: torch.empty(shape, dtype=torch.float32, device=self._cuda)
                  for name, shape in shapes.items()}
        host = {name: torch.empty(shape, dtype=torch.float32, pin_memory=True)
                for name, shape in spec.outputs.items()}
        for name, tensor in device.items():
            if not context.set_tensor_address(name, tensor.data_ptr()):
                raise BackendError(f"TensorRT refused the buffer for {graph!r} tensor {name!r}")
        return _Graph(engine, context, device, host)

    def _run(self, graph: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        bound = self._graphs.get(graph)
        if bound is None:  # first run of this graph: load or build (under the lock)
            self.prepare(graph)
            bound = self._graphs[graph]
        with torch.cuda.device(self._cuda), torch.cuda.stream(self._stream):
            for name, array in inputs.items():
                bound.device_buffers[name].copy_(torch.from_numpy(array))
            if not bound.context.execute_async_v3(self._stream.cuda_stream):
                raise BackendError(f"TensorRT failed to enqueue {graph!r} (see the TensorRT errors "
                                   "above)")
            for name, host in bound.host_outputs.items():
                host.copy_(bound.device_buffers[name], non_blocking=True)
        self._stream.synchronize()
        return {name: host.numpy() for name, host in bound.host_outputs.items()}

    def _release(self) -> None:
        with torch.cuda.device(self._cuda):
            self._stream.synchronize()
            graphs, self._graphs = self._graphs, {}
            for bound in graphs.values():
                del bound.context  # each context before its engine, engines before the runtime
            graphs.clear()
            self._runtime = None
            torch.cuda.empty_cache()

