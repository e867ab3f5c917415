"""Any ONNX segmentation network (one image in, per-class logits out) -> a vsseg bundle, split at
two named tensors of the user's choice:

    low   image (1, 3, H, W) RGB 0..255 -> low    the cheap stage, run on every frame
    high  low  -> deep, logits                    the expensive stage and the head
    full  image -> logits (1, classes, H, W)      the original network (resized if its output is
                                                  coarser than its input)

The declared normalisation (``mean``, ``std`` in 0..255 units, ``bgr`` channel order) is prepended
to the graphs, so they take what every vsseg backend feeds: RGB 0..255. The split uses
``onnx.utils.Extractor``; before anything is written the chained halves are run against the
original network (max |logit difference| reported) and a split whose head needs tensors other
than ``deep`` and ``low`` is refused with the tensors it needs.
"""

from __future__ import annotations

import datetime
import difflib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from vsseg_core import __version__
from vsseg_core.bundle import BUNDLE_FORMAT, MANIFEST, ONNX_NETWORK, Bundle, GraphSpec, sha256_file
from vsseg_core.errors import VssegError
from vsseg_core.export import MAX_LOGIT_DIFF, MIN_ARGMAX_AGREEMENT, class_table
from vsseg_core.labels import IGNORE_ID, NUM_CLASSES
from vsseg_core.staging import staged_directory

IMAGE, LOW, DEEP, LOGITS = "image", "low", "deep", "logits"
"""Tensor names of the bundle graphs' inputs and outputs."""


class SplitError(VssegError, ValueError):
    """An ONNX model cannot be imported, or not split where asked."""


@dataclass(frozen=True)
class Normalisation:
    """What the network expects: ``(pixel - mean) / std`` per channel, pixels in 0..255, in
    BGR order when ``bgr``."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    bgr: bool = False

    def __post_init__(self) -> None:
        if len(self.mean) != 3 or len(self.std) != 3:
            raise SplitError("--mean and --std take three numbers each (R,G,B), e.g. "
                             "123.675,116.28,103.53 and 58.395,57.12,57.375 (ImageNet)")
        if not all(s > 0 for s in self.std):
            raise SplitError(f"--std {self.std}: every value must be > 0")


def load_network(path: str | Path) -> onnx.ModelProto:
    """The checked ONNX model at ``path``; SplitError if it is missing or not valid ONNX."""
    path = Path(path)
    if not path.is_file():
        raise SplitError(f"ONNX model {path} {'is a directory' if path.is_dir() else 'does not exist'}")
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError, OSError) as exc:
        raise SplitError(f"{path} is not a valid ONNX model ({str(exc).splitlines()[0]})") from exc
    except Exception as exc:  # protobuf's DecodeError has no public import path
        raise SplitError(f"{path} is not an ONNX model ({type(exc).__name__}: {exc})") from exc
    return model


def _static_shape(value: onnx.ValueInfoProto) -> tuple[int, ...] | None:
    dims = value.type.tensor_type.shape.dim
    if any(not d.HasField("dim_value") or d.dim_value <= 0 for d in dims):
        return None
    return tuple(d.dim_value for d in dims)


def network_io(model: onnx.ModelProto) -> tuple[str, tuple[int, int], str]:
    """(input name, (H, W), output name) of a one-image, one-output network; SplitError
    naming the problem otherwise."""
    initializers = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1 or len(model.graph.output) != 1:
        raise SplitError(f"the model has {len(inputs)} inputs and {len(model.graph.output)} outputs; "
                         "vsseg imports networks with one image input and one logits output")
    image, output = inputs[0], model.graph.output[0]
    if image.type.tensor_type.elem_type != TensorProto.FLOAT:
        raise SplitError(f"input {image.name!r} is not float32; export the network with a float "
                         "input")
    shape = _static_shape(image)
    if shape is None:
        raise SplitError(f"input {image.name!r} has a dynamic size "
                         f"({[d.dim_param or d.dim_value for d in image.type.tensor_type.shape.dim]}); "
                         "vsseg builds fixed-size graphs: re-export at the size you run, or fix it "
                         "with `python -m onnxruntime.tools.make_dynamic_shape_fixed`")
    if len(shape) != 4 or shape[:2] != (1, 3):
        raise SplitError(f"input {image.name!r} is {shape}; vsseg takes one RGB image NCHW "
                         "(1, 3, H, W)")
    return image.name, (shape[2], shape[3]), output.name


class _Graph:
    """Which node makes each tensor, for walking a graph backwards."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.producer = {o: n for n in model.graph.node for o in n.output}
        self.constants = {t.name for t in model.graph.initializer}
        self.inputs = {i.name for i in model.graph.input} - self.constants

    def tensor_names(self) -> list[str]:
        return list(self.producer)

    def frontier(self, stage: set[str], leaks: set[str]) -> set[str]:
        """The ``leaks`` that nodes making the other ``stage`` tensors read directly."""
        return {i for t in stage - leaks if t in self.producer
                for i in self.producer[t].input if i in leaks}

    def ancestors(self, targets: Iterable[str], stop: Iterable[str] = ()) -> set[str]:
        """Every tensor ``targets`` are computed from, not looking past ``stop`` (included)."""
        stop, seen = set(stop), set()
        todo = list(targets)
        while todo:
            name = todo.pop()
            if name in seen or not name or name in self.constants:
                continue
            seen.add(name)
            if name in stop or name not in self.producer:
                continue
            todo.extend(self.producer[name].input)
            for attribute in self.producer[name].attribute:  # If/Loop bodies read outer tensors
                if attribute.type == onnx.AttributeProto.GRAPH:
                    todo.extend(i for n in attribute.g.node for i in n.input)
        return seen


def check_split(model: onnx.ModelProto, image: str, low: str, deep: str, logits: str) -> bool:
    """SplitError unless ``low`` and ``deep`` exist, deep is computed from low alone and the
    logits from deep (and low) alone; returns whether the head reads ``low``."""
    graph = _Graph(model)
    for option, name in (("--low", low), ("--deep", deep)):
        if name not in graph.producer:
            close = difflib.get_close_matches(name, graph.tensor_names(), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else (
                "; list them with `python -c \"import onnx; print([o for n in onnx.load('MODEL')"
                ".graph.node for o in n.output])\"`")
            raise SplitError(f"{option} {name!r} is no tensor of the model{hint}")
    before_low = graph.ancestors([low]) - {low}
    stage = graph.ancestors([deep], stop=[low])
    if low not in stage:
        raise SplitError(f"--deep {deep!r} is not computed from --low {low!r}; choose a deep "
                         "tensor after the low one")
    _refuse_leaks(graph.frontier(stage, stage & (before_low | graph.inputs)),
                  f"--deep {deep!r} is not computed from --low {low!r} alone")
    head = graph.ancestors([logits], stop=[deep, low])
    if deep not in head:
        raise SplitError(f"the logits are not computed from --deep {deep!r}; choose a tensor "
                         "the classifier reads")
    between = graph.ancestors([deep], stop=[low]) - {deep, low}
    _refuse_leaks(graph.frontier(head, head & (before_low | between | graph.inputs)),
                  f"the logits are not computed from --deep {deep!r} (and --low) alone")
    return low in head


def _refuse_leaks(leaks: set[str], problem: str) -> None:
    """SplitError with ``problem`` and up to three of ``leaks``, the other tensors read."""
    if leaks:
        names = ", ".join(sorted(leaks)[:3]) + (f" (and {len(leaks) - 3} more)" if len(leaks) > 3 else "")
        raise SplitError(f"{problem}: it also reads {names}; choose split tensors every path "
                         "passes through (e.g. the end of a backbone stage and the input of the "
                         "classifier)")


def _with_normalisation(model: onnx.ModelProto, image: str, norm: Normalisation) -> onnx.ModelProto:
    """``model`` taking IMAGE (RGB 0..255) in place of ``image``: channel flip for BGR networks,
    then (x - mean) / std, feeding the original input (``_free_bundle_names`` ran first, so no
    tensor is called IMAGE yet)."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    original = next(i for i in graph.input if i.name == image)
    shape = [d.dim_value for d in original.type.tensor_type.shape.dim]
    graph.input.remove(original)
    graph.input.insert(0, helper.make_tensor_value_info(IMAGE, TensorProto.FLOAT, shape))
    order = [2, 1, 0] if norm.bgr else [0, 1, 2]
    constants = {"vsseg_mean": np.array(norm.mean, np.float32)[order].reshape(1, 3, 1, 1),
                 "vsseg_std": np.array(norm.std, np.float32)[order].reshape(1, 3, 1, 1),
                 "vsseg_channels": np.array(order, np.int64)}
    graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in constants.items())
    nodes = [helper.make_node("Gather", [IMAGE, "vsseg_channels"], ["vsseg_ordered"], axis=1),
             helper.make_node("Sub", ["vsseg_ordered", "vsseg_mean"], ["vsseg_centred"]),
             helper.make_node("Div", ["vsseg_centred", "vsseg_std"], [image])]
    for node in reversed(nodes):
        graph.node.insert(0, node)
    return model


def _rename_tensor(graph: onnx.GraphProto, old: str, new: str) -> None:
    for node in graph.node:
        node.input[:] = [new if i == old else i for i in node.input]
        node.output[:] = [new if o == old else o for o in node.output]
    for value in list(graph.input) + list(graph.output):
        if value.name == old:
            value.name = new


def _inferred(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with every intermediate tensor's type and shape (the extractor needs them)."""
    try:
        return onnx.shape_inference.infer_shapes(model, strict_mode=True)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError) as exc:
        raise SplitError(f"ONNX shape inference fails on the model ({str(exc).splitlines()[0]}); "
                         "re-export it with static shapes") from exc


def _part(model: onnx.ModelProto, inputs: dict[str, str], outputs: dict[str, str]) -> onnx.ModelProto:
    """The subgraph from ``inputs`` to ``outputs`` (tensor name -> bundle name), with the
    bundle's names on its inputs and outputs."""
    part = onnx.utils.Extractor(model).extract_model(list(inputs), list(outputs))
    graph = part.graph
    for old, new in inputs.items():
        if old != new:
            next(i for i in graph.input if i.name == old).name = new
            graph.node.insert(0, helper.make_node("Identity", [new], [old]))
    for old, new in outputs.items():
        if old != new:
            next(o for o in graph.output if o.name == old).name = new
            graph.node.append(helper.make_node("Identity", [old], [new]))
    onnx.checker.check_model(part)
    return part


def _full(model: onnx.ModelProto, output: str, size: tuple[int, int],
          output_size: tuple[int, int]) -> onnx.ModelProto:
    """The whole network with its output named LOGITS, resized bilinearly (half-pixel, as
    align_corners=False) to the input ``size`` when ``output_size`` is coarser."""
    full = _part(model, {IMAGE: IMAGE}, {output: output})
    graph = full.graph
    result = graph.output[0]
    if output_size != size:
        graph.initializer.append(numpy_helper.from_array(
            np.array([1, NUM_CLASSES, *size], np.int64), "vsseg_logits_size"))
        graph.node.append(helper.make_node("Resize", [output, "", "", "vsseg_logits_size"],
                                           [LOGITS], mode="linear",
                                           coordinate_transformation_mode="half_pixel"))
    elif output != LOGITS:
        graph.node.append(helper.make_node("Identity", [output], [LOGITS]))
    if output != LOGITS or output_size != size:
        result.name = LOGITS
        dims = result.type.tensor_type.shape.dim
        dims[2].dim_value, dims[3].dim_value = size
    onnx.checker.check_model(full)
    return full


def _free_bundle_names(model: onnx.ModelProto) -> dict[str, str]:
    """Rename the network's tensors called IMAGE, LOW, DEEP or LOGITS (the bundle graphs' own
    names) to ``<name>__network``; returns {old: new}."""
    taken = {o for n in model.graph.node for o in n.output} | {i.name for i in model.graph.input}
    renamed = {name: f"{name}__network" for name in (IMAGE, LOW, DEEP, LOGITS) if name in taken}
    for old, new in renamed.items():
        _rename_tensor(model.graph, old, new)
    return renamed


def _run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Outputs of ``model`` on ONNX Runtime's CPU provider; SplitError if it cannot run it."""
    try:
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        return session.run(None, feeds)
    except Exception as exc:  # onnxruntime's errors share no public base class
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SplitError(f"ONNX Runtime cannot run the model ({reason}); vsseg needs graphs its "
                         "CPU provider runs (standard ONNX operators)") from exc


def _parity(model: onnx.ModelProto, image: str, graphs: dict[str, onnx.ModelProto],
            norm: Normalisation, frames: Sequence[np.ndarray]) -> tuple[dict, dict[str, tuple]]:
    """(parity record, shapes of image, low, deep, grid (high's logits) and full logits): the chained low -> high logits and the full
    graph against the original network on two random images and ``frames`` ((1, 3, H, W)
    float32 RGB 0..255)."""
    rng = np.random.default_rng(0)
    shape = next(_static_shape(i) for i in model.graph.input if i.name == image)
    images = [rng.uniform(0, 255, shape).astype(np.float32) for _ in range(2)] + list(frames)
    order = [2, 1, 0] if norm.bgr else [0, 1, 2]
    mean, std = (np.array(v, np.float32)[order].reshape(1, 3, 1, 1) for v in (norm.mean, norm.std))
    worst = {"max_logit_diff": 0.0, "min_argmax_agreement": 1.0, "frames": len(images),
             "compared_with": "the original network on the declared normalisation"}
    for rgb in images:
        (reference,) = _run(model, {image: (rgb[:, order] - mean) / std})
        (low,) = _run(graphs["low"], {IMAGE: rgb})
        deep, logits = _run(graphs["high"], {LOW: low})
        (full,) = _run(graphs["full"], {IMAGE: rgb})
        upsampled = _resized(reference, full.shape[-2:])
        worst["max_logit_diff"] = max(worst["max_logit_diff"], float(np.abs(logits - reference).max()),
                                      float(np.abs(full - upsampled).max()))
        worst["min_argmax_agreement"] = min(worst["min_argmax_agreement"],
                                            float((logits.argmax(1) == reference.argmax(1)).mean()))
    shapes = {name: tuple(int(n) for n in array.shape) for name, array in
              ((IMAGE, rgb), (LOW, low), (DEEP, deep), ("grid", logits), ("full", full))}
    if logits.shape[1] != NUM_CLASSES:
        raise SplitError(f"the network outputs {logits.shape[1]} channels; vsseg publishes "
                         f"Cityscapes trainIds, so it imports {NUM_CLASSES}-class networks only")
    if worst["max_logit_diff"] > MAX_LOGIT_DIFF or worst["min_argmax_agreement"] < MIN_ARGMAX_AGREEMENT:
        raise SplitError(f"the split graphs do not reproduce the network (max |logit diff| "
                         f"{worst['max_logit_diff']:.2e}, argmax agreement "
                         f"{worst['min_argmax_agreement']:.4%}); nothing was written")
    return worst, shapes


def _resized(logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(1, C, h, w) -> (1, C, H, W) bilinear, half-pixel centres (the full graph's Resize)."""
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    import torch
    import torch.nn.functional as F

    return F.interpolate(torch.from_numpy(logits), size=tuple(size), mode="bilinear",
                         align_corners=False).numpy()


def import_onnx(path: str | Path, low: str, deep: str, out: str | Path, *,
                normalisation: Normalisation, provenance: dict, overwrite: bool = False,
                frames: Sequence[np.ndarray] = ()) -> Bundle:
    """Split the network at ``path`` at tensors ``low`` and ``deep`` into a bundle at ``out``
    (staged, moved into place only when every check passed). ``frames``: extra (1, 3, H, W)
    float32 RGB 0..255 images for the parity check."""
    network = load_network(path)
    renamed = _free_bundle_names(network)
    image, size, output = network_io(network)
    low, deep = renamed.get(low, low), renamed.get(deep, deep)
    reads_low = check_split(network, image, low, deep, output)
    normalised = _inferred(_with_normalisation(network, image, normalisation))
    graphs = {"low": _part(normalised, {IMAGE: IMAGE}, {low: LOW}),
              "high": _part(normalised, {low: LOW}, {deep: DEEP, output: LOGITS})}
    output_shape = _run(normalised, {IMAGE: np.zeros((1, 3, *size), np.float32)})[0].shape
    graphs["full"] = _full(normalised, output, size, tuple(output_shape[-2:]))
    parity, shapes = _parity(network, image, graphs, normalisation, frames)
    specs = {"low": GraphSpec("low", "low.onnx", {IMAGE: shapes[IMAGE]}, {LOW: shapes[LOW]}),
             "high": GraphSpec("high", "high.onnx", {LOW: shapes[LOW]},
                               {DEEP: shapes[DEEP], LOGITS: shapes["grid"]}),
             "full": GraphSpec("full", "full.onnx", {IMAGE: shapes[IMAGE]}, {LOGITS: shapes["full"]})}
    with staged_directory(out, overwrite=overwrite) as staging:
        for name, graph in graphs.items():
            onnx.save(graph, str(staging / specs[name].file))
        files = [spec.file for spec in specs.values()]
        meta = {"format": BUNDLE_FORMAT, "vsseg_version": __version__, "network": ONNX_NETWORK,
                "input": {"height": size[0], "width": size[1], "layout": "NCHW", "dtype": "float32",
                          "range": "RGB 0..255", "mean": list(normalisation.mean),
                          "std": list(normalisation.std), "bgr": normalisation.bgr},
                "split": {"low": low, "deep": deep, "head_reads_low": reads_low},
                "classes": class_table(), "ignore_id": IGNORE_ID,
                "graphs": {n: s.to_json() for n, s in specs.items()},
                "onnx_opset": max(o.version for o in network.opset_import if o.domain in ("", "ai.onnx")),
                "parameters": int(sum(np.prod(t.dims) for t in network.graph.initializer
                                      if t.data_type == TensorProto.FLOAT)),
                "parity": parity,
                "exported": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "provenance": provenance,
                "sha256": {f: sha256_file(staging / f) for f in files}}
        (staging / MANIFEST).write_text(json.dumps(meta, indent=2) + "\n")
    return Bundle.load(out)
