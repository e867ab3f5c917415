"""Latency of the model graphs per backend, pre/post-processing, size, parameters and GFLOPs.

Run: ``.venv/bin/python benchmarks/model_bench.py [--model BUNDLE] [--runs N]``
(default: the shipped model). Prints a Markdown section for docs/benchmarks.md.

Graphs run at the bundle's input size; "1024x2048 input" rows time pre/post-processing of a
full-resolution camera frame. The last table exports the same architecture (random weights)
for a 1024x2048 network input, to show what full-resolution inference would cost.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from vsseg_core.bundle import Bundle
from vsseg_core.export import export_bundle
from vsseg_core.model.pspnet import PSPNet
from vsseg_core.runtime.factory import create_backend
from vsseg_core.runtime.processing import Preprocessor, postprocess
from vsseg_core.runtime.torch_backend import load_model


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """(median, p95) milliseconds of ``fn`` over ``runs`` calls after two warm-up calls."""
    fn(), fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return float(np.median(samples)), float(np.percentile(samples, 95))


def gflops(model: PSPNet) -> dict[str, float]:
    """GFLOPs (2 x multiply-adds) of low, high (+ classifier) and full for one frame."""
    h, w = model.config.input_size
    image = torch.zeros(1, 3, h, w)
    out = {}
    with torch.no_grad():
        low = model.forward_low(image)
        for name, fn in (("low", lambda: model.forward_low(image)),
                         ("high", lambda: model.classify(model.forward_high(low), low)),
                         ("full", lambda: model(image))):
            with FlopCounterMode(display=False) as counter:
                fn()
            out[name] = counter.get_total_flops() / 1e9
    return out


def graph_rows(bundle: Bundle, runs: int) -> list[str]:
    rows = []
    rng = np.random.default_rng(0)
    inputs = {name: {k: rng.uniform(0, 255, s).astype(np.float32) for k, s in spec.inputs.items()}
              for name, spec in bundle.graphs.items()}
    for backend_name in ("torch", "onnxruntime"):
        with create_backend(backend_name, bundle, device="cpu") as backend:
            for graph in ("low", "high", "full"):
                med, p95 = timed(lambda: backend.run(graph, inputs[graph]), runs)
                rows.append(f"| {backend.name} ({backend.device}, {backend.precision}) | {graph} | "
                            f"{bundle.input_size[0]}x{bundle.input_size[1]} | {med:.1f} | {p95:.1f} |")
    return rows


def processing_rows(bundle: Bundle, runs: int) -> list[str]:
    rows = []
    pre = Preprocessor(bundle.input_size)
    logits = np.random.default_rng(0).normal(size=(1, bundle.config.num_classes, *bundle.input_size)).astype(np.float32)
    for h, w in (bundle.input_size, (1024, 2048)):
        frame = np.random.default_rng(1).integers(0, 255, (h, w, 3), dtype=np.uint8)
        geometry = pre(frame)[1]
        for stage, fn in (("preprocess", lambda: pre(frame)), ("postprocess", lambda: postprocess(logits, geometry))):
            med, p95 = timed(fn, runs)
            rows.append(f"| {stage} | {h}x{w} | {med:.1f} | {p95:.1f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, help="bundle (default: the shipped model)")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    bundle = Bundle.load(args.model)
    model = load_model(bundle)
    size_mb = sum(p.stat().st_size for p in bundle.root.iterdir()) / 1e6
    params = sum(v.numel() for v in model.state_dict().values() if v.is_floating_point())
    print(f"## Model latency ({datetime.date.today()}, {platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads)\n")
    arch = bundle.config
    decoder = f", stride-4 decoder {arch.decoder_channels}" if arch.decoder_channels else ""
    print(f"Bundle `{bundle.root.name}`: {arch.backbone} x{arch.width}, output stride "
          f"{arch.output_stride}{decoder}, input {arch.input_size[0]}x{arch.input_size[1]}; "
          f"{params / 1e6:.2f} M parameters; {size_mb:.1f} MB on disk.\n")
    flops = gflops(model)
    print("| GFLOPs per frame | low | high + classify | full |\n|---|---|---|---|")
    print(f"| {arch.input_size[0]}x{arch.input_size[1]} | {flops['low']:.2f} | {flops['high']:.2f} | {flops['full']:.2f} |")
    full_res = PSPNet(dataclasses.replace(arch, input_size=(1024, 2048))).eval()
    big = gflops(full_res)
    print(f"| 1024x2048 (same architecture) | {big['low']:.2f} | {big['high']:.2f} | {big['full']:.2f} |\n")
    print(f"Runs: median and p95 of {args.runs} calls after 2 warm-ups, batch 1.\n")
    print("| backend | graph | network input | median ms | p95 ms |\n|---|---|---|---|---|")
    for row in graph_rows(bundle, args.runs):
        print(row, flush=True)
    print("\n| stage | camera frame | median ms | p95 ms |\n|---|---|---|---|")
    for row in processing_rows(bundle, args.runs):
        print(row, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        big_bundle = export_bundle(full_res, Path(tmp) / "b", provenance={"benchmark": "random weights"})
        print("\nSame architecture exported for a 1024x2048 network input (random weights):\n")
        print("| backend | graph | network input | median ms | p95 ms |\n|---|---|---|---|---|")
        for row in graph_rows(big_bundle, max(3, args.runs // 6)):
            print(row, flush=True)


if __name__ == "__main__":
    main()
