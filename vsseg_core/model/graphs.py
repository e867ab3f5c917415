"""The bundle graphs as modules: the one mapping from a graph name to the network's seam, used
by the ONNX export (one module per graph file) and by the PyTorch backend (which runs the same
modules instead of ONNX files).

    low   image                       -> low                forward_low
    high  low                         -> deep, logits       forward_high + classify
    full  image                       -> logits             forward (the single-frame network)
    prop  key_deep, key_low, low, flow -> deep, logits      FeaturePropagation + classify

Inputs are positional in the order above; outputs a tuple in the order above.
"""

from __future__ import annotations

import torch
from torch import nn

from vsseg_core.model.propagation import FeaturePropagation
from vsseg_core.model.pspnet import PSPNet

GRAPH_INPUTS = {"low": ("image",), "high": ("low",), "full": ("image",),
                "prop": ("key_deep", "key_low", "low", "flow")}
GRAPH_OUTPUTS = {"low": ("low",), "high": ("deep", "logits"), "full": ("logits",),
                 "prop": ("deep", "logits")}


class _Low(nn.Module):
    def __init__(self, model: PSPNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor]:
        return (self.model.forward_low(image),)


class _High(_Low):
    def forward(self, low: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        deep = self.model.forward_high(low)
        return deep, self.model.classify(deep, low)


class _Full(_Low):
    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor]:
        return (self.model(image),)


class _Prop(nn.Module):
    def __init__(self, model: PSPNet, propagation: FeaturePropagation) -> None:
        super().__init__()
        self.model, self.propagation = model, propagation

    def forward(self, key_deep: torch.Tensor, key_low: torch.Tensor, low: torch.Tensor,
                flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        deep = self.propagation(key_deep, key_low, low, flow)
        return deep, self.model.classify(deep, low)


def graph_modules(model: PSPNet, propagation: FeaturePropagation | None = None
                  ) -> dict[str, nn.Module]:
    """{graph name: module} for ``model`` (``prop`` too when ``propagation`` is given), all in
    eval mode, as ``model`` and ``propagation`` are afterwards (graphs are for inference; the
    ONNX exporter restores each module's own mode after tracing). The caller sets device and
    dtype."""
    modules: dict[str, nn.Module] = {"low": _Low(model), "high": _High(model), "full": _Full(model)}
    if propagation is not None:
        modules["prop"] = _Prop(model, propagation)
    return {name: module.eval() for name, module in modules.items()}
