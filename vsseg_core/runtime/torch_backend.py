"""PyTorch backend: rebuilds the PSPNet from the bundle's model.json and weights.pt.

Graphs run the same modules the ONNX files were exported from (``vsseg_core.model.graphs``;
``prop`` with the bundle's propagation mode's module from propagation.pt). fp16 runs on CUDA only; "auto" precision
means fp16 on CUDA, fp32 on CPU.
"""

from __future__ import annotations

import pickle

import numpy as np
import torch

from vsseg_core.bundle import PROPAGATION_WEIGHTS, WEIGHTS, Bundle, BundleError
from vsseg_core.model.graphs import GRAPH_OUTPUTS, Propagation, build_propagation, graph_modules
from vsseg_core.model.pspnet import ModelConfig, PSPNet
from vsseg_core.runtime.base import Backend, BackendError, resolve_device

_DTYPES = {"fp32": torch.float32, "fp16": torch.float16}


def _load_state(module: torch.nn.Module, bundle: Bundle, file: str) -> None:
    path = bundle.path(file)
    try:
        module.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    except FileNotFoundError as exc:
        raise BundleError(f"{path} is missing; re-create the bundle with `vsseg export`") from exc
    except (RuntimeError, EOFError, pickle.UnpicklingError, TypeError, AttributeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BundleError(f"{path} is corrupt or does not match model.json ({reason}); "
                          "re-create the bundle with `vsseg export`") from exc


def network_config(bundle: Bundle) -> ModelConfig:
    """The bundle's PSPNet architecture; BundleError for graphs imported from ONNX."""
    if bundle.config is None:
        raise BundleError(f"{bundle.root} holds graphs split from an ONNX model (`vsseg import "
                          "onnx`), with no PyTorch network: run it with --backend onnxruntime or "
                          "tensorrt; PyTorch-side work (the torch backend, train-propagation) "
                          "needs a bundle from `vsseg export` or `vsseg import mmseg`")
    return bundle.config


def load_model(bundle: Bundle) -> PSPNet:
    """The bundle's network in eval mode on the CPU, fp32; BundleError if weights.pt is unusable
    or the bundle has no PyTorch network (``network_config``)."""
    model = PSPNet(network_config(bundle))
    _load_state(model, bundle, WEIGHTS)
    return model.eval()


def load_propagation(bundle: Bundle, model: PSPNet | None = None) -> Propagation | None:
    """The bundle's trained propagation module of its mode (``Bundle.propagation``; eval, CPU,
    fp32) for its network ``model`` (default: rebuilt from the bundle), None without ``prop``."""
    settings = bundle.propagation
    if settings is None:
        return None
    options = {k: v for k, v in settings.items() if k != "mode"}
    try:
        module = build_propagation(model or PSPNet(network_config(bundle)), settings["mode"],
                                   **options)
    except (TypeError, ValueError) as exc:
        raise BundleError(f"{bundle.root}: model.json propagation settings {settings} are not "
                          f"usable ({exc}); re-run `vsseg train-propagation`") from exc
    _load_state(module, bundle, PROPAGATION_WEIGHTS)
    return module.eval()


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, bundle: Bundle, *, device: str = "auto", precision: str = "fp32") -> None:
        super().__init__(bundle, device=device, precision=precision)
        self.device = resolve_device(device, cuda_available=torch.cuda.is_available(),
                                     backend=self.name, device_count=torch.cuda.device_count())
        on_cuda = self.device.startswith("cuda")
        if precision == "auto":
            precision = "fp16" if on_cuda else "fp32"
        if precision not in _DTYPES:
            raise BackendError(f"precision {precision!r} is not one of auto, {', '.join(_DTYPES)}")
        if precision == "fp16" and not on_cuda:
            raise BackendError("fp16 needs CUDA; use precision fp32 (or auto) on the CPU")
        self.precision = precision
        self._dtype = _DTYPES[precision]
        model = load_model(bundle).to(self.device, self._dtype)
        propagation = load_propagation(bundle, model)
        if propagation is not None:
            propagation = propagation.to(self.device, self._dtype)
        self._graphs = {name: module for name, module in graph_modules(model, propagation).items()
                        if name in bundle.graphs}

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(array).to(self.device, self._dtype)

    @staticmethod
    def _numpy(tensor: torch.Tensor) -> np.ndarray:
        return tensor.float().cpu().numpy()

    def _run(self, graph: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        module = self._graphs.get(graph)
        if module is None:
            raise BackendError(f"the torch backend has no mapping for graph {graph!r}")
        with torch.inference_mode():
            names = self.bundle.graph(graph).inputs  # in the graph's order
            outputs = module(*(self._tensor(inputs[name]) for name in names))
            return {name: self._numpy(value) for name, value in zip(GRAPH_OUTPUTS[graph], outputs)}

    def _release(self) -> None:
        self._graphs = {}
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()
