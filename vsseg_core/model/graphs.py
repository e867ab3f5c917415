"""The bundle graphs as modules: the one mapping from a graph name to the network's seam, used
by the ONNX export (one module per graph file) and by the PyTorch backend (which runs the same
modules instead of ONNX files).

    low   image                       -> low                forward_low
    high  low                         -> deep, logits       forward_high + grid_logits
    full  image                       -> logits             forward (the single-frame network)
    prop  key_deep, key_low, low, flow -> deep, logits      FeaturePropagation + grid_logits
          key_deep, key_low, low       -> deep, logits      KernelPropagation (no flow)

Inputs are positional in the order above; outputs a tuple in the order above. ``full`` gives
logits at the input resolution (N, classes, H, W); ``high`` and ``prop``, which the stream runs
on every frame, give them on the classifier's grid (N, classes, H/4, W/4 with the decoder), and
post-processing upsamples only where the class changes (``runtime.processing.postprocess``).
"""

from __future__ import annotations

import torch
from torch import nn

from vsseg_core.model.kernel_propagation import KernelPropagation
from vsseg_core.model.propagation import FeaturePropagation
from vsseg_core.model.pspnet import PSPNet

Propagation = FeaturePropagation | KernelPropagation
PROPAGATIONS: dict[str, type[Propagation]] = {FeaturePropagation.mode: FeaturePropagation,
                                              KernelPropagation.mode: KernelPropagation}
"""Propagation module by mode (model.json "temporal" "propagation" "mode")."""
GRAPH_INPUTS = {"low": ("image",), "high": ("low",), "full": ("image",),
                "prop": FeaturePropagation.inputs}
"""Inputs of each graph; ``prop``'s are the propagation mode's (``Propagation.inputs``), these
are the flow mode's."""
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
        return deep, self.model.grid_logits(deep, low)


class _Full(_Low):
    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor]:
        return (self.model(image),)


class _Prop(nn.Module):
    def __init__(self, model: PSPNet, propagation: Propagation) -> None:
        super().__init__()
        self.model, self.propagation = model, propagation

    def forward(self, key_deep: torch.Tensor, key_low: torch.Tensor, low: torch.Tensor,
                *flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        deep = self.propagation(key_deep, key_low, low, *flow)
        return deep, self.model.grid_logits(deep, low)


def build_propagation(model: PSPNet, mode: str = FeaturePropagation.mode, **options: int
                      ) -> Propagation:
    """A new (untrained) propagation module of ``mode`` for ``model``; ``options``: ``hidden``
    and, for "kernel", ``kernel_size``. ValueError for an unknown mode or option."""
    if mode not in PROPAGATIONS:
        raise ValueError(f"propagation mode {mode!r}: choose {' or '.join(PROPAGATIONS)}")
    return PROPAGATIONS[mode](model.low_channels, model.config.head_channels,
                              model.config.output_stride, **options)


def graph_inputs(name: str, propagation: Propagation | None = None) -> tuple[str, ...]:
    """Input names of graph ``name``, in order (``prop``: those of ``propagation``'s mode)."""
    return propagation.inputs if name == "prop" and propagation is not None else GRAPH_INPUTS[name]


def graph_modules(model: PSPNet, propagation: Propagation | None = None
                  ) -> dict[str, nn.Module]:
    """{graph name: module} for ``model`` (``prop`` too when ``propagation`` is given), all in
    eval mode, as ``model`` and ``propagation`` are afterwards (graphs are for inference; the
    ONNX exporter restores each module's own mode after tracing). The caller sets device and
    dtype."""
    modules: dict[str, nn.Module] = {"low": _Low(model), "high": _High(model), "full": _Full(model)}
    if propagation is not None:
        modules["prop"] = _Prop(model, propagation)
    return {name: module.eval() for name, module in modules.items()}
