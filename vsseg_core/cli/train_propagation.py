"""Train the propagation of a bundle (flow mode: the fusion head; kernel mode: the kernel
predictor and fusion head) and add prop.onnx to it.

The segmentation network stays frozen. Pairs (keyframe, frame 1..--max-distance later) come
from video sequences. With --targets labels (default) the later frame is a labelled one: every
frame of `vsseg synth` output, frame 19 of each Cityscapes snippet (the Deep Feature Flow
protocol). --targets soft or hard train label-free, towards the network's own output, on any
video: a Cityscapes-layout root (leftImg8bit_sequence/), a folder of frames or a video file.
Afterwards the keyframe
rules are calibrated on --val-data (default: --data): the default `adaptive` threshold and the
scene-cut deviation, with the measurements they came from, go into model.json "temporal".
The bundle is rewritten atomically (with its provenance extended), or written to --out.

examples (how the shipped model's propagation was trained, see docs/benchmarks.md; then
label-free on an imported model, from a video of your own):
  vsseg train-propagation --data data/synth_train --val-data data/synth_heldout \\
      --model vsseg_core/default_model --out runs/os16_kernel --propagation kernel --iterations 800
  vsseg train-propagation --data drive.mp4 --targets hard --model bundles/r18 --propagation kernel
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from vsseg_core.bundle import DEFAULT_BUNDLE, Bundle
from vsseg_core.data.cityscapes import CityscapesDataset
from vsseg_core.data.sources import open_frames
from vsseg_core.errors import ConfigError
from vsseg_core.export import export_bundle, sample_frames
from vsseg_core.model.graphs import PROPAGATIONS
from vsseg_core.runtime.torch_backend import load_model, network_config
from vsseg_core.staging import check_output_directory
from vsseg_core.temporal.policy import DEFAULT_MAX_INTERVAL
from vsseg_core.train.keyframe_rules import DEFAULT_TARGET_DISAGREEMENT, calibrate
from vsseg_core.train.loop import data_description, machine_description
from vsseg_core.train.memory import keep_freed_memory
from vsseg_core.train.propagation import TARGETS, FrameCache, PropagationConfig, train_propagation

DEFAULT_MAX_FRAMES = 3000
"""Frames of a video or image folder held in memory for label-free training (about 1.2 GB at
256x512)."""

NAME = "train-propagation"
HELP = "train the propagation for non-keyframes (flow or kernel mode) and add prop.onnx to a bundle"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = PropagationConfig(data="")
    parser.add_argument("--data", required=True,
                        help="Cityscapes-layout root; with --targets soft/hard also a folder of "
                             "frames or a video file")
    parser.add_argument("--targets", default=d.targets, choices=TARGETS,
                        help="labels: ground truth of labelled frames; soft / hard: label-free, "
                             "the network's own probabilities / argmax on the frame "
                             "(default %(default)s)")
    parser.add_argument("--max-frames", type=int, default=DEFAULT_MAX_FRAMES,
                        help="video or folder --data: frames read (default %(default)s)")
    parser.add_argument("--split", default=d.split, help="training split (default %(default)s)")
    parser.add_argument("--val-data", help="calibration root (default: --data)")
    parser.add_argument("--val-split", default="val",
                        help="split of --val-data (default %(default)s; without --val-data, "
                             "calibration uses --data and --split)")
    parser.add_argument("--model", type=Path, default=None, metavar="BUNDLE",
                        help="bundle to extend (default: the shipped model)")
    parser.add_argument("--out", type=Path, metavar="BUNDLE",
                        help="write the extended bundle here instead of replacing --model")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    parser.add_argument("--iterations", type=int, default=d.iterations, help="default %(default)s")
    parser.add_argument("--batch-size", type=int, default=d.batch_size, help="default %(default)s")
    parser.add_argument("--max-distance", type=int, default=d.max_distance,
                        help="largest keyframe distance trained, frames (default %(default)s)")
    parser.add_argument("--propagation", default=d.mode, choices=sorted(PROPAGATIONS),
                        help="flow: DIS optical flow + warp (Deep Feature Flow); kernel: "
                             "per-location K x K kernels predicted from both frames' low-level "
                             "features, no flow (Low-Latency VSS) (default %(default)s)")
    parser.add_argument("--kernel-size", type=int, default=d.kernel_size,
                        help="kernel mode: K, odd 3..15, in deep-grid cells (reach K // 2 "
                             "cells: at output stride 8, 9 reaches 32 pixels; default %(default)s)")
    parser.add_argument("--flow-scale", type=float, default=d.flow_scale,
                        help="flow mode: DIS runs on the input downscaled by this (default %(default)s)")
    parser.add_argument("--lr", type=float, default=d.lr, help="default %(default)s")
    parser.add_argument("--target-disagreement", type=float, default=DEFAULT_TARGET_DISAGREEMENT,
                        help="pixel fraction where propagation may differ from the full network "
                             "at the default threshold (default %(default)s)")
    parser.add_argument("--seed", type=int, default=d.seed, help="default %(default)s")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    if not 0 < args.target_disagreement < 1:
        raise ConfigError(f"--target-disagreement must be in (0, 1), got {args.target_disagreement}")
    bundle = Bundle.load(args.model)
    network_config(bundle)  # refused now: graphs split from ONNX have no network to train with
    out = args.out if args.out is not None else bundle.root
    replace = out.resolve() == bundle.root.resolve()
    if not replace:  # refused now, not after the training
        check_output_directory(out, overwrite=args.overwrite)
    config = PropagationConfig(data=args.data, split=args.split, max_distance=args.max_distance,
                               iterations=args.iterations, batch_size=args.batch_size, lr=args.lr,
                               flow_scale=args.flow_scale, seed=args.seed, mode=args.propagation,
                               kernel_size=args.kernel_size, targets=args.targets)
    kind = open_frames(args.data).kind
    frames = training_frames(args, kind, bundle.input_size, labelled=not config.label_free)
    val_data, val_split = (args.val_data, args.val_split) if args.val_data else (args.data, args.split)
    calibration_frames = _calibration_frames(args, frames, bundle.input_size)
    model = load_model(bundle)
    keep_freed_memory()
    propagation, record = train_propagation(model, config, progress=not args.quiet, frames=frames)
    print(f"trained {config.mode} propagation: {config.iterations} iterations in "
          f"{record['training_seconds']:.0f} s, final loss {record['final_loss']:.3f}")
    flow = {"flow_scale": config.flow_scale} if config.mode == "flow" else {}
    temporal = {**flow, "max_interval": DEFAULT_MAX_INTERVAL, "propagation": config.options(),
                **calibrate(model, propagation, calibration_frames,
                            max_distance=config.max_distance, flow_scale=config.flow_scale,
                            target_disagreement=args.target_disagreement)}
    temporal["calibration"]["data"] = data_description(val_data)
    command = "vsseg " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else ""
    provenance = {**bundle.meta.get("provenance", {}), "propagation": {
        "command": command, **record, "machine": machine_description(next(model.parameters()).device),
        "data": data_description(args.data)}}
    if replace and bundle.root.resolve() == DEFAULT_BUNDLE.resolve() and args.model is None:
        print(f"updating the shipped model in {bundle.root}")
    result = export_bundle(model, out, provenance=provenance, propagation=propagation,
                           temporal=temporal, overwrite=replace or args.overwrite,
                           parity_frames=sample_frames(val_data, val_split)
                           if args.val_data or kind == "cityscapes" else ())
    cal = temporal["calibration"]
    print(f"calibrated on {cal['pairs']} frame pairs: default adaptive threshold "
          f"{temporal['default_threshold']:.3f}, scene-cut deviation {temporal['cut_deviation']}, "
          f"Spearman(deviation, disagreement) {cal['spearman_deviation_disagreement']:.2f}")
    for row in cal["by_distance"]:
        print(f"  distance {row['distance']:>2}: propagated mIoU {_percent(row['miou'])}  "
              f"disagreement {100 * row['disagreement_mean']:.1f}%  deviation "
              f"{row['deviation_mean']:.3f}")
    print(f"keyframe mIoU on the same frames {_percent(cal['keyframe_miou'])}; wrote {result.root}")
    return 0


def _calibration_frames(args: argparse.Namespace, frames: FrameCache, size: tuple[int, int]
                        ) -> FrameCache:
    """The sequences the keyframe rules are calibrated on: --val-data's split, else the
    training frames; ConfigError for fewer than two sequences."""
    calibration = frames if not args.val_data else FrameCache.from_dataset(
        CityscapesDataset(args.val_data, args.val_split), size, min_length=2, labelled=False)
    if len(calibration.sequences) < 2:
        raise ConfigError(f"{args.val_data or args.data} holds one sequence; calibrating the "
                          "keyframe rules needs two or more (the scene-cut rule compares frames "
                          "across sequences): pass --val-data with a Cityscapes-layout root of "
                          "several sequences")
    return calibration


def _percent(fraction: float | None) -> str:
    return "n/a (unlabelled)" if fraction is None else f"{100 * fraction:.1f}%"


def training_frames(args: argparse.Namespace, kind: str, size: tuple[int, int], *,
                    labelled: bool) -> FrameCache:
    """The training sequences of --data (a ``data.sources`` ``kind``): a Cityscapes-layout
    split, or (label-free only) the frames of a folder or video."""
    if kind == "cityscapes":
        return FrameCache.from_dataset(CityscapesDataset(args.data, args.split), size,
                                       min_length=2, labelled=labelled)
    if labelled:
        raise ConfigError(f"--data {args.data} is a {kind}, which has no labels; train "
                          "label-free with --targets hard, or pass a Cityscapes-layout root")
    if args.max_frames < 2:
        raise ConfigError(f"--max-frames must be >= 2, got {args.max_frames}")
    return FrameCache.from_frames(open_frames(args.data), size, min_length=2, source=str(args.data),
                                  max_frames=args.max_frames)
