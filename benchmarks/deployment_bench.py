"""Deployment-scale cost of the keyframe method: keyframes vs propagated frames, per stage, on the CPU.

Run from the repository root (the full configuration takes a while; see the progress on stderr):

    .venv/bin/python benchmarks/deployment_bench.py --json out/deployment_bench.json \
        > out/deployment_bench.md

A quick check of the script itself:

    .venv/bin/python benchmarks/deployment_bench.py --backbones resnet18 --sizes 256x512 --frames 6

What it measures. For each backbone, network input size (``ModelConfig.input_size``) and
propagation mode, a deployment-size PSPNet (width 1.0, output stride 8, pyramid bins (1, 2, 3, 6),
``--head-channels`` 512 as in PSPNet, a ``--decoder-channels`` 128 stride-4 decoder) is built
with random weights, with an untrained propagation module (costs do not depend on the weights),
exported to a temporary bundle (``export_bundle``, which checks ONNX/PyTorch parity on two random
images; its time is reported as ``export_s``), and run by ``VideoSegmenter`` with policy fixed:5
on ONNX Runtime's CPU provider (``--threads`` intra-op threads per graph) over ``--frames``
synthetic driving frames rendered at the network input size (so preprocessing does not resize).
After ``warmup()`` and two untimed frames, every frame is timed; the table gives the median
wall-clock ms of each stage of ``VideoResult.timings_ms`` separately for keyframes and
propagated frames, their ratio (propagated / keyframe total), and the GFLOPs of the graphs each
frame type runs (low + high, or low + prop; convolutions and matrix products only; DIS flow runs
in OpenCV and is not counted). One bundle and one ONNX Runtime session set exist at a time.
``--json`` keeps every number, per-frame timings included (rewritten after each configuration).
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import resource
import shlex
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch.utils.flop_counter import FlopCounterMode
from tqdm import tqdm

from vsseg_core.bundle import Bundle
from vsseg_core.export import export_bundle
from vsseg_core.importers import mmseg
from vsseg_core.machine import describe_machine
from vsseg_core.model.graphs import PROPAGATIONS as MODES
from vsseg_core.model.graphs import Propagation, build_propagation, graph_modules
from vsseg_core.model.pspnet import ModelConfig, PSPNet
from vsseg_core.runtime.onnxruntime_backend import OnnxRuntimeBackend
from vsseg_core.synth.config import SynthConfig, parse_size
from vsseg_core.synth.generator import iter_sequence
from vsseg_core.temporal.video import STAGES, VideoSegmenter

POLICY = "fixed:5"
KEYFRAME_INTERVAL = 5
"""Frames per keyframe of POLICY (one keyframe, then KEYFRAME_INTERVAL - 1 propagated)."""
FPS = 17.0
"""Frame rate of the synthetic sequence (as Cityscapes), Hz: the stamps are index / FPS s."""
SEED = 11
"""Seed of the synthetic driving sequence."""
UNTIMED_FRAMES = 2
"""Frames run after ``warmup()`` and before the timed ones (a keyframe and a propagated frame:
first-call costs of resizing and DIS flow stay out of the numbers)."""
PROPAGATIONS = tuple(MODES)
"""Propagation modes ``make_propagation`` builds."""
ARCHITECTURE = {"width": 1.0, "output_stride": 8, "bins": (1, 2, 3, 6)}
"""The deployment PSPNet apart from backbone, input size and head/decoder widths."""
HEAD_CHANNELS = 512
"""Channels of the 3x3 convolution after pyramid pooling, as in PSPNet."""
DECODER_CHANNELS = 128
"""Channels of the stride-4 decoder (low-level features projected to half of it)."""
TEMPORAL = {"flow_scale": 0.5, "max_interval": 30, "default_threshold": 1.0, "cut_deviation": 1e6,
            "note": "untrained propagation, for costs only"}
"""model.json "temporal" of the benchmark bundles: DIS at half the network input size, and no
scene cuts (random-weight features must not force keyframes); POLICY ignores the others."""
STAGE_COLUMNS = tuple(s for s in STAGES if s != "total")
LAYOUTS = ("vsseg", "mmseg")


def log(message: str) -> None:
    """A progress line on stderr."""
    print(message, file=sys.stderr, flush=True)


def deployment_config(backbone: str, size: tuple[int, int], *, head_channels: int = HEAD_CHANNELS,
                      decoder_channels: int = DECODER_CHANNELS, layout: str = "vsseg") -> ModelConfig:
    """The deployment PSPNet for ``backbone`` at network input ``size`` (H, W) pixels; layout
    "mmseg" is the network `vsseg import mmseg` builds for mmseg's ``pspnet_r*-d8`` config
    (deep stem, adaptive pooling, its own head widths, plain classifier; the width options do
    not apply)."""
    if layout == "mmseg":
        return mmseg.model_config(f"pspnet_r{backbone.removeprefix('resnet')}-d8", input_size=size)
    return ModelConfig(backbone=backbone, input_size=size, head_channels=head_channels,
                       decoder_channels=decoder_channels, aux_head=False, **ARCHITECTURE)


def make_propagation(model: PSPNet, mode: str = "flow") -> Propagation:
    """The untrained propagation module of ``mode`` for ``model`` (on the CPU, eval mode).

    "flow": Deep Feature Flow warping of the keyframe's deep features (1, head_channels,
    H/os, W/os) by DIS flow, with the fusion head (its last layer starts at zero: pure warping).
    "kernel": Low-Latency VSS's per-location 9 x 9 kernels predicted from both frames'
    low-level features (no flow), with the same fusion head. Raises ValueError for another mode."""
    if mode not in PROPAGATIONS:
        raise ValueError(f"unknown propagation mode {mode!r}; choose one of {', '.join(PROPAGATIONS)}")
    return build_propagation(model, mode).eval()


def temporal_block(mode: str) -> dict:
    """model.json "temporal" for a benchmark bundle of propagation ``mode``."""
    settings = {"propagation": {"mode": mode}}
    return {**TEMPORAL, **settings} if mode == "flow" else {
        **{k: v for k, v in TEMPORAL.items() if k != "flow_scale"}, **settings}


def _counted(fn) -> float:
    """GFLOPs of one call of ``fn`` (no gradients)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 1e9


def graph_gflops(model: PSPNet, propagation: torch.nn.Module, bundle: Bundle) -> dict[str, float]:
    """GFLOPs (2 x multiply-adds of convolutions and matrix products) of one call of each
    streaming graph, low, high and prop, as ``graph_modules`` defines it, on inputs of the
    shapes in ``bundle``'s specs.

    low and high are counted on a meta-device copy of the architecture (shapes only, no
    compute: a resnet50 keyframe at 1024x2048 would take a minute on the CPU); prop runs on the
    CPU on zero inputs, since grid_sample has no meta kernel (about a second at 1024x2048)."""
    with torch.device("meta"):
        meta = graph_modules(PSPNet(model.config))
    cpu = graph_modules(model, propagation)
    counts = {}
    for name, module, device in (("low", meta["low"], "meta"), ("high", meta["high"], "meta"),
                                 ("prop", cpu["prop"], "cpu")):
        inputs = [torch.zeros(shape, device=device) for shape in bundle.graph(name).inputs.values()]
        counts[name] = _counted(lambda: module(*inputs))
    return counts


def synthetic_frames(size: tuple[int, int], count: int) -> list[np.ndarray]:
    """``count`` synthetic driving frames, (H, W, 3) uint8 RGB at ``size`` = (H, W) pixels."""
    config = SynthConfig(sequences=1, frames=count, height=size[0], width=size[1], seed=SEED)
    return [item.rgb for item in tqdm(iter_sequence(config, 0), total=count,
                                      desc=f"synthetic frames {size[0]}x{size[1]}", unit="frame")]


def time_stream(bundle: Bundle, threads: int, frames: list[np.ndarray], desc: str) -> list[dict]:
    """Per timed frame: index, keyframe (bool) and ``timings_ms`` (ms per ``STAGES``) of
    ``VideoSegmenter.step`` with POLICY on ONNX Runtime CPU, after ``warmup()`` and
    UNTIMED_FRAMES frames (the stream is then reset, so frame 0 is the first keyframe)."""
    records = []
    with OnnxRuntimeBackend(bundle, device="cpu", intra_op_num_threads=threads) as backend, \
            VideoSegmenter(bundle, backend, POLICY) as segmenter:
        segmenter.warmup()
        for i, frame in enumerate(frames[:UNTIMED_FRAMES]):
            segmenter.step(frame, i / FPS)
        segmenter.reset()
        progress = tqdm(frames, desc=desc, unit="frame")
        for i, frame in enumerate(progress):
            result = segmenter.step(frame, i / FPS)
            records.append({"index": i, "keyframe": result.keyframe, "timings_ms": result.timings_ms})
            progress.set_postfix_str(f"{'key' if result.keyframe else 'prop'} "
                                     f"{result.timings_ms['total']:.0f} ms")
    return records


def summarize(records: list[dict]) -> dict:
    """Per frame type ("keyframe", "propagated"): frame count, mean total ms and median ms of
    every stage (``total`` included); ``ratio`` = propagated / keyframe median total; and
    ``cycle_mean_ms`` = (keyframe + (KEYFRAME_INTERVAL - 1) x propagated) / KEYFRAME_INTERVAL,
    the steady-state mean ms per frame of POLICY (None without both frame types)."""
    kinds = {}
    for kind, keyframe in (("keyframe", True), ("propagated", False)):
        timings = [r["timings_ms"] for r in records if r["keyframe"] == keyframe]
        if timings:
            kinds[kind] = {"frames": len(timings),
                           "mean_total_ms": statistics.fmean(t["total"] for t in timings),
                           "median_ms": {s: statistics.median(t[s] for t in timings) for s in STAGES}}
    if len(kinds) < 2:
        return {"kinds": kinds, "ratio": None, "cycle_mean_ms": None}
    key, prop = (kinds[k]["median_ms"]["total"] for k in ("keyframe", "propagated"))
    return {"kinds": kinds, "ratio": prop / key,
            "cycle_mean_ms": (key + (KEYFRAME_INTERVAL - 1) * prop) / KEYFRAME_INTERVAL}


def measure(config: ModelConfig, mode: str, frames: list[np.ndarray], threads: int) -> dict:
    """Export ``config`` with random weights and propagation ``mode`` into a temporary bundle,
    time it (``time_stream``) and delete it; returns the run's numbers (ms, s, GFLOPs)."""
    torch.manual_seed(0)
    size = "{}x{}".format(*config.input_size)
    model = PSPNet(config).eval()
    propagation = make_propagation(model, mode)
    run = {"backbone": config.backbone, "input_size": size, "propagation": mode,
           "parameters": sum(p.numel() for p in model.parameters())}
    with tempfile.TemporaryDirectory(prefix="vsseg-deployment-") as tmp:
        log(f"{config.backbone} {size} {mode}: exporting (parity check on 2 random images)")
        start = time.perf_counter()
        bundle = export_bundle(model, Path(tmp) / "bundle", provenance={"benchmark": "random weights"},
                               propagation=propagation, temporal=temporal_block(mode))
        run["export_s"] = time.perf_counter() - start
        run["gflops"] = graph_gflops(model, propagation, bundle)
        log(f"  exported in {run['export_s']:.1f} s; GFLOPs "
            + ", ".join(f"{k} {v:.1f}" for k, v in run["gflops"].items()))
        del model, propagation
        gc.collect()
        records = time_stream(bundle, threads, frames, f"{config.backbone} {size} {mode}")
    run.update(summarize(records), frames=records, peak_rss_gib=peak_rss_gib())
    log(f"  peak resident memory of this process so far: {run['peak_rss_gib']:.1f} GiB")
    return run


def peak_rss_gib() -> float:
    """The largest resident set size of this process so far, GiB (Linux: ru_maxrss is KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _ms(kind: dict, stage: str) -> str:
    """Median ms of ``stage`` for one frame type, as a table cell."""
    return f"{kind['median_ms'][stage]:.1f}"


def stage_table(runs: list[dict]) -> list[str]:
    """Markdown rows: per run and frame type, GFLOPs of its graphs and median ms per stage."""
    lines = ["| backbone | input | propagation | frame type | frames | GFLOPs | "
             + " | ".join(STAGE_COLUMNS) + " | total | ratio |", "|---" * (8 + len(STAGE_COLUMNS)) + "|"]
    for run in (r for r in runs if "kinds" in r):
        for kind, row in run["kinds"].items():
            graph = "high" if kind == "keyframe" else "prop"
            gflops = run["gflops"]["low"] + run["gflops"][graph]
            ratio = f"{run['ratio']:.3f}" if kind == "propagated" and run["ratio"] is not None else ""
            lines.append(f"| {run['backbone']} | {run['input_size']} | {run['propagation']} | {kind} | "
                         f"{row['frames']} | {gflops:.1f} | "
                         + " | ".join(_ms(row, s) for s in STAGE_COLUMNS)
                         + f" | **{_ms(row, 'total')}** | {ratio} |")
    return lines


def summary_table(runs: list[dict]) -> list[str]:
    """Markdown rows: per run, parameters, export time, keyframe/propagated totals and the
    steady-state mean of POLICY."""
    lines = [f"| backbone | input | propagation | parameters (M) | export s | keyframe ms | "
             f"propagated ms | ratio | {POLICY} mean ms | {POLICY} mean / keyframe |",
             "|---" * 10 + "|"]
    for run in runs:
        if run.get("cycle_mean_ms") is None:
            reason = run.get("failed", "not both frame types among the timed frames")
            lines.append(f"| {run['backbone']} | {run['input_size']} | {run['propagation']} | "
                         f"{reason} |" + " |" * 6)
            continue
        key, prop = (run["kinds"][k]["median_ms"]["total"] for k in ("keyframe", "propagated"))
        lines.append(f"| {run['backbone']} | {run['input_size']} | {run['propagation']} | "
                     f"{run['parameters'] / 1e6:.1f} | {run['export_s']:.0f} | {key:.1f} | {prop:.1f} | "
                     f"{run['ratio']:.3f} | {run['cycle_mean_ms']:.1f} | "
                     f"{run['cycle_mean_ms'] / key:.3f} |")
    return lines


def markdown(report: dict) -> str:
    """The report as a Markdown section (tables of ``stage_table`` and ``summary_table``)."""
    arch = report["architecture"]
    lines = [f"## Deployment-scale cost of the keyframe method ({report['date'][:10]})", "",
             f"Machine: {report['machine']}; ONNX Runtime {report['onnxruntime']} "
             f"(CPUExecutionProvider, {report['threads']} intra-op threads), torch {report['torch']}.", "",
             f"Command: `{report['command']}`", "",
             (f"PSPNet, width {arch['width']}, output stride {arch['output_stride']}, bins "
              f"{tuple(arch['bins'])}, head {arch['head_channels']} channels, stride-4 decoder "
              f"{arch['decoder_channels']} channels" if arch.get("layout", "vsseg") == "vsseg" else
              "The networks `vsseg import mmseg` builds for mmsegmentation's pspnet_r18-d8 / "
              "pspnet_r50-d8 configs (ResNetV1c deep stem, output stride 8, adaptive pyramid "
              "pooling, head 128 / 512 channels, plain classifier)")
             + "; random weights, untrained propagation module. "
             f"`VideoSegmenter`, policy {POLICY}, {report['frames']} synthetic driving frames at the "
             f"network input size after warm-up and {UNTIMED_FRAMES} untimed frames. Median ms per "
             "stage; ratio = propagated / keyframe total; GFLOPs of the network graphs the frame "
             "runs (low + high, or low + prop; DIS flow not counted).", ""]
    lines += stage_table(report["runs"]) + [""] + summary_table(report["runs"])
    return "\n".join(lines) + "\n"


def _csv(text: str) -> list[str]:
    """Items of a comma-separated option; ValueError for an empty item."""
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise ValueError(f"{text!r} has an empty item; give a comma-separated list")
    return items


def _checked(parser: argparse.ArgumentParser, option: str, build):
    """``build()``, or exit 2 with a one-line error naming ``option`` if it raises ValueError."""
    try:
        return build()
    except ValueError as exc:
        parser.error(f"{option}: {exc}")


def _parser() -> argparse.ArgumentParser:
    """The command line; ``parse_args`` validates what it parses."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbones", default="resnet18,resnet50",
                        help="comma-separated (default resnet18,resnet50)")
    parser.add_argument("--sizes", default="512x1024,1024x2048",
                        help="network input HxW, comma-separated, H:W = 1:2 (default 512x1024,1024x2048)")
    parser.add_argument("--frames", type=int, default=11, help="timed synthetic frames (default 11, >= 2)")
    parser.add_argument("--propagation", default="flow",
                        help=f"modes, comma-separated, of: {', '.join(PROPAGATIONS)} (default flow)")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="ONNX Runtime intra-op threads per graph (default: all cores)")
    parser.add_argument("--head-channels", type=int, default=HEAD_CHANNELS,
                        help=f"PSPNet head channels (default {HEAD_CHANNELS})")
    parser.add_argument("--decoder-channels", type=int, default=DECODER_CHANNELS,
                        help=f"stride-4 decoder channels (default {DECODER_CHANNELS}; "
                             "0 = plain PSPNet classifier)")
    parser.add_argument("--layout", choices=LAYOUTS, default="vsseg",
                        help="vsseg: the architecture above; mmseg: mmsegmentation's "
                             "pspnet_r*-d8 as `vsseg import mmseg` builds it (default %(default)s)")
    parser.add_argument("--json", type=Path, help="write every number here")
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Options, validated: exit 2 with a one-line error naming the bad option. ``backbones``
    and ``propagation`` become lists of names, ``sizes`` a list of (H, W) pixels."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.frames < 2:
        parser.error(f"--frames: {args.frames}; need >= 2 (a keyframe and a propagated frame)")
    if args.threads < 1:
        parser.error(f"--threads: {args.threads}; need >= 1")
    args.backbones = _checked(parser, "--backbones", lambda: _csv(args.backbones))
    sizes = _checked(parser, "--sizes", lambda: _csv(args.sizes))
    args.sizes = [_checked(parser, "--sizes", lambda: parse_size(text)) for text in sizes]
    args.propagation = _checked(parser, "--propagation", lambda: _csv(args.propagation))
    if unknown := [m for m in args.propagation if m not in PROPAGATIONS]:
        parser.error(f"--propagation: unknown mode {unknown[0]!r}; choose from {', '.join(PROPAGATIONS)}")
    widths = {"head_channels": args.head_channels, "decoder_channels": args.decoder_channels}
    with torch.device("meta"):  # architecture errors now, not after an hour of other runs
        for backbone in args.backbones:
            _checked(parser, "--backbones", lambda: PSPNet(deployment_config(
                backbone, (256, 512), layout=args.layout)))
        for size in args.sizes:
            _checked(parser, "--sizes", lambda: PSPNet(deployment_config("resnet18", size)))
        _checked(parser, "--head-channels/--decoder-channels",
                 lambda: PSPNet(deployment_config("resnet18", (256, 512), **widths)))
    return args


def main(argv: list[str] | None = None) -> int:
    """Run every (size, backbone, propagation) configuration; print the Markdown on stdout.
    Returns 1 if a configuration failed (the others are still reported), else 0."""
    args = parse_args(argv)
    command = shlex.join([".venv/bin/python", "benchmarks/deployment_bench.py",
                          *(sys.argv[1:] if argv is None else argv)])
    report = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
              "machine": describe_machine("cpu"), "onnxruntime": ort.__version__,
              "torch": torch.__version__, "command": command, "threads": args.threads,
              "policy": POLICY, "frames": args.frames, "untimed_frames": UNTIMED_FRAMES,
              "architecture": {**ARCHITECTURE, "head_channels": args.head_channels,
                               "decoder_channels": args.decoder_channels, "layout": args.layout},
              "runs": []}
    try:  # a path that cannot be written fails now, not after the first configuration
        write_json(args.json, report)
    except OSError as exc:
        print(f"deployment_bench.py: error: --json: cannot write {args.json} ({exc.strerror}); "
              "give a file in a writable folder", file=sys.stderr)
        return 2
    log(f"{report['machine']}; onnxruntime {ort.__version__}, {args.threads} threads")
    for size in args.sizes:
        frames = synthetic_frames(size, args.frames)
        for backbone in args.backbones:
            config = deployment_config(backbone, size, head_channels=args.head_channels,
                                       decoder_channels=args.decoder_channels, layout=args.layout)
            for mode in args.propagation:
                report["runs"].append(_measured(config, mode, frames, args.threads))
                write_json(args.json, report)
    print(markdown(report), end="", flush=True)
    return 1 if any("failed" in run for run in report["runs"]) else 0


def write_json(path: Path | None, report: dict) -> None:
    """Write ``report`` to ``path`` (creating its folder); nothing when ``path`` is None."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n")


def _measured(config: ModelConfig, mode: str, frames: list[np.ndarray], threads: int) -> dict:
    """``measure``, or the run's keys with ``failed`` (the reason) when it raised: a failure of
    one configuration must not lose the others' numbers."""
    try:
        return measure(config, mode, frames, threads)
    except Exception as exc:
        traceback.print_exc()
        return {"backbone": config.backbone, "input_size": "{}x{}".format(*config.input_size),
                "propagation": mode, "failed": f"{type(exc).__name__}: {exc}"}
    finally:
        gc.collect()


if __name__ == "__main__":
    sys.exit(main())
