"""Evaluate a keyframe policy on a Cityscapes-layout dataset: mIoU, temporal consistency,
keyframe ratio, latency (mean/p50/p95/p99, per frame type) and frames/s.

Every sequence is one stream (stamps index / fps). Synthetic data scores every frame; real
Cityscapes scores the annotated frame 19 of each snippet, streamed from the snippet's start.

example:
  vsseg eval --data data/synth_heldout --policy adaptive --json out/eval.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vsseg_core.bundle import Bundle
from vsseg_core.cli.args import (add_backend_arguments, open_backend, output_file_arg,
                                 policy_arg)
from vsseg_core.cli.output import write_json
from vsseg_core.errors import ConfigError
from vsseg_core.temporal.evaluate import evaluate_policy
from vsseg_core.temporal.report import policy_table, shortfall_notes

NAME = "eval"
HELP = "evaluate a keyframe policy: mIoU, TC, keyframe ratio, latency"


def add_stream_arguments(parser: argparse.ArgumentParser) -> None:
    """Options `vsseg eval` and `vsseg bench` share."""
    parser.add_argument("--data", required=True, type=Path, help="Cityscapes-layout root")
    parser.add_argument("--split", default="val", help="split to evaluate (default %(default)s)")
    parser.add_argument("--model", type=Path, metavar="BUNDLE",
                        help="model bundle (default: the shipped model)")
    add_backend_arguments(parser)
    parser.add_argument("--low-latency", action="store_true",
                        help="answer policy keyframes by propagation while a worker computes them")
    parser.add_argument("--max-sequences", type=int, metavar="N", help="only the first N sequences")
    parser.add_argument("--json", type=output_file_arg, metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_stream_arguments(parser)
    parser.add_argument("--policy", type=policy_arg, default="adaptive",
                        help="per_frame, fixed:K, adaptive[:T], budget:MS (default %(default)s)")


def check_stream_arguments(args: argparse.Namespace) -> None:
    if args.max_sequences is not None and args.max_sequences < 1:
        raise ConfigError(f"--max-sequences must be >= 1, got {args.max_sequences}")


def run(args: argparse.Namespace) -> int:
    check_stream_arguments(args)
    bundle = Bundle.load(args.model)
    with open_backend(args, bundle) as backend:
        record = evaluate_policy(args.data, args.split, bundle, backend, args.policy,
                                 low_latency=args.low_latency, max_sequences=args.max_sequences,
                                 progress=not args.quiet)
    print(policy_table([record]))
    by_type = record["latency_ms_by_type"]
    for kind, stats in by_type.items():
        if stats is not None:
            print(f"{kind:<10} latency ms: mean {stats['mean']:.1f}  p50 {stats['p50']:.1f}  "
                  f"p95 {stats['p95']:.1f}  p99 {stats['p99']:.1f}")
    print(f"{record['frames']} frames, {record['labelled_frames']} labelled, {record['backend']}, "
          f"{record['machine']}")
    if notes := shortfall_notes([record]):
        print(notes)
    write_json(args.json, record)
    return 0
