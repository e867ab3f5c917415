"""Segment images, a video or a Cityscapes-layout dataset with a model bundle, as a stream.

Frames run through the keyframe policy (--policy, default adaptive): keyframes through the full
network, other frames by propagating the keyframe's features (see `vsseg eval`). Each sequence
of a dataset is its own stream; a folder of images or a video is one stream.

For every frame writes, into --out:
  <stem>_labelTrainIds.png   trainIds, uint8 single channel (255 = ignore)
  <stem>_color.png           the labels in Cityscapes colours
  <stem>_confidence.png      largest softmax probability, uint8 (0..255 = 0..1)
and at the end summary.json: policy, keyframe ratio, latency per stage (mean and p95,
ms/frame) and mIoU over frames with ground-truth labels (Cityscapes layout, e.g. `vsseg synth`
output).

examples:
  vsseg segment --input data/synth --out out/seg
  vsseg segment --input drive.mp4 --out out/drive --policy fixed:5 --backend torch
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vsseg_core.bundle import Bundle
from vsseg_core.cli.args import add_backend_arguments, open_backend, png_arg, policy_arg
from vsseg_core.data.sources import FrameSource, open_frames
from vsseg_core.errors import VssegError
from vsseg_core.image_io import write_png, write_png_atomic
from vsseg_core.labels import CLASS_NAMES, colorize
from vsseg_core.runtime.processing import confidence_to_uint8
from vsseg_core.staging import staged_directory
from vsseg_core.temporal.evaluate import StreamScores
from vsseg_core.temporal.video import VideoResult, VideoSegmenter
from vsseg_core.visualize import contact_sheet, overlay

NAME = "segment"
HELP = "segment images, a video or a Cityscapes-layout dataset with a model bundle"
SUMMARY = "summary.json"
PREVIEW_FRAMES = 6


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, metavar="BUNDLE",
                        help="model bundle directory from `vsseg export` (default: the shipped model)")
    parser.add_argument("--input", required=True, type=Path, metavar="PATH",
                        help="Cityscapes-layout root, folder of images, video file or image file")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output directory")
    add_backend_arguments(parser)
    parser.add_argument("--policy", type=policy_arg,
                        help="keyframe policy: per_frame, fixed:K, adaptive[:T], budget:MS "
                             "(default adaptive with the bundle's calibrated threshold; per_frame "
                             "for a bundle without propagation)")
    parser.add_argument("--low-latency", action="store_true",
                        help="answer policy keyframes by propagation while their deep features "
                             "are computed in a worker thread")
    parser.add_argument("--preview", type=png_arg, metavar="FILE.png",
                        help=f"also write a contact sheet of {PREVIEW_FRAMES} frames: frame | prediction | "
                             "ground truth (or overlay when there is none)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a non-empty --out (its old files are removed)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _save(out: Path, stem: str, result: VideoResult) -> None:
    write_png(out / f"{stem}_labelTrainIds.png", result.labels)
    write_png(out / f"{stem}_color.png", colorize(result.labels))
    write_png(out / f"{stem}_confidence.png", confidence_to_uint8(result.confidence))


def _summary(segmenter: VideoSegmenter, scores: StreamScores) -> dict:
    """summary.json: the run's settings, keyframe ratio, {stage: {mean, p95}} ms and scores."""
    backend = segmenter.backend
    return {"frames": scores.frames, "backend": backend.name, "device": backend.device,
            "precision": backend.precision, "policy": segmenter.policy.spec,
            "low_latency": segmenter.low_latency,
            "keyframe_ratio": scores.keyframes / scores.frames,
            "latency_ms": scores.stage_latency(),
            "miou": scores.miou(), "labelled_frames": scores.labelled,
            "per_class_iou": scores.per_class_iou(),
            "predicted_without_ground_truth_px": {
                name: int(count) for name, count in
                zip(CLASS_NAMES, scores.confusion.predicted_without_ground_truth()) if count}}


def _table(summary: dict) -> str:
    lines = [f"frames: {summary['frames']}   backend: {summary['backend']}   "
             f"device: {summary['device']}   precision: {summary['precision']}",
             f"policy: {summary['policy']}   keyframes: {100 * summary['keyframe_ratio']:.1f}% "
             f"of frames   ms/frame: {summary['latency_ms']['total']['mean']:.1f}",
             f"{'stage':<12} {'mean ms':>9} {'p95 ms':>9}"]
    lines += [f"{stage:<12} {v['mean']:>9.2f} {v['p95']:>9.2f}"
              for stage, v in summary["latency_ms"].items()]
    if summary["miou"] is None:
        lines.append("mIoU: n/a (no labels)")
    else:
        scored = sum(v is not None for v in summary["per_class_iou"].values())
        lines.append(f"mIoU: {summary['miou'] * 100:.2f}% over {summary['labelled_frames']} "
                     f"labelled frames and {scored} classes")
        absent = summary["predicted_without_ground_truth_px"]
        if absent:
            lines.append(f"  {len(absent)} of them are not in these labels, only predicted, so they "
                         "score IoU 0 (Cityscapes convention): "
                         + ", ".join(f"{name} {count} px" for name, count in absent.items()))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """--out appears only when every frame is written (``staged_directory``): a failure part-way
    leaves no output, and any earlier --out untouched."""
    with staged_directory(args.out, overwrite=args.overwrite) as staging:
        summary, shown = _segment(args, staging)
    print(_table(summary))
    print(f"wrote {summary['frames']} frames to {args.out}")
    if shown:
        write_png_atomic(args.preview, contact_sheet(shown))
        print(f"preview: {args.preview}")
    return 0


def _default_policy(bundle: Bundle) -> str:
    """adaptive, or per_frame (said on stdout) for a bundle without propagation."""
    if bundle.temporal is not None:
        return "adaptive"
    print(f"{bundle.root} has no propagation graph: every frame is a keyframe "
          "(`vsseg train-propagation` adds it)")
    return "per_frame"


def _segment(args: argparse.Namespace, out: Path) -> tuple[dict, list[tuple[str, list[np.ndarray]]]]:
    """Segment every input frame into ``out``; returns the summary (also written as summary.json)
    and the preview rows."""
    source = open_frames(args.input)
    bundle = Bundle.load(args.model)
    policy = args.policy or _default_policy(bundle)
    with open_backend(args, bundle) as backend, \
            VideoSegmenter(bundle, backend, policy, low_latency=args.low_latency,
                           restart_on_resize=True) as segmenter:
        segmenter.warmup()
        with tqdm(total=len(source), unit="frame", disable=args.quiet, desc="vsseg segment",
                  mininterval=1.0) as bar:
            scores, shown = _segment_frames(args, source, segmenter, out, bar)
    if not scores.frames:
        raise VssegError(f"input {args.input} produced no frames; check the path")
    summary = _summary(segmenter, scores)
    (out / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
    return summary, shown


def _segment_frames(args: argparse.Namespace, source: FrameSource, segmenter: VideoSegmenter,
                    out: Path, bar: tqdm) -> tuple[StreamScores, list[tuple[str, list[np.ndarray]]]]:
    """Stream ``source`` (each sequence a stream, stamps index / fps), write each frame's PNGs
    into ``out``; returns the scores and the preview rows (``PREVIEW_FRAMES`` spread evenly)."""
    picks = set(np.linspace(0, max(0, len(source) - 1), PREVIEW_FRAMES).round().astype(int).tolist())
    scores, shown, stems = StreamScores(), [], set()
    sequence, position = None, 0
    for frame in source:
        if frame.stem in stems:
            raise VssegError(f"two input frames are named {frame.stem!r}; rename one so "
                             "their outputs do not overwrite each other")
        stems.add(frame.stem)
        if frame.sequence != sequence:
            segmenter.reset()
            sequence, position = frame.sequence, 0
        result = segmenter.step(frame.rgb, position / source.fps)
        position += 1
        _save(out, frame.stem, result)
        scores.add(None, result.labels, frame.labels, keyframe=result.keyframe,
                   reason=result.reason, propagated=result.served_by == "propagation",
                   timings_ms=result.timings_ms)
        if args.preview is not None and frame.index in picks:
            truth = colorize(frame.labels) if frame.labels is not None else overlay(frame.rgb, result.labels)
            shown.append((frame.stem, [frame.rgb, colorize(result.labels), truth]))
        bar.update(1)
    return scores, shown
