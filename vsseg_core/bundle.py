"""Model bundle: the directory every backend loads.

    model.json   architecture (ModelConfig), input size, normalisation, classes, graphs with
                 their named static-shape inputs/outputs, ONNX opset, sha256 of every file,
                 provenance (training command, data, time, machine, val mIoU)
    low.onnx     image (1,3,H,W) float32 RGB 0..255 -> low (1,C_low,H/4,W/4)
    high.onnx    low -> deep (1,C_deep,H/os,W/os), logits (1,classes,H/4,W/4) on the decoder's
                 grid (bundles exported before it: (1,classes,H,W); both run)
    full.onnx    image -> logits (single-frame network)
    weights.pt   PyTorch state dict (inference weights) for the PyTorch backend
  after `vsseg train-propagation` (see vsseg_core.model.propagation):
    prop.onnx       key_deep, key_low, low[, flow] -> deep, logits (non-keyframes)
    propagation.pt  the propagation module's state dict for the PyTorch backend
    model.json "temporal": propagation mode ("flow": DIS flow + warp, prop takes flow;
                           "kernel": spatially variant convolution, no flow) and its options,
                           flow scale, default adaptive threshold, scene-cut deviation, and
                           the calibration they came from

``Bundle.load`` checks that every listed file exists and matches its sha256 before anything
runs, and says which file is wrong and how to fix it.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

from vsseg_core.errors import VssegError
from vsseg_core.model import kernel_propagation, propagation
from vsseg_core.model.pspnet import ModelConfig

BUNDLE_FORMAT = "vsseg-bundle/1"
TEMPORAL_NUMBERS = ("max_interval", "default_threshold", "cut_deviation")
"""Positive numbers model.json "temporal" holds whenever the bundle has the prop graph (and
``flow_scale`` in the flow mode)."""
PROPAGATION_INPUTS = {propagation.MODE: propagation.INPUTS,
                      kernel_propagation.MODE: kernel_propagation.INPUTS}
"""Inputs of the prop graph in each propagation mode (model.json "temporal" "propagation"
"mode"; bundles without it are "flow", the only mode before the kernel mode existed)."""
ONNX_NETWORK = "onnx"
"""model.json "network" of bundles split from an ONNX model by `vsseg import onnx`: no
"architecture" and no PyTorch weights (``Bundle.config`` is None)."""
MANIFEST = "model.json"
WEIGHTS = "weights.pt"
PROPAGATION_WEIGHTS = "propagation.pt"
DEFAULT_BUNDLE = Path(__file__).resolve().parent / "default_model"
"""The shipped model, used by every command and node parameter when no model is given."""


class BundleError(VssegError, ValueError):
    """A bundle is missing, incomplete, corrupt or of an unknown format."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class GraphSpec:
    """One ONNX graph: file name and named static shapes of its inputs and outputs."""

    name: str
    file: str
    inputs: dict[str, tuple[int, ...]]
    outputs: dict[str, tuple[int, ...]]

    def to_json(self) -> dict:
        return {"file": self.file, "inputs": {k: list(v) for k, v in self.inputs.items()},
                "outputs": {k: list(v) for k, v in self.outputs.items()}}

    @classmethod
    def from_json(cls, name: str, data: dict) -> "GraphSpec":
        return cls(name, data["file"], {k: tuple(v) for k, v in data["inputs"].items()},
                   {k: tuple(v) for k, v in data["outputs"].items()})


@dataclass(frozen=True)
class Bundle:
    """A loaded, verified bundle. ``meta`` is the parsed model.json; ``config`` the PSPNet
    architecture, None for graphs split from an ONNX model (``vsseg import onnx``)."""

    root: Path
    meta: dict
    config: ModelConfig | None
    graphs: dict[str, GraphSpec]

    @property
    def input_size(self) -> tuple[int, int]:
        """(H, W) pixels every graph expects."""
        image = self.graph("low").inputs["image"]
        return image[2], image[3]

    @property
    def low_size(self) -> tuple[int, int]:
        """(h, w) of the low-level features."""
        low = self.graph("low").outputs["low"]
        return low[2], low[3]

    @property
    def temporal(self) -> dict | None:
        """model.json "temporal" (None until `vsseg train-propagation` added the prop graph)."""
        return self.meta.get("temporal") if "prop" in self.graphs else None

    @property
    def propagation(self) -> dict | None:
        """How the prop graph propagates: {"mode": "flow" | "kernel", and the module's options
        (hidden, kernel_size)}; None without the prop graph."""
        if self.temporal is None:
            return None
        return {**self.temporal.get("propagation", {}), "mode": propagation_mode(self.temporal)}

    def path(self, file: str) -> Path:
        return self.root / file

    def graph(self, name: str) -> GraphSpec:
        if name not in self.graphs:
            raise BundleError(f"{self.root}: bundle has no graph {name!r} (it has "
                              f"{', '.join(sorted(self.graphs))}); re-export it with `vsseg export`")
        return self.graphs[name]

    @classmethod
    def load(cls, root: str | Path | None = None, *, verify: bool = True) -> "Bundle":
        """Load ``root`` (default: the shipped model) and verify every file's sha256."""
        if root is None and not DEFAULT_BUNDLE.is_dir():
            raise BundleError(f"the shipped model {DEFAULT_BUNDLE} is not installed; pass --model "
                              "BUNDLE (a directory written by `vsseg export`)")
        root = Path(root) if root is not None else DEFAULT_BUNDLE
        manifest = root / MANIFEST
        if not root.is_dir():
            problem = "is a file, not a directory" if root.exists() else "does not exist"
            raise BundleError(f"model bundle {root} {problem}; pass the directory written by "
                              "`vsseg export` (or omit the option to use the shipped model)")
        if not manifest.is_file():
            raise BundleError(f"{manifest} is missing: {root} is not a vsseg bundle; "
                              "re-create it with `vsseg export`")
        try:
            meta = json.loads(manifest.read_text())
            if meta.get("format") != BUNDLE_FORMAT:
                raise BundleError(f"{manifest}: format {meta.get('format')!r} is not "
                                  f"{BUNDLE_FORMAT!r}; re-export with this version of vsseg")
            config = (None if meta.get("network") == ONNX_NETWORK
                      else ModelConfig.from_json(meta["architecture"]))
            graphs = {n: GraphSpec.from_json(n, g) for n, g in meta["graphs"].items()}
            files = dict(meta["sha256"])
            if "prop" in graphs:
                _check_temporal(meta.get("temporal"), manifest)
                _check_propagation(meta["temporal"], graphs["prop"], manifest)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, BundleError):
                raise
            problem = f"no {exc} entry" if isinstance(exc, KeyError) else str(exc)
            raise BundleError(f"{manifest} is not a valid bundle manifest ({problem}); "
                              "re-create the bundle with `vsseg export`") from exc
        for file, expected in files.items():
            path = root / file
            if not path.is_file():
                raise BundleError(f"{path} is missing from the bundle; re-create it with `vsseg export`")
            if verify and sha256_file(path) != expected:
                raise BundleError(f"{path} does not match its sha256 in {MANIFEST} (corrupt or "
                                  "modified); re-create the bundle with `vsseg export`")
        for spec in graphs.values():
            if spec.file not in files:
                raise BundleError(f"{manifest}: graph {spec.name!r} file {spec.file} has no sha256; "
                                  "re-create the bundle with `vsseg export`")
        return cls(root, meta, config, graphs)


def propagation_mode(temporal: dict) -> str | None:
    """The propagation mode model.json "temporal" names ("flow" when it names none, as every
    bundle before the kernel mode); None when its "propagation" entry is not an object."""
    settings = temporal.get("propagation", {})
    return settings.get("mode", propagation.MODE) if isinstance(settings, dict) else None


def _check_temporal(temporal: object, manifest: Path) -> None:
    """BundleError unless ``temporal`` holds every TEMPORAL_NUMBERS entry as a finite positive
    number."""
    if not isinstance(temporal, dict):
        problem = f'"temporal" is {type(temporal).__name__}, not an object'
    else:
        flow = propagation_mode(temporal) == propagation.MODE
        values = {key: temporal.get(key) for key in TEMPORAL_NUMBERS + ("flow_scale",) * flow}
        bad = [f"{key} is {value!r}" for key, value in values.items()
               if isinstance(value, bool) or not isinstance(value, (int, float))
               or not 0 < value < math.inf]
        problem = f'"temporal" {", ".join(bad)}, not a positive number' if bad else ""
    if problem:
        raise BundleError(f"{manifest}: {problem}; re-run `vsseg train-propagation` on the bundle")


def _check_propagation(temporal: dict, prop: GraphSpec, manifest: Path) -> None:
    """BundleError unless "temporal" "propagation" names a known mode whose inputs are the prop
    graph's, so that a bundle of one mode never runs as the other."""
    settings, mode = temporal.get("propagation", {}), propagation_mode(temporal)
    if mode not in PROPAGATION_INPUTS:
        raise BundleError(f'{manifest}: "temporal" "propagation" {settings!r} names no known mode '
                          f"({', '.join(PROPAGATION_INPUTS)}); re-run `vsseg train-propagation`")
    if tuple(prop.inputs) != PROPAGATION_INPUTS[mode]:
        raise BundleError(f"{manifest}: the prop graph takes {', '.join(prop.inputs)}, but "
                          f"propagation mode {mode!r} takes {', '.join(PROPAGATION_INPUTS[mode])}; "
                          "re-run `vsseg train-propagation` on the bundle")
