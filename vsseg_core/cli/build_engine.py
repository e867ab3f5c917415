"""Build (or load) the TensorRT engines of a bundle ahead of time, optionally INT8-calibrated,
and check them against ONNX Runtime.

Engines are cached per graph, TensorRT version, GPU, precision and DLA core (see
vsseg_core/runtime/engine_cache.py); the node and every command load them from the same cache.
Do this once on the target (e.g. a Jetson before a drive): a build takes minutes there.

examples:
  vsseg build-engine --precision fp16
  vsseg build-engine --precision int8 --calib data/synth_train --calib-frames 64 --check
  vsseg build-engine --precision fp16 --cache /var/cache/vsseg --check --check-data recording.bag
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vsseg_core.bags.convert import DEFAULT_TOPIC
from vsseg_core.bundle import Bundle
from vsseg_core.cli.args import device_arg, output_file_arg
from vsseg_core.cli.output import write_json
from vsseg_core.errors import ConfigError
from vsseg_core.engine_check import compare_backends, record_graph_inputs, sample_clips
from vsseg_core.runtime.base import BackendError, resolve_device
from vsseg_core.runtime.engine_cache import CACHE_HELP, PRECISIONS, EngineOptions
from vsseg_core.runtime.factory import INSTALL_TENSORRT, tensorrt_unavailable
from vsseg_core.runtime.onnxruntime_backend import OnnxRuntimeBackend

NAME = "build-engine"
HELP = "build and cache TensorRT engines (fp32/fp16/int8), check them against ONNX Runtime"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, metavar="BUNDLE", help="default: the shipped model")
    parser.add_argument("--graphs", default="all",
                        help="comma-separated graphs to build (default: every graph of the bundle)")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp16", help="default %(default)s")
    parser.add_argument("--device", type=device_arg, default="cuda", metavar="DEVICE",
                        help="cuda or cuda:N (default %(default)s)")
    parser.add_argument("--cache", type=Path, metavar="DIR",
                        help=f"engine cache (default: {CACHE_HELP})")
    parser.add_argument("--calib", type=Path, metavar="DATA",
                        help="INT8 calibration frames: a Cityscapes-layout directory, image folder, "
                             "video or rosbag2 bag")
    parser.add_argument("--calib-frames", type=int, default=128, metavar="N",
                        help="frames to calibrate on, in clips of 4 (default %(default)s)")
    parser.add_argument("--topic", default=DEFAULT_TOPIC, help="image topic in a bag (default %(default)s)")
    parser.add_argument("--workspace-mb", type=int, default=EngineOptions.workspace_mb,
                        help="builder memory-pool limit in MiB (default %(default)s)")
    parser.add_argument("--dla-core", type=int, metavar="N", help="build for DLA core N (Jetson)")
    parser.add_argument("--force-rebuild", action="store_true",
                        help="rebuild (and recalibrate) even when a valid engine is cached")
    parser.add_argument("--check", action="store_true",
                        help="compare the engines with ONNX Runtime on real frames")
    parser.add_argument("--check-data", type=Path, metavar="DATA",
                        help="frames for --check (default: --calib; for int8 prefer other frames "
                             "than the calibration ones)")
    parser.add_argument("--check-frames", type=int, default=16, metavar="N",
                        help="frames for --check (default %(default)s)")
    parser.add_argument("--min-agreement", type=float, default=0.99,
                        help="--check fails (exit 1) below this argmax agreement (default %(default)s)")
    parser.add_argument("--json", type=output_file_arg, metavar="FILE", help="also write the report as JSON")
    parser.add_argument("--verbose", action="store_true", help="TensorRT's verbose log")


def _check_arguments(args: argparse.Namespace, graphs: tuple[str, ...]
                     ) -> tuple[tuple[str, ...], EngineOptions]:
    """The graphs to build and the engine options; ConfigError for anything wrong, before any
    slow work."""
    for option in ("calib_frames", "check_frames"):
        if getattr(args, option) < 1:
            raise ConfigError(f"--{option.replace('_', '-')} must be >= 1, got {getattr(args, option)}")
    try:
        options = EngineOptions(cache_dir=args.cache, workspace_mb=args.workspace_mb,
                                dla_core=args.dla_core, force_rebuild=args.force_rebuild)
    except BackendError as exc:
        raise ConfigError(f"{exc} (--workspace-mb, --dla-core)") from exc
    if not args.device.startswith("cuda"):  # device_arg checked the syntax
        raise ConfigError(f"--device {args.device!r}: TensorRT runs on cuda or cuda:N")
    if args.dla_core is not None and args.precision == "fp32":
        raise ConfigError("--dla-core needs --precision fp16 or int8 (DLA has no fp32)")
    if not 0 <= args.min_agreement <= 1:
        raise ConfigError(f"--min-agreement must be within 0..1, got {args.min_agreement}")
    if args.calib is not None and args.precision != "int8":
        raise ConfigError("--calib is for --precision int8 only")
    if args.precision == "int8" and args.force_rebuild and args.calib is None:
        raise ConfigError("--force-rebuild with --precision int8 recalibrates: pass --calib DATA")
    if args.check_data is not None and not args.check:
        raise ConfigError("--check-data is for --check; add --check")
    if args.check and args.check_data is None and args.calib is None:
        raise ConfigError("--check needs frames: pass --check-data DATA (a Cityscapes-layout "
                          "directory, image folder, video or bag)")
    for path in (args.calib, args.check_data):
        if path is not None and not path.exists():
            raise ConfigError(f"{path} does not exist")
    wanted = graphs if args.graphs == "all" else tuple(g.strip() for g in args.graphs.split(",") if g.strip())
    unknown = sorted(set(wanted) - set(graphs))
    if unknown or not wanted:
        raise ConfigError(f"--graphs {args.graphs}: the bundle has {', '.join(graphs)}")
    return wanted, options


def run(args: argparse.Namespace) -> int:
    """Build or load the engines of --graphs, print where they are, optionally check them;
    returns 1 when --check finds an argmax agreement below --min-agreement, else 0."""
    bundle = Bundle.load(args.model)
    graphs, options = _check_arguments(args, tuple(bundle.graphs))
    _require_tensorrt(args.device)
    report = _build_engines(args, bundle, graphs, options)
    code = _print_check(report["check"], args) if args.check else 0
    write_json(args.json, report)
    return code


def _require_tensorrt(device: str) -> None:
    """ConfigError unless TensorRT can run here on ``device`` (cuda or cuda:N)."""
    reason = tensorrt_unavailable()
    if reason is not None:
        raise ConfigError(f"TensorRT cannot run here: {reason}; {INSTALL_TENSORRT}")
    import torch

    resolve_device(device, cuda_available=True, backend="tensorrt",
                   device_count=torch.cuda.device_count())  # before the calibration recording


def _log(line: str) -> None:
    """A progress line on stderr, flushed at once (builds take minutes)."""
    print(line, file=sys.stderr, flush=True)


def _build_engines(args: argparse.Namespace, bundle: Bundle, graphs: tuple[str, ...],
                   options: EngineOptions) -> dict:
    """Record INT8 calibration inputs (--calib) with ONNX Runtime, build or load each graph's
    engine and, with --check, compare it with ONNX Runtime; returns the report (model,
    precision, device, cache, per-graph engine path and cache event, and the check)."""
    from vsseg_core.runtime.tensorrt_backend import TensorRTBackend

    with OnnxRuntimeBackend(bundle, device="cpu") as reference:
        calibration = None
        if args.calib is not None:
            _log(f"recording calibration inputs from {args.calib} ({args.calib_frames} frames)")
            calibration = record_graph_inputs(
                reference, sample_clips(args.calib, frames=args.calib_frames, topic=args.topic))
        with TensorRTBackend(bundle, device=args.device, precision=args.precision, engine=options,
                             calibration=calibration, log=_log, verbose=args.verbose) as engine:
            report: dict = {"model": str(bundle.root), "precision": engine.precision,
                            "device": engine.device, "cache": str(engine.cache.root), "graphs": {}}
            for graph in graphs:
                event = engine.prepare(graph)
                path = engine.cache.engine_path(engine.key(graph))
                report["graphs"][graph] = {"engine": str(path), "event": event}
                print(f"{graph}: {event} {path}")
            if args.check:
                data = args.check_data or args.calib
                recorded = record_graph_inputs(
                    reference, sample_clips(data, frames=args.check_frames, topic=args.topic))
                report["check"] = compare_backends(reference, engine, recorded, graphs)
    return report


def _print_check(check: dict, args: argparse.Namespace) -> int:
    """The --check table (per graph: samples, max abs diff, argmax agreement); returns 1 when
    an agreement is below --min-agreement (and says so on stderr), else 0."""
    print(f"\ncheck against ONNX Runtime (fp32, CPU) on {args.check_data or args.calib}:")
    print("| graph | samples | max abs diff | argmax agreement |\n|---|---|---|---|")
    code = 0
    for graph, row in check.items():
        agreement = row.get("argmax_agreement")
        shown = "–" if agreement is None else f"{agreement:.4%}"
        print(f"| {graph} | {row['samples']} | {row['max_abs_diff']:.4g} | {shown} |")
        if agreement is not None and agreement < args.min_agreement:
            code = 1
    if code:
        print(f"argmax agreement below --min-agreement {args.min_agreement}", file=sys.stderr)
    return code
