"""Export a trained PSPNet to a bundle (ONNX graphs + weights + model.json), checked for parity.

Every graph passes ``onnx.checker`` and must match PyTorch in fp32 on random and real frames:
max |logit difference| <= 1e-3 and argmax agreement >= 99.9%, otherwise nothing is written.
"""

from __future__ import annotations

import datetime
import itertools
import json
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from vsseg_core import __version__
from vsseg_core.bundle import (
    BUNDLE_FORMAT,
    MANIFEST,
    PROPAGATION_WEIGHTS,
    WEIGHTS,
    Bundle,
    GraphSpec,
    sha256_file,
)
from vsseg_core.data.cityscapes import CityscapesDataset
from vsseg_core.errors import ConfigError, VssegError
from vsseg_core.labels import IGNORE_ID, TRAIN_CLASSES
from vsseg_core.model.graphs import GRAPH_OUTPUTS, Propagation, graph_inputs, graph_modules
from vsseg_core.model.pspnet import PSPNet
from vsseg_core.runtime.processing import Preprocessor
from vsseg_core.staging import staged_directory

OPSET = 17
OPSETS = range(11, 22)
"""Opsets whose export passes the parity check (checked with torch 2.13; 9 and 10 resize
differently, and the check refuses them)."""
MAX_LOGIT_DIFF = 1e-3
MIN_ARGMAX_AGREEMENT = 0.999


class ExportError(VssegError, RuntimeError):
    """The exported graphs do not reproduce the PyTorch model."""


def graph_specs(model: PSPNet, propagation: Propagation | None = None) -> dict[str, GraphSpec]:
    """Named static shapes of the bundle graphs for ``model`` (with ``prop``, taking the
    inputs of ``propagation``'s mode, if given)."""
    cfg = model.config
    h, w = cfg.input_size
    image = (1, 3, h, w)
    low = (1, model.low_channels, *cfg.low_size)
    deep = (1, cfg.head_channels, *cfg.feature_size)
    stride = model.logits_stride
    shapes = {"image": image, "low": low, "deep": deep, "key_deep": deep, "key_low": low,
              "flow": (1, 2, *cfg.low_size), "logits": (1, cfg.num_classes, h // stride, w // stride)}
    names = ("low", "high", "full") + (("prop",) if propagation else ())
    specs = {name: GraphSpec(name, f"{name}.onnx",
                             {k: shapes[k] for k in graph_inputs(name, propagation)},
                             {k: shapes[k] for k in GRAPH_OUTPUTS[name]})
             for name in names}
    specs["full"].outputs["logits"] = (1, cfg.num_classes, h, w)  # the single-frame network
    return specs


def _export_graph(module: nn.Module, spec: GraphSpec, path: Path, opset: int) -> None:
    dummy = tuple(torch.zeros(shape) for shape in spec.inputs.values())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices
        torch.onnx.export(module, dummy, str(path), dynamo=False, opset_version=opset,
                          input_names=list(spec.inputs), output_names=list(spec.outputs),
                          do_constant_folding=True)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)


def sample_frames(root: str | Path, split: str, count: int = 2) -> list[np.ndarray]:
    """The first ``count`` frames ((H, W, 3) uint8 RGB) of a Cityscapes-layout dataset, for the
    parity check."""
    records = itertools.islice(CityscapesDataset(root, split).frames(), count)
    return [record.load_image() for record in records]


def _parity(model: PSPNet, propagation: Propagation | None, specs: dict[str, GraphSpec],
            root: Path, frames: Sequence[np.ndarray]) -> dict:
    """Compare ORT with PyTorch on random images and ``frames`` ((H, W, 3) uint8 RGB of any
    size, prepared as every backend prepares them); ``prop`` propagates each image's features
    from the previous image's with a random flow."""
    rng = np.random.default_rng(0)
    h, w = model.config.input_size
    preprocess = Preprocessor(model.config.input_size)
    images = [rng.uniform(0, 255, (1, 3, h, w)).astype(np.float32) for _ in range(2)]
    images += [preprocess(frame)[0] for frame in frames]
    sessions = {n: ort.InferenceSession(str(root / s.file), providers=["CPUExecutionProvider"])
                for n, s in specs.items()}
    worst = {"max_logit_diff": 0.0, "min_argmax_agreement": 1.0, "frames": len(images)}
    previous: tuple[torch.Tensor, torch.Tensor] | None = None
    with torch.no_grad():
        for image in images:
            x = torch.from_numpy(image)
            low_t = model.forward_low(x)
            deep_t = model.forward_high(low_t)
            grid_t = model.grid_logits(deep_t, low_t)
            logits_t = model.classify(deep_t, low_t).numpy()
            grid_t = grid_t.numpy()
            low_o = sessions["low"].run(None, {"image": image})[0]
            deep_o, logits_high = sessions["high"].run(None, {"low": low_t.numpy()})
            logits_full = sessions["full"].run(None, {"image": image})[0]
            diffs = [np.abs(low_o - low_t.numpy()).max(), np.abs(deep_o - deep_t.numpy()).max(),
                     np.abs(logits_high - grid_t).max(), np.abs(logits_full - logits_t).max()]
            agree = min((logits_high.argmax(1) == grid_t.argmax(1)).mean(),
                        (logits_full.argmax(1) == logits_t.argmax(1)).mean())
            if propagation is not None:
                key_low, key_deep = previous if previous is not None else (low_t, deep_t)
                diff, same = _prop_parity(model, propagation, sessions["prop"], rng,
                                          {"key_deep": key_deep, "key_low": key_low, "low": low_t})
                diffs.append(diff)
                agree = min(agree, same)
                previous = (low_t, deep_t)
            worst["max_logit_diff"] = max(worst["max_logit_diff"], float(max(diffs)))
            worst["min_argmax_agreement"] = min(worst["min_argmax_agreement"], float(agree))
    if worst["max_logit_diff"] > MAX_LOGIT_DIFF or worst["min_argmax_agreement"] < MIN_ARGMAX_AGREEMENT:
        raise ExportError(f"ONNX graphs do not match PyTorch (max |diff| {worst['max_logit_diff']:.2e}, "
                          f"argmax agreement {worst['min_argmax_agreement']:.4%}); "
                          "nothing was written — please report this with the checkpoint")
    return worst


def _prop_parity(model: PSPNet, propagation: Propagation, session: ort.InferenceSession,
                 rng: np.random.Generator, inputs: dict[str, torch.Tensor]) -> tuple[float, float]:
    """(max |logit difference|, argmax agreement) of the prop graph against PyTorch for
    ``inputs`` (key_deep, key_low, low), plus a random flow in the flow mode."""
    if "flow" in propagation.inputs:
        inputs = {**inputs, "flow": torch.from_numpy(
            rng.uniform(-4, 4, (1, 2, *model.config.low_size)).astype(np.float32))}
    expected = model.grid_logits(propagation(*(inputs[n] for n in propagation.inputs)),
                                 inputs["low"]).numpy()
    got = session.run(["logits"], {k: v.numpy() for k, v in inputs.items()})[0]
    return float(np.abs(got - expected).max()), float((got.argmax(1) == expected.argmax(1)).mean())


def class_table() -> list[dict]:
    """model.json "classes": the Cityscapes trainIds with labelId, name and colour."""
    return [{"train_id": c.train_id, "label_id": c.label_id, "name": c.name,
             "color": list(c.color)} for c in TRAIN_CLASSES]


def _manifest(model: PSPNet, specs: dict[str, GraphSpec], opset: int) -> dict:
    """What model.json says of the network itself: format, architecture, input, classes,
    graphs, opset and parameter count (the export adds parity, time, provenance, sha256)."""
    return {
        "format": BUNDLE_FORMAT,
        "vsseg_version": __version__,
        "architecture": model.config.to_json(),
        "input": {"height": model.config.input_size[0], "width": model.config.input_size[1],
                  "layout": "NCHW", "dtype": "float32", "range": "RGB 0..255",
                  "mean": list(model.config.mean), "std": list(model.config.std)},
        "classes": class_table(),
        "ignore_id": IGNORE_ID,
        "graphs": {n: s.to_json() for n, s in specs.items()},
        "onnx_opset": opset,
        "parameters": int(sum(v.numel() for v in model.inference_state_dict().values()
                              if v.is_floating_point())),
    }


def export_bundle(model: PSPNet, out_dir: str | Path, *, provenance: dict,
                  parity_frames: Sequence[np.ndarray] = (), opset: int = OPSET,
                  overwrite: bool = False, propagation: Propagation | None = None,
                  temporal: dict | None = None) -> Bundle:
    """Write and verify a bundle for ``model`` (moved to CPU, eval mode) at ``out_dir``.

    The bundle is assembled beside ``out_dir`` and moved into place only when every check
    passed. ``provenance`` goes into model.json as given (training command, data, time, ...).
    With a trained ``propagation`` the bundle also gets ``prop.onnx`` and its weights, and
    ``temporal`` (flow scale, default threshold, calibration; see ``train.propagation``) goes
    into model.json under "temporal".
    """
    if (propagation is None) != (temporal is None):
        raise ValueError("propagation and temporal go together: pass both or neither")
    if opset not in OPSETS:
        raise ConfigError(f"ONNX opset {opset} is not supported; choose {OPSETS.start}.."
                          f"{OPSETS.stop - 1} (default {OPSET})")
    model = model.cpu().eval()
    if propagation is not None:
        propagation = propagation.cpu().eval()
    specs = graph_specs(model, propagation)
    with staged_directory(out_dir, overwrite=overwrite) as staging:
        modules = graph_modules(model, propagation)
        for name, spec in specs.items():
            _export_graph(modules[name], spec, staging / spec.file, opset)
        torch.save(model.inference_state_dict(), staging / WEIGHTS)
        files = [spec.file for spec in specs.values()] + [WEIGHTS]
        if propagation is not None:
            torch.save(propagation.state_dict(), staging / PROPAGATION_WEIGHTS)
            files.append(PROPAGATION_WEIGHTS)
        parity = _parity(model, propagation, specs, staging, parity_frames)
        meta = {**_manifest(model, specs, opset), "parity": parity,
                "exported": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "provenance": provenance,
                **({"temporal": temporal} if temporal is not None else {}),
                "sha256": {f: sha256_file(staging / f) for f in files}}
        (staging / MANIFEST).write_text(json.dumps(meta, indent=2) + "\n")
    return Bundle.load(out_dir)
